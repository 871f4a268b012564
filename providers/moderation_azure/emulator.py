"""A fake Azure AI Content Safety (``POST {endpoint}/contentsafety/text:analyze`` and
``/image:analyze``) for tests, cassettes, demos and benchmarks.

``make_emulator(**options)`` returns a thread-safe callable from ``httpx.Request`` to
``httpx.Response``: pass it to ``httpx.MockTransport``, or serve it over HTTP with
``moderation_core.testing.serve`` / ``moderation emulate azure_content_safety --port
N`` (the official SDK talks to it with ``endpoint="http://127.0.0.1:N"``).

It checks what the service checks: the ``Ocp-Apim-Subscription-Key`` (a wrong or
missing key gets the gateway's 401 "Access denied" body), a supported ``api-version``
(missing or unknown: 404 "Resource not found", the emulator's choice: the vendor does
not document it), a JSON body, ``text`` of 1 to 10,000 code points, categories,
``outputType`` (images: four levels only), blocklist names it knows, an image given
as ``content`` or ``blobUrl`` but not both, at most 4 MB, in a format the service
takes (a PNG's size within 50-2048 px). Every error carries ``x-ms-error-code``.

It answers from content rules (``RULES``, ``IMAGE_RULES``) covering every category,
on the eight-level scale (four levels: {0,1}->0, {2,3}->2, {4,5}->4, {6,7}->6), matches
its blocklists (``DEFAULT_BLOCKLISTS``; case-insensitive, literal) honouring
``haltOnBlocklistHit`` (a hit skips the harm analysis: ``categoriesAnalysis`` comes
back empty, the emulator's reading of "harm analysis is skipped"), and reproduces both
official examples (``OFFICIAL_TEXT_EXAMPLE``, ``OFFICIAL_IMAGE_EXAMPLE``) word for word.

It plays the image host too: a GET to any path outside ``/contentsafety`` answers a
small PNG that carries the URL's path in a text chunk (so ``/nsfw.png`` is judged by
``IMAGE_RULES``), honouring ``Range``; ``?bytes=N`` pads it to N bytes, and a path
holding ``missing`` is a 404.

It can be told to misbehave: the ``fault`` option (every request), ``inject()`` (the
next N) or a ``[[fault:NAME]]`` marker in a text or an image (names in ``FAULTS``);
``[[severity:Hate=5]]`` in a text sets one category's severity (eight-level scale).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
import threading
import time
import urllib.parse
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs
import httpx

from moderation_core.testing import (
    FaultQueue,
    FixedWindow,
    choice_option,
    float_option,
    parse_options,
)

__all__ = [
    "API_VERSIONS",
    "DEFAULT_BLOCKLISTS",
    "DEMO_API_KEY",
    "FAULTS",
    "IMAGE_RULES",
    "OFFICIAL_IMAGE_EXAMPLE",
    "OFFICIAL_IMAGE_REQUEST",
    "OFFICIAL_TEXT_EXAMPLE",
    "OFFICIAL_TEXT_REQUEST",
    "RULES",
    "AzureEmulator",
    "Rule",
    "make_emulator",
    "make_png",
]

# The emulator's own key; `moderation emulate azure_content_safety --set api_key=...`
# changes it. A demo value in the shape of a resource key, not anyone's.
DEMO_API_KEY: Final = "0e1a2b3c4d5e6f708192a3b4c5d6e7f8"
API_VERSIONS: Final = ("2023-10-01", "2024-09-01")  # the GA versions (CONTRACTS 3.1)
CATEGORIES: Final = ("Hate", "SelfHarm", "Sexual", "Violence")
OUTPUT_TYPES: Final = ("FourSeverityLevels", "EightSeverityLevels")
MAX_TEXT_CHARS: Final = 10_000
MAX_IMAGE_BYTES: Final = 4 * 1024 * 1024
IMAGE_PX: Final = (50, 2048)
# Blocklists the emulator knows, with their items; the spec's examples name
# "TestBlocklist".
DEFAULT_BLOCKLISTS: Final[Mapping[str, tuple[str, ...]]] = {
    "TestBlocklist": ("blocked-term", "spam-link.example"),
    "Profanity": ("darn it", "heck"),
}

FAULTS: Final[Mapping[str, str]] = {
    "auth": "HTTP 401, the gateway's 'Access denied' body",
    "rate_limit": "HTTP 429 TooManyRequests with Retry-After",
    "internal": "HTTP 500 InternalError",
    "busy": "HTTP 503 ServerBusy",
    "invalid": "HTTP 400 InvalidRequestBody",
    "not_found": "HTTP 404 ResourceNotFound",
    "502": "HTTP 502 Bad Gateway (an HTML page, as from a proxy)",
    "garbage": "HTTP 200 whose body is not JSON",
    "truncated": "HTTP 200 with the JSON answer cut short",
    "empty": "HTTP 200 with {} (no categoriesAnalysis)",
    "no_severity": "HTTP 200 whose categories carry no severity",
    "slow": "the answer only after slow_seconds (default 5): a client timeout",
}

GATEWAY_401: Final = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)

_FAULT_MARKER = re.compile(r"\[\[fault:([a-z0-9_]+)\]\]")
_SEVERITY_MARKER = re.compile(r"\[\[severity:([A-Za-z]+)=([0-7])\]\]")
_PNG = b"\x89PNG\r\n\x1a\n"


@attrs.frozen
class Rule:
    """A text (or image) holding any trigger, in any case, gets ``severity`` (eight-
    level scale) in ``category``; every matching rule counts, the highest wins."""

    category: str
    severity: int
    triggers: tuple[str, ...]


RULES: Final[tuple[Rule, ...]] = (
    Rule("Hate", 6, ("hate-test", "subhuman")),
    Rule("Hate", 5, ("vermin",)),
    Rule("Hate", 4, ("傻逼",)),
    Rule("Hate", 3, ("idiot", "stupid")),  # low: REVIEW with the defaults
    Rule("SelfHarm", 6, ("kill myself", "self-harm-test")),
    Rule("SelfHarm", 4, ("hurt myself",)),
    Rule("Sexual", 6, ("porn", "色情", "sexual-test")),
    Rule("Sexual", 5, ("nude",)),
    Rule("Sexual", 2, ("sexy",)),  # low: SEXY, REVIEW with the defaults
    Rule("Violence", 6, ("kill them", "violence-test", "gore")),
    Rule("Violence", 3, ("punch",)),
)
IMAGE_RULES: Final[tuple[Rule, ...]] = (
    Rule("Sexual", 6, ("nsfw", "porn", "nude")),
    Rule("Sexual", 2, ("sexy", "bikini")),
    Rule("Violence", 6, ("gore",)),
    Rule("Violence", 4, ("weapon", "violence")),
    Rule("SelfHarm", 4, ("selfharm", "self-harm")),
    Rule("Hate", 6, ("hate-symbol",)),
)

# The spec's examples (2024-09-01 examples/AnalyzeText.json and AnalyzeImage.json).
OFFICIAL_TEXT_REQUEST: Final[Mapping[str, Any]] = {
    "text": "This is text example",
    "categories": ["Hate", "SelfHarm", "Sexual", "Violence"],
    "blocklistNames": ["TestBlocklist"],
    "haltOnBlocklistHit": False,
    "outputType": "FourSeverityLevels",
}
OFFICIAL_TEXT_EXAMPLE: Final[Mapping[str, Any]] = {
    "blocklistsMatch": [],
    "categoriesAnalysis": [
        {"category": "Hate", "severity": 0},
        {"category": "SelfHarm", "severity": 0},
        {"category": "Sexual", "severity": 0},
        {"category": "Violence", "severity": 0},
    ],
}
OFFICIAL_IMAGE_REQUEST: Final[Mapping[str, Any]] = {"image": {"content": "Y29udGVudDE="}}
OFFICIAL_IMAGE_EXAMPLE: Final[Mapping[str, Any]] = {
    "categoriesAnalysis": [
        {"category": "Hate", "severity": 0},
        {"category": "SelfHarm", "severity": 0},
        {"category": "Sexual", "severity": 0},
        {"category": "Violence", "severity": 2},
    ]
}
_OFFICIAL_IMAGE_BYTES = base64.b64decode(OFFICIAL_IMAGE_REQUEST["image"]["content"])


def make_png(comment: str, *, size: int = 64, pad_to: int = 0) -> bytes:
    """A valid grey ``size`` x ``size`` PNG carrying ``comment`` in a tEXt chunk, padded
    with a private chunk to at least ``pad_to`` bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = b"".join(b"\x00" + b"\x80" * size for _ in range(size))
    text = b"Comment\x00" + comment.encode("latin-1", "replace")
    body = chunk(b"IHDR", header) + chunk(b"tEXt", text) + chunk(b"IDAT", zlib.compress(rows))
    short = pad_to - (len(_PNG) + len(body) + 12 + 12)
    if short > 0:
        body += chunk(b"pdNg", b"\x00" * short)
    return _PNG + body + chunk(b"IEND", b"")


