"""TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0
(CONTRACTS-MORE-VENDORS 1.3), for the client (``sign``) and the emulator
(``parse_authorization``, ``canonical_request``, ``signature``).

Written by hand: the official signer (tencentcloud-sdk-python-common) signs only the
SDK's own request objects, and the algorithm is four HMACs and two hashes. The tests
check it against that signer and the documented vectors T1 and T2.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import attrs

__all__ = [
    "ALGORITHM",
    "DEFAULT_SIGNED_HEADERS",
    "Authorization",
    "canonical_request",
    "parse_authorization",
    "sign",
    "signature",
    "string_to_sign",
    "utc_date",
]

ALGORITHM = "TC3-HMAC-SHA256"
# What the official SDK signs; a client may declare more (x-tc-action, say).
DEFAULT_SIGNED_HEADERS = ("content-type", "host")
_TERMINATOR = "tc3_request"
_HEADER = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/\s,]+)/(?P<date>\d{4}-\d{2}-\d{2})/"
    r"(?P<service>[a-z0-9]+)/tc3_request, SignedHeaders=(?P<headers>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


def utc_date(timestamp: int) -> str:
    """The credential scope's date: the UTC day of the timestamp, never the local one."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def canonical_request(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload: bytes,
) -> str:
    """The canonical request over ``signed_headers`` (lowercase names, in the order
    declared), whose values ``headers`` gives as sent. Values are trimmed and lowercased
    as the documentation says (the SDK's are lowercase already; a signed
    ``x-tc-action`` is not)."""
    lines = "".join(f"{name}:{headers[name].strip().lower()}\n" for name in signed_headers)
    return "\n".join(
        (
            method.upper(),
            path or "/",
            query,
            lines,
            ";".join(signed_headers),
            hashlib.sha256(payload).hexdigest(),
        )
    )


def string_to_sign(*, timestamp: int, service: str, canonical: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/{_TERMINATOR}"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signature(secret_key: str, *, date: str, service: str, to_sign: str) -> str:
    """The lowercase hex signature; the key is derived through raw-byte HMACs."""
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), _TERMINATOR)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@attrs.frozen
class Authorization:
    """A parsed ``Authorization`` header. The SecretId and the signature stay out of
    the repr: both identify a credential."""

    secret_id: str = attrs.field(repr=False)
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str = attrs.field(repr=False)

    def header(self) -> str:
        return (
            f"{ALGORITHM} Credential={self.secret_id}/{self.date}/{self.service}/{_TERMINATOR}, "
            f"SignedHeaders={';'.join(self.signed_headers)}, Signature={self.signature}"
        )


def parse_authorization(value: str) -> Authorization:
    """The header's parts, or ValueError when it is not a TC3 header."""
    match = _HEADER.fullmatch(value.strip())
    if match is None:
        raise ValueError("not a TC3-HMAC-SHA256 Authorization header")
    signed = tuple(match["headers"].split(";"))
    if not all(signed):
        raise ValueError("SignedHeaders has an empty name")
    return Authorization(
        secret_id=match["id"],
        date=match["date"],
        service=match["service"],
        signed_headers=signed,
        signature=match["signature"],
    )


def sign(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    method: str,
    path: str,
    headers: Mapping[str, str],
    payload: bytes,
    query: str = "",
    signed_headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
) -> str:
    """The ``Authorization`` header value for one request. ``headers`` maps lowercase
    names to the values sent; it must hold every signed header."""
    canonical = canonical_request(
        method=method,
        path=path,
        query=query,
        headers=headers,
        signed_headers=signed_headers,
        payload=payload,
    )
    date = utc_date(timestamp)
    to_sign = string_to_sign(timestamp=timestamp, service=service, canonical=canonical)
    return Authorization(
        secret_id=secret_id,
        date=date,
        service=service,
        signed_headers=tuple(signed_headers),
        signature=signature(secret_key, date=date, service=service, to_sign=to_sign),
    ).header()
