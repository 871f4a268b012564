"""Fetching an image by its URL, sans-IO: Azure takes image bytes (base64) or an Azure
blob URL, not any http(s) URL, so the flow GETs the image first and the core's driver
sends that request like any other (the provider's timeout, capped by the check's
deadline).

Bounded at ``MAX_IMAGE_BYTES`` (the vendor's 4 MB): the request asks for at most one
byte more (``Range``), and the answer is refused by its ``Content-Length``, its
``Content-Range`` total or its body, whichever shows the size first. The driver reads
the whole body before the flow sees it, so a host that ignores ``Range`` and lies about
its length costs one read of what it sends within the timeout; it is refused all the
same. Messages name the host only: an image URL may carry a signed token.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Final

import httpx

from moderation_core import InvalidContent, ProviderUnavailable

__all__ = ["IMAGE_FORMATS", "MAX_IMAGE_BYTES", "MAX_REDIRECTS", "fetch_image", "image_format"]

MAX_IMAGE_BYTES: Final = 4 * 1024 * 1024  # the spec's ImageData limit (CONTRACTS 3.4)
MAX_REDIRECTS: Final = 3
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_TOTAL: Final = re.compile(r"bytes\s+\d+-\d+/(\d+)\s*$", re.ASCII)

# The formats the service takes (overview, input requirements), by their first bytes.
IMAGE_FORMATS: Final = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
_SIGNATURES: Final = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def image_format(data: bytes) -> str | None:
    """The image format ``data`` starts with, among those the service takes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)


def fetch_image(url: str) -> Generator[httpx.Request, httpx.Response, bytes]:
    """The image's bytes, following at most ``MAX_REDIRECTS`` redirects: an
    InvalidContent for an image that is missing, too large or not an image; a
    ProviderUnavailable when its host is failing for now."""
    for _ in range(MAX_REDIRECTS + 1):
        response = yield httpx.Request(
            "GET",
            url,
            headers={
                "Accept": "image/*",
                # One byte over the limit tells "fits" from "too large" without the rest.
                "Range": f"bytes=0-{MAX_IMAGE_BYTES}",
                # Images are compressed already; a compressed answer could inflate past
                # any limit while it is read.
                "Accept-Encoding": "identity",
            },
        )
        if response.status_code not in _REDIRECTS:
            return _image(response)
        url = _redirected(url, response)
    raise InvalidContent(
        f"the image at {_host(url)} redirects more than {MAX_REDIRECTS} times"
    ) from None


def _host(url: str | httpx.URL) -> str:
    try:
        return httpx.URL(url).host or "its host"
    except (httpx.InvalidURL, TypeError, ValueError):
        return "its host"


def _redirected(url: str, response: httpx.Response) -> str:
    location = response.headers.get("Location", "").strip()
    try:
        target = httpx.URL(url).join(location) if location else None
    except (httpx.InvalidURL, TypeError, ValueError):
        target = None
    if target is None or target.scheme not in ("http", "https") or not target.host:
        raise InvalidContent(f"the image at {_host(url)} redirects to no usable http(s) URL")
    return str(target)


def _image(response: httpx.Response) -> bytes:
    host = _host(response.request.url)
    status = response.status_code
    if status in {408, 429} or status >= 500:
        # The image host, not Azure, is failing: worth another try later.
        raise ProviderUnavailable(
            f"the image host {host} answered HTTP {status}", code="image_host"
        )
    if status == 416:  # a range of an empty file
        raise InvalidContent(f"the image at {host} is empty")
    if status not in (200, 206):
        raise InvalidContent(f"the image at {host} could not be fetched (HTTP {status})")
    declared = _declared_size(response)
    if declared is not None and declared > MAX_IMAGE_BYTES:
        raise _too_large(host)
    data = response.content
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_large(host)
    if not data:
        raise InvalidContent(f"the image at {host} is empty")
    if image_format(data) is None:
        raise InvalidContent(
            f"the file at {host} is not an image Azure takes ({', '.join(IMAGE_FORMATS)})"
        )
    return data


def _declared_size(response: httpx.Response) -> int | None:
    """The size the answer declares: the whole file's for a range (Content-Range),
    else the body's (Content-Length); None when it declares none that reads."""
    match = _TOTAL.search(response.headers.get("Content-Range", ""))
    value = (match.group(1) if match else response.headers.get("Content-Length", "")).strip()
    # A length of thousands of digits is no length (and too long for int() to read).
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 20 else None


def _too_large(host: str) -> InvalidContent:
    return InvalidContent(
        f"the image at {host} is over Azure's 4 MB limit ({MAX_IMAGE_BYTES} bytes)"
    )
