"""Alibaba Cloud POP request signatures (CONTRACTS-MORE-VENDORS 4.4 and 4.5), for the
client and the emulator alike:

- **V1, RPC HMAC-SHA1**: the parameters (query and form body together) sorted and
  percent-encoded per RFC 3986, ``POST&%2F&<encoded>`` signed with ``secret + "&"``,
  Base64; the result travels as the ``Signature`` parameter.
- **V3, ACS3-HMAC-SHA256**: a canonical request over the method, path, query, the
  headers named in ``SignedHeaders`` and the payload's SHA-256; its SHA-256 signed with
  the secret, hex; the result travels in ``Authorization``.

Written by hand: the official signer (alibabacloud-tea-openapi) signs only the Tea
SDK's own request objects, and each scheme is one HMAC over a canonical string. The
tests check both against the documented vectors A1, A2, A3 and the V3 vector, and
against the official signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

import attrs

__all__ = [
    "ACS3",
    "HMAC_SHA1",
    "TIMESTAMP_FORMAT",
    "Acs3Authorization",
    "acs3_authorization",
    "acs3_canonical_request",
    "acs3_signature",
    "acs3_string_to_sign",
    "canonical_headers",
    "parse_acs3_authorization",
    "percent_encode",
    "rpc_canonical_query",
    "rpc_signature",
    "rpc_string_to_sign",
    "sha256_hex",
    "timestamp",
]

ACS3 = "ACS3-HMAC-SHA256"
HMAC_SHA1 = "HMAC-SHA1"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, as both schemes want it
_ACS3_HEADER = re.compile(
    r"ACS3-HMAC-SHA256 Credential=(?P<id>[^,\s]+),SignedHeaders=(?P<headers>[a-z0-9;._-]+),"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


def timestamp(now: float) -> str:
    """``Timestamp`` / ``x-acs-date``: UTC, to the second, never the local time."""
    return datetime.fromtimestamp(now, UTC).strftime(TIMESTAMP_FORMAT)


def percent_encode(value: str) -> str:
    """RFC 3986 over UTF-8: ``A-Z a-z 0-9 - _ . ~`` stay, everything else (space, ``*``,
    ``/``, ``+``) is ``%XX`` in upper case."""
    return quote(value, safe="~")


# -- V1: RPC HMAC-SHA1 -------------------------------------------------------------------


def rpc_canonical_query(params: Mapping[str, str]) -> str:
    """The parameters sorted by name, each ``name=value`` percent-encoded, joined by ``&``
    (``Signature`` itself is never among them)."""
    return "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )


def rpc_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(rpc_canonical_query(params))}"


def rpc_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """The ``Signature`` parameter: Base64 of HMAC-SHA1 keyed with ``secret + "&"``."""
    to_sign = rpc_string_to_sign(method, params)
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# -- V3: ACS3-HMAC-SHA256 ----------------------------------------------------------------


def sha256_hex(payload: bytes) -> str:
    """``x-acs-content-sha256``: the lowercase hex SHA-256 of the exact body bytes."""
    return hashlib.sha256(payload).hexdigest()


def _canonical_query(query: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(query))


def canonical_headers(headers: Iterable[tuple[str, str]], signed: Sequence[str]) -> str:
    """One ``name:value`` line per signed header (names lowercased and sorted); a header
    sent more than once has its values trimmed, sorted and joined by ``,``."""
    values: dict[str, list[str]] = {name: [] for name in signed}
    for name, value in headers:
        key = name.lower()
        if key in values:
            values[key].append(value.strip())
    return "".join(f"{name}:{','.join(sorted(values[name]))}\n" for name in sorted(values))


def acs3_canonical_request(
    *,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    signed_headers: Sequence[str],
    hashed_payload: str,
) -> str:
    signed = sorted(name.lower() for name in signed_headers)
    return "\n".join(
        (
            method.upper(),
            path or "/",
            _canonical_query(query),
            canonical_headers(headers, signed),
            ";".join(signed),
            hashed_payload,
        )
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3}\n{sha256_hex(canonical_request.encode())}"


def acs3_signature(secret: str, canonical_request: str) -> str:
    to_sign = acs3_string_to_sign(canonical_request)
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


@attrs.frozen
class Acs3Authorization:
    """A parsed ``Authorization: ACS3-HMAC-SHA256 ...`` header. The AccessKey id and the
    signature stay out of the repr: both identify a credential."""

    access_key_id: str = attrs.field(repr=False)
    signed_headers: tuple[str, ...]
    signature: str = attrs.field(repr=False)

    def header(self) -> str:
        return (
            f"{ACS3} Credential={self.access_key_id},"
            f"SignedHeaders={';'.join(self.signed_headers)},Signature={self.signature}"
        )


def parse_acs3_authorization(value: str) -> Acs3Authorization:
    """The header's parts, or ValueError when it is not an ACS3-HMAC-SHA256 header."""
    match = _ACS3_HEADER.fullmatch(value.strip())
    if match is None:
        raise ValueError("not an ACS3-HMAC-SHA256 Authorization header")
    signed = tuple(match["headers"].split(";"))
    if not all(signed):
        raise ValueError("SignedHeaders has an empty name")
    return Acs3Authorization(
        access_key_id=match["id"], signed_headers=signed, signature=match["signature"]
    )


def acs3_authorization(
    *,
    access_key_id: str,
    secret: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    signed_headers: Sequence[str],
    hashed_payload: str,
) -> str:
    """The ``Authorization`` header value for one request; ``headers`` are the request's
    (name, value) pairs and must hold every header in ``signed_headers``."""
    signed = sorted(name.lower() for name in signed_headers)
    canonical = acs3_canonical_request(
        method=method,
        path=path,
        query=query,
        headers=headers,
        signed_headers=signed,
        hashed_payload=hashed_payload,
    )
    return Acs3Authorization(
        access_key_id=access_key_id,
        signed_headers=tuple(signed),
        signature=acs3_signature(secret, canonical),
    ).header()
