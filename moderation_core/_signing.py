"""The signature on the app's own webhook (``[serve.notify]``, docs/store.md): what
``moderation serve`` puts on each event it sends, and what a receiver checks.

    Moderation-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The time is signed with the body, so a captured request replayed later fails the
window; the receiver's dedupe key is the ``Moderation-Event-Id`` header (the event's
``id``), the same on every retry of one event. No library signs this scheme for us
(it is Stripe's shape, not a standard), so it is written here, in a dozen lines of
``hmac``, and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from ._errors import ModerationError
from ._model import Secret

__all__ = [
    "DEFAULT_SIGNATURE_TOLERANCE",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "WebhookSignatureError",
    "sign_webhook",
    "verify_signature",
]

SIGNATURE_HEADER = "Moderation-Signature"
EVENT_ID_HEADER = "Moderation-Event-Id"
# Seconds a signed time may lie from the receiver's clock, before or after.
DEFAULT_SIGNATURE_TOLERANCE = 300
_MAX_HEADER_CHARS = 4096  # a few v1 entries (a secret being rotated); more is not ours


class WebhookSignatureError(ModerationError):
    """A ``Moderation-Signature`` that does not hold: missing or unreadable, signed too
    long ago (or in the future), or made with another secret or over another body. The
    message names which; answer the request with 400 and do not act on it."""


def _key(secret: str | Secret) -> bytes:
    text = secret.get() if isinstance(secret, Secret) else secret
    if not text:
        raise ValueError("the webhook secret is empty; set [serve.notify] secret")
    return text.encode("utf-8", "surrogatepass")


def _body(body: bytes | str) -> bytes:
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign_webhook(secret: str | Secret, body: bytes | str, *, timestamp: int) -> str:
    """The ``Moderation-Signature`` value for ``body`` sent at ``timestamp`` (Unix
    seconds): ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``."""
    return f"t={timestamp},v1={_digest(_key(secret), timestamp, _body(body))}"


def verify_signature(
    secret: str | Secret,
    header: str | None,
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check a ``Moderation-Signature`` header against the raw request ``body`` (the
    bytes as received: a re-serialized JSON body does not match). Raises
    ``WebhookSignatureError`` naming the check that failed; returns None when the
    signature holds. ``t`` must lie within ``tolerance`` seconds of ``now`` (the
    current time by default), either way; any one ``v1`` entry may match."""
    if not header:
        raise WebhookSignatureError(f"the request has no {SIGNATURE_HEADER} header")
    if len(header) > _MAX_HEADER_CHARS:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is too long to be one")
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise WebhookSignatureError(
            f"the {SIGNATURE_HEADER} header has no readable t=<unix seconds>"
        )
    if not signatures:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header has no v1=<hex> signature")
    timestamp = int(timestamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError(
            f"the signature's time is {current - timestamp:.0f} s from this clock, beyond "
            f"the {tolerance:g} s tolerance: an old request replayed, or a clock to set right"
        )
    expected = _digest(_key(secret), timestamp, _body(body)).encode()
    # Every entry compared, so the time taken says nothing about which one matched.
    matched = False
    for signature in signatures:
        matched |= hmac.compare_digest(expected, signature.strip().lower().encode())
    if not matched:
        raise WebhookSignatureError(
            "the signature does not match: another secret than [serve.notify] secret, "
            "or the body was changed (verify the raw bytes as received)"
        )