class _Refusal(Exception):
    """A request the service refuses: the status, code and message of its answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"code": code, "message": message}},
        headers={"x-ms-error-code": code, **_ids(), **(headers or {})},
    )


def _ids() -> dict[str, str]:
    return {"apim-request-id": str(uuid.uuid4())}


def _answer(body: Mapping[str, Any]) -> httpx.Response:
    return httpx.Response(
        200,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **_ids()},
    )


class AzureEmulator:
    """The emulator; see the module docstring. For tests: ``requests`` (how many
    analyses arrived), ``fetches`` (image GETs), ``inject()``."""

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        blocklists: Mapping[str, Sequence[str]] | None = None,
        rate_limit: int | None = None,
        fault: str | None = None,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        retry_after: float | None = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_key = api_key
        source = DEFAULT_BLOCKLISTS if blocklists is None else blocklists
        self.blocklists = {name: tuple(items) for name, items in source.items()}
        self.fault = _as_fault(fault)
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.clock = clock
        self.sleep = sleep
        self.requests = 0
        self.fetches = 0
        self._window = FixedWindow(rate_limit, seconds=10)
        self._lock = threading.Lock()
        self._faults = FaultQueue(FAULTS)

    def __repr__(self) -> str:
        return "<AzureEmulator /contentsafety>"

    def inject(self, fault: str, times: int = 1) -> None:
        """Answer the next ``times`` analyses with ``fault``."""
        self._faults.inject(fault, times)

    # -- the service --------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            self.sleep(self.latency)
        path = request.url.path
        if request.method == "GET" and not path.startswith("/contentsafety/"):
            return self._image_host(request)
        operation = path.removeprefix("/contentsafety/")
        if request.method != "POST" or operation not in ("text:analyze", "image:analyze"):
            return _error(404, "404", "Resource not found")
        with self._lock:
            self.requests += 1
        if request.headers.get("Ocp-Apim-Subscription-Key") != self._api_key:
            return _error(401, "401", GATEWAY_401)
        if request.url.params.get("api-version") not in API_VERSIONS:
            return _error(404, "404", "Resource not found")
        body = _read_json(request)
        fault = self._take_fault(_marker(body))
        if fault is not None:
            forced = self._fault_response(fault)
            if forced is not None:
                return forced
        admitted, wait = self._admit()
        if not admitted:
            return self._rate_limited(wait)
        try:
            if body is None:
                raise _Refusal(400, "InvalidRequestBody", "The request body is not valid JSON.")
            if operation == "text:analyze":
                return _answer(self._analyze_text(body))
            return _answer(self._analyze_image(body))
        except _Refusal as refusal:
            return _error(refusal.status, refusal.code, refusal.message)

    def _take_fault(self, marker: str | None) -> str | None:
        return self._faults.take(marker, self.fault)

    def _admit(self) -> tuple[bool, float]:
        with self._lock:
            now = self.clock()
            return self._window.admit(now), self._window.reset_in(now)

    def _rate_limited(self, wait: float | None = None) -> httpx.Response:
        headers: dict[str, str] = {}
        after = self.retry_after if wait is None else wait
        if after is not None:
            headers["Retry-After"] = str(math.ceil(after))
        return _error(
            429,
            "TooManyRequests",
            "Rate limit is exceeded. Try again later. The current RPS has exceeded the quota "
            "for your current SKU.",
            headers,
        )

    def _fault_response(self, fault: str) -> httpx.Response | None:
        """The answer a fault forces, or None when the request goes on (``slow``)."""
        answers: Mapping[str, Callable[[], httpx.Response]] = {
            "auth": lambda: _error(401, "401", GATEWAY_401),
            "rate_limit": lambda: self._rate_limited(None),
            "internal": lambda: _error(
                500, "InternalError", "An internal error occurred. Retry after a while."
            ),
            "busy": lambda: _error(
                503, "ServerBusy", "The server is busy. Retry after a small period."
            ),
            "invalid": lambda: _error(400, "InvalidRequestBody", "The request body is invalid."),
            "not_found": lambda: _error(404, "ResourceNotFound", "The resource was not found."),
            "502": lambda: httpx.Response(
                502,
                text="<html><head><title>502 Bad Gateway</title></head></html>",
                headers={"Content-Type": "text/html"},
            ),
            "garbage": lambda: httpx.Response(200, text="<html>upstream connect error</html>"),
            "truncated": lambda: httpx.Response(
                200,
                content=b'{"blocklistsMatch":[],"categoriesAnalysis":[{"category":"Ha',
                headers={"Content-Type": "application/json"},
            ),
            "empty": lambda: _answer({}),
            "no_severity": lambda: _answer(
                {"blocklistsMatch": [], "categoriesAnalysis": [{"category": c} for c in CATEGORIES]}
            ),
        }
        if fault == "slow":
            self.sleep(self.slow_seconds)
            return None
        return answers[fault]()

    # -- analyses -------------------------------------------------------------------------

    def _analyze_text(self, body: dict[str, Any]) -> dict[str, Any]:
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise _Refusal(400, "InvalidRequestBody", "text is required and must not be empty.")
        if len(text) > MAX_TEXT_CHARS:
            raise _Refusal(
                400,
                "InvalidRequestBody",
                f"The text is too long: at most {MAX_TEXT_CHARS} characters are allowed.",
            )
        categories = _categories(body)
        output = body.get("outputType", "FourSeverityLevels")
        if output not in OUTPUT_TYPES:
            raise _Refusal(400, "InvalidRequestBody", f"outputType must be one of {OUTPUT_TYPES}.")
        names = body.get("blocklistNames", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _Refusal(400, "InvalidRequestBody", "blocklistNames must be a string array.")
        halt = body.get("haltOnBlocklistHit", False)
        if not isinstance(halt, bool):
            raise _Refusal(400, "InvalidRequestBody", "haltOnBlocklistHit must be a boolean.")
        unknown = [n for n in names if n not in self.blocklists]
        if unknown:
            raise _Refusal(
                404, "ResourceNotFound", f"The blocklist {unknown[0][:64]!r} was not found."
            )
        matches = self._matches(text, names)
        if halt and matches:
            return {"blocklistsMatch": matches, "categoriesAnalysis": []}
        severities = _judge(text, RULES)
        for marker in _SEVERITY_MARKER.finditer(text):
            if marker.group(1) in severities:
                severities[marker.group(1)] = int(marker.group(2))
        eight = output == "EightSeverityLevels"
        return {
            "blocklistsMatch": matches,
            "categoriesAnalysis": [
                {"category": c, "severity": severities[c] if eight else _four(severities[c])}
                for c in categories
            ],
        }

    def _matches(self, text: str, names: Sequence[str]) -> list[dict[str, str]]:
        lowered = text.lower()
        return [
            {
                "blocklistName": name,
                "blocklistItemId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{item}")),
                "blocklistItemText": item,
            }
            for name in dict.fromkeys(names)
            for item in self.blocklists[name]
            if item.lower() in lowered
        ]

    def _analyze_image(self, body: dict[str, Any]) -> dict[str, Any]:
        image = body.get("image")
        if not isinstance(image, dict) or ("content" in image) == ("blobUrl" in image):
            raise _Refusal(
                400, "InvalidRequestBody", "image needs exactly one of content and blobUrl."
            )
        categories = _categories(body)
        if body.get("outputType", "FourSeverityLevels") != "FourSeverityLevels":
            raise _Refusal(
                400, "InvalidRequestBody", "Images support FourSeverityLevels output only."
            )
        if "blobUrl" in image:
            url = image["blobUrl"]
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise _Refusal(400, "InvalidRequestBody", "blobUrl must be a URL.")
            data = url.encode()
        else:
            data = _image_bytes(image["content"])
            if data == _OFFICIAL_IMAGE_BYTES and set(body) == {"image"}:
                return _copy(OFFICIAL_IMAGE_EXAMPLE)
            _check_image(data)
        severities = _judge(data.decode("latin-1"), IMAGE_RULES)
        return {
            "categoriesAnalysis": [
                {"category": c, "severity": _four(severities[c])} for c in categories
            ]
        }

    # -- the image host -------------------------------------------------------------------

    def _image_host(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.fetches += 1
        if "missing" in request.url.path:
            return httpx.Response(404, text="not found")
        padded = request.url.params.get("bytes", "0")
        pad_to = int(padded) if padded.isdigit() and len(padded) < 10 else 0
        where = urllib.parse.unquote(f"{request.url.path}?{request.url.query.decode()}")
        data = make_png(where, pad_to=pad_to)
        span = re.fullmatch(r"bytes=(\d{1,12})-(\d{1,12})", request.headers.get("Range", ""))
        if span is None or int(span.group(1)) >= len(data):
            return httpx.Response(200, content=data, headers={"Content-Type": "image/png"})
        first, last = int(span.group(1)), min(int(span.group(2)), len(data) - 1)
        return httpx.Response(
            206,
            content=data[first : last + 1],
            headers={
                "Content-Type": "image/png",
                "Content-Range": f"bytes {first}-{last}/{len(data)}",
            },
        )


def _copy(example: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(example))  # no caller shares our lists
    return copied


def _four(severity: int) -> int:
    return severity // 2 * 2


def _judge(text: str, rules: Sequence[Rule]) -> dict[str, int]:
    lowered = text.lower()
    severities = dict.fromkeys(CATEGORIES, 0)
    for rule in rules:
        if any(trigger in lowered for trigger in rule.triggers):
            severities[rule.category] = max(severities[rule.category], rule.severity)
    return severities


def _categories(body: dict[str, Any]) -> list[str]:
    categories = body.get("categories")
    if categories is None:
        return list(CATEGORIES)
    if (
        not isinstance(categories, list)
        or not categories
        or not all(isinstance(c, str) and c in CATEGORIES for c in categories)
    ):
        raise _Refusal(
            400, "InvalidRequestBody", f"categories must be a non-empty subset of {CATEGORIES}."
        )
    return list(dict.fromkeys(categories))


def _image_bytes(content: object) -> bytes:
    if not isinstance(content, str):
        raise _Refusal(400, "InvalidRequestBody", "image.content must be a base64 string.")
    if len(content) > (MAX_IMAGE_BYTES + 2) // 3 * 4:
        raise _Refusal(400, "InvalidRequestBody", "The image is larger than 4 MB.")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise _Refusal(400, "InvalidRequestBody", "image.content is not valid base64.") from None


def _check_image(data: bytes) -> None:
    if not data:
        raise _Refusal(400, "InvalidRequestBody", "The image is empty.")
    signatures = (_PNG, b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
    known = data.startswith(signatures) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    if not known:
        raise _Refusal(400, "InvalidRequestBody", "The image format is not supported.")
    if data.startswith(_PNG) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        low, high = IMAGE_PX
        if not (low <= width <= high and low <= height <= high):
            raise _Refusal(
                400,
                "InvalidRequestBody",
                f"The image is {width}x{height} px; 50x50 to 2048x2048 are supported.",
            )


def _read_json(request: httpx.Request) -> dict[str, Any] | None:
    if "application/json" not in request.headers.get("Content-Type", ""):
        return None
    try:
        body: object = json.loads(request.read())
    except (ValueError, RecursionError):  # too deep is as unreadable as malformed
        return None
    return body if isinstance(body, dict) else None


def _marker(body: dict[str, Any] | None) -> str | None:
    """A ``[[fault:NAME]]`` in the text, or in the image's bytes."""
    if body is None:
        return None
    text = body.get("text")
    if not isinstance(text, str):
        image = body.get("image")
        content = image.get("content") if isinstance(image, dict) else None
        try:
            text = base64.b64decode(content).decode("latin-1") if isinstance(content, str) else ""
        except (binascii.Error, ValueError):
            text = ""
    found = _FAULT_MARKER.search(text)
    return found.group(1) if found else None


