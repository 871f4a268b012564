"""The pages' session: a signed cookie, no server-side state (any worker reads it).

The cookie holds whether the browser logged in, its CSRF token, the reviewer's name
and when it was issued, as JSON signed with HMAC-SHA256. The signing key is derived
from the API keys: every worker and replica of one config agrees on it, and rotating
the keys logs every browser out. With no api_keys (loopback only) there is no login;
the cookie then carries only the CSRF token and the name, and the key is a constant
one: the token still works as a double submit (a form must quote the token in the
cookie, which another site can neither read nor set), so nothing rests on secrecy.

Written by hand rather than with Starlette's SessionMiddleware: that one wraps the
whole app (the JSON API too) and needs itsdangerous for what is one HMAC here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence

import attrs

from moderation_core._model import Secret

__all__ = ["COOKIE_NAME", "MAX_AGE", "Session", "SessionSigner"]

COOKIE_NAME = "moderation_session"
MAX_AGE = 12 * 3600  # seconds a login lasts: one working day, then the key again
MAX_COOKIE_BYTES = 4096  # what browsers keep; anything longer was not written by us
MAX_REVIEWER_CHARS = 256  # the reviews table's reviewer column
_CLOCK_SKEW = 60.0  # seconds a cookie may claim to come from the future (clock drift)
_LABEL = b"moderation-core pages session v1"


@attrs.frozen
class Session:
    """One browser's session. ``csrf`` goes into every form; ``logged_in`` is True once
    the API key was given (always True when the server has no keys)."""

    csrf: str
    issued_at: float
    logged_in: bool = False
    reviewer: str = ""

    @classmethod
    def fresh(cls, now: float, *, logged_in: bool = False, reviewer: str = "") -> Session:
        """A new session with a new CSRF token (after a login too: a token seen before
        the login, e.g. planted by someone else, is no longer good)."""
        return cls(secrets.token_urlsafe(32), now, logged_in, reviewer)


class SessionSigner:
    """Writes and reads the session cookie for one set of API keys."""

    def __init__(self, api_keys: Sequence[Secret], *, clock: Callable[[], float]) -> None:
        material = b"\0".join(sorted(key.get().encode() for key in api_keys))
        self._key = hmac.new(_LABEL, material, hashlib.sha256).digest()
        self.clock = clock

    def dumps(self, session: Session) -> str:
        payload = json.dumps(
            {
                "c": session.csrf,
                "t": session.issued_at,
                "a": session.logged_in,
                "r": session.reviewer,
            },
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
        return f"{body}.{self._sign(body)}"

    def loads(self, cookie: str | None) -> Session | None:
        """The session in ``cookie``, or None when it is missing, forged, malformed or
        expired (the caller starts a new one)."""
        if not cookie or len(cookie) > MAX_COOKIE_BYTES:
            return None
        body, _, signature = cookie.rpartition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        csrf, issued, logged_in, reviewer = (data.get(k) for k in ("c", "t", "a", "r"))
        if not (
            isinstance(csrf, str)
            and csrf
            and isinstance(issued, int | float)
            and isinstance(logged_in, bool)
            and isinstance(reviewer, str)
        ):
            return None
        now = self.clock()
        if not now - MAX_AGE <= issued <= now + _CLOCK_SKEW:
            return None
        return Session(csrf, float(issued), logged_in, reviewer[:MAX_REVIEWER_CHARS])

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode("ascii", "replace"), hashlib.sha256).hexdigest()
