"""Yidun's request signature (CONTRACTS-MORE-VENDORS 5a.3): every parameter but
``signature``, sorted by name, each written as name then value with no separator (a
null or empty value writes the name only), the secret key appended, hashed with the
``signatureMethod`` the request names (MD5 when it names none), in lowercase hex.

Pure functions, shared by the provider (to sign) and the emulator (to check); the
official SignerImplTest vectors reproduce in tests/providers/yidun/test_signature.py.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

__all__ = [
    "SIGNATURE_METHODS",
    "SignatureMethod",
    "sign",
    "signature_matches",
    "string_to_sign",
]

SignatureMethod = Literal["MD5", "SHA1", "SHA256"]
# The methods this package signs with. The vendor also takes SM3, which Python's
# hashlib offers only when its OpenSSL build does; the emulator accepts it when it can.
SIGNATURE_METHODS: Mapping[str, str] = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256"}
_ACCEPTED = {**SIGNATURE_METHODS, "SM3": "sm3"}


def string_to_sign(params: Mapping[str, str | None], secret_key: str) -> str:
    """What is hashed. Names sort by code point, which is ASCII order for the vendor's
    names (the Java SDK sorts UTF-16 units, the same for them)."""
    parts = [name + (params[name] or "") for name in sorted(params) if name != "signature"]
    return "".join(parts) + secret_key


def _algorithm(params: Mapping[str, str | None]) -> str:
    method = params.get("signatureMethod") or "MD5"
    algorithm = _ACCEPTED.get(method.upper())  # the Go SDK upper-cases it too
    if algorithm is None or algorithm not in hashlib.algorithms_available:
        raise ValueError(f"signatureMethod {method[:16]!r} is not MD5, SHA1, SHA256 or SM3")
    return algorithm


def sign(params: Mapping[str, str | None], secret_key: str) -> str:
    """The ``signature`` for ``params`` (with or without ``signatureMethod``); a method
    this Python cannot compute is a ValueError."""
    digest = hashlib.new(_algorithm(params), usedforsecurity=False)
    digest.update(string_to_sign(params, secret_key).encode())
    return digest.hexdigest()


def signature_matches(params: Mapping[str, str | None], secret_key: str) -> bool:
    """Whether ``params["signature"]`` is right, compared in constant time and without
    regard to hex case; an unknown method is a mismatch."""
    given = params.get("signature") or ""
    try:
        expected = sign(params, secret_key)
    except ValueError:
        return False
    return hmac.compare_digest(given.lower().encode(), expected.encode())