# -- options, as `moderation emulate azure_content_safety --set key=value` gives them ----


def _as_fault(value: object) -> str | None:
    return choice_option("fault", value, FAULTS)


def _as_float(name: str, value: object) -> float:
    return float_option(name, value, minimum=0)


def _as_optional_float(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "off")):
        return None
    return _as_float(name, value)


def _as_count(name: str, value: object) -> int | None:
    number = _as_optional_float(name, value)
    if number is None:
        return None
    if number != int(number):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _as_blocklists(_name: str, value: object) -> Mapping[str, Sequence[str]]:
    """A mapping, or from the CLI ``Name:item|item;Other:item``."""
    if isinstance(value, Mapping):
        return {str(k): [str(i) for i in v] for k, v in value.items()}
    result: dict[str, list[str]] = {}
    for part in str(value).split(";"):
        name, _, items = part.partition(":")
        if name.strip():
            result[name.strip()] = [i for i in items.split("|") if i]
    return result


_OPTION_PARSERS: Final[Mapping[str, Callable[[str, object], Any]]] = {
    "api_key": lambda _n, v: str(v),
    "blocklists": _as_blocklists,
    "rate_limit": _as_count,
    "fault": lambda _n, v: _as_fault(v),
    "latency": _as_float,
    "slow_seconds": _as_float,
    "retry_after": _as_optional_float,
}


def make_emulator(**options: Any) -> AzureEmulator:
    """An Azure AI Content Safety emulator. Every option may be a string (from the
    CLI's ``--set key=value``): api_key (default ``DEMO_API_KEY``), blocklists (a
    mapping of name to items, or ``Name:item|item;Other:item``; default
    ``DEFAULT_BLOCKLISTS``), rate_limit (requests per 10 s, default off), fault (see
    ``FAULTS``), latency (seconds before every answer), slow_seconds, retry_after (the
    Retry-After of an injected 429; ``none`` leaves it out). ``clock`` and ``sleep``
    (callables) make time deterministic in tests."""
    return AzureEmulator(**parse_options(options, _OPTION_PARSERS, emulator="Azure"))
