"""UserSig (TLSSigAPIv2): make, decode, verify, and a cache that renews ahead of expiry.

Written by hand: the only Python implementation is Tencent's own ``tls-sig-api-v2``
(last released 2022, no types, no verify), and the algorithm is twenty lines.
Nothing here logs, and no exception message quotes a sig or a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "UserSigCache",
    "UserSigError",
    "decode_usersig",
    "make_usersig",
    "sign_fields",
    "verify_usersig",
]

# Standard base64 with + / = swapped for * - _ (CONTRACTS 1.2 step 5).
_TO_URL = str.maketrans("+/=", "*-_")
_FROM_URL = str.maketrans("*-_", "+/=")


class UserSigError(ValueError):
    """A UserSig that does not verify; ``kind`` says which check failed:
    ``malformed``, ``sdkappid``, ``identifier``, ``expired``, ``userbuf`` or ``sig``."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"UserSig check failed: {kind}")
        self.kind = kind


def sign_fields(
    key: str, *, identifier: str, sdkappid: int, time: int, expire: int, userbuf: bytes | None
) -> str:
    """``TLS.sig``: standard base64 of HMAC-SHA256 over the four (or five) lines."""
    lines = (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{time}\n"
        f"TLS.expire:{expire}\n"
    )
    if userbuf is not None:
        lines += f"TLS.userbuf:{base64.b64encode(userbuf).decode()}\n"
    digest = hmac.new(key.encode(), lines.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def make_usersig(
    sdkappid: int,
    identifier: str,
    key: str,
    *,
    expire: int,
    now: int | None = None,
    userbuf: bytes | None = None,
) -> str:
    """A UserSig valid for ``expire`` seconds from ``now`` (default: the current time)."""
    issued = int(time.time()) if now is None else now
    fields: dict[str, Any] = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": issued,
    }
    if userbuf is not None:
        fields["TLS.userbuf"] = base64.b64encode(userbuf).decode()
    fields["TLS.sig"] = sign_fields(
        key, identifier=identifier, sdkappid=sdkappid, time=issued, expire=expire, userbuf=userbuf
    )
    packed = zlib.compress(json.dumps(fields).encode())
    return base64.b64encode(packed).decode().translate(_TO_URL)


def decode_usersig(usersig: str) -> dict[str, Any]:
    """The JSON fields inside a UserSig; ``UserSigError("malformed")`` if it is not one."""
    try:
        packed = base64.b64decode(usersig.translate(_FROM_URL), validate=True)
        fields = json.loads(zlib.decompress(packed))
    except (ValueError, zlib.error):
        raise UserSigError("malformed") from None
    if not isinstance(fields, dict):
        raise UserSigError("malformed")
    return fields


def verify_usersig(
    usersig: str,
    *,
    sdkappid: int,
    identifier: str,
    key: str,
    now: float | None = None,
    userbuf: bytes | None = None,
) -> Mapping[str, Any]:
    """Check a UserSig the way the official verify functions do, in their order; return
    its fields or raise ``UserSigError``."""
    fields = decode_usersig(usersig)
    try:
        sig_appid = fields["TLS.sdkappid"]
        sig_identifier = fields["TLS.identifier"]
        issued = fields["TLS.time"]
        expire = fields["TLS.expire"]
        sig = fields["TLS.sig"]
    except KeyError:
        raise UserSigError("malformed") from None
    if not (isinstance(issued, int) and isinstance(expire, int) and isinstance(sig, str)):
        raise UserSigError("malformed")
    if sig_appid != sdkappid:
        raise UserSigError("sdkappid")
    if sig_identifier != identifier:
        raise UserSigError("identifier")
    if (time.time() if now is None else now) > issued + expire:
        raise UserSigError("expired")
    carried = fields.get("TLS.userbuf")
    if (carried is None) != (userbuf is None):
        raise UserSigError("userbuf")
    if userbuf is not None and carried != base64.b64encode(userbuf).decode():
        raise UserSigError("userbuf")
    expected = sign_fields(
        key, identifier=identifier, sdkappid=sdkappid, time=issued, expire=expire, userbuf=userbuf
    )
    if not hmac.compare_digest(expected, sig):
        raise UserSigError("sig")
    return fields


class UserSigCache:
    """One admin UserSig, made on first use and renewed when less than a tenth of its
    validity is left (so a sig never expires in flight). Thread-safe; no IO."""

    def __init__(
        self,
        sdkappid: int,
        identifier: str,
        key: Callable[[], str],
        *,
        expire: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sdkappid = sdkappid
        self._identifier = identifier
        self._key = key
        self._expire = expire
        self._margin = max(expire // 10, 1)
        self._clock = clock
        self._lock = threading.Lock()
        self._sig: str | None = None
        self._renew_at = 0.0

    def get(self) -> str:
        now = self._clock()
        with self._lock:
            if self._sig is None or now >= self._renew_at:
                self._make(now)
            assert self._sig is not None  # noqa: S101 - _make sets it
            return self._sig

    @property
    def current(self) -> str:
        """The sig in use, or "" before the first; for scrubbing text, never for sending."""
        return self._sig or ""

    def refresh(self, stale: str) -> str:
        """A fresh sig after the vendor refused ``stale``; if another caller already
        replaced it, theirs is returned rather than making a third."""
        now = self._clock()
        with self._lock:
            if self._sig is None or self._sig == stale:
                self._make(now)
            assert self._sig is not None  # noqa: S101
            return self._sig

    def _make(self, now: float) -> None:
        issued = int(now)
        self._sig = make_usersig(
            self._sdkappid, self._identifier, self._key(), expire=self._expire, now=issued
        )
        self._renew_at = issued + self._expire - self._margin

    def __repr__(self) -> str:
        return f"<UserSigCache sdkappid={self._sdkappid} identifier={self._identifier!r}>"
