"""``verify_signature``: what a receiver of the app's webhook calls on each request."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from moderation_core import Secret, WebhookSignatureError, verify_signature
from moderation_core._signing import sign_webhook

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id":"e1","type":"check.completed","created":1700000000,"data":{}}'
NOW = 1_700_000_000


def test_the_header_is_the_documented_hmac() -> None:
    header = sign_webhook(SECRET, BODY, timestamp=NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


@pytest.mark.parametrize("secret", [SECRET, Secret(SECRET)])
def test_a_fresh_signature_holds(secret: str | Secret) -> None:
    header = sign_webhook(SECRET, BODY, timestamp=NOW)
    verify_signature(secret, header, BODY, now=NOW + 299)
    verify_signature(secret, header, BODY.decode(), now=NOW - 299)


def test_any_one_v1_entry_may_match_while_a_secret_is_rotated() -> None:
    good = sign_webhook(SECRET, BODY, timestamp=NOW).split(",")[1]
    other = sign_webhook("old-secret", BODY, timestamp=NOW).split(",")[1]
    verify_signature(SECRET, f"t={NOW},{other}, {good}", BODY, now=NOW)


@pytest.mark.parametrize(
    ("header", "body", "now", "says"),
    [
        (None, BODY, NOW, "no Moderation-Signature header"),
        ("", BODY, NOW, "no Moderation-Signature header"),
        ("v1=abc", BODY, NOW, "no readable t="),
        ("t=soon,v1=abc", BODY, NOW, "no readable t="),
        (f"t={NOW},t={NOW},v1=abc", BODY, NOW, "no readable t="),
        (f"t={NOW}", BODY, NOW, "no v1="),
        ("t=" + "9" * 5000, BODY, NOW, "too long"),
        (sign_webhook(SECRET, BODY, timestamp=NOW), BODY, NOW + 301, "tolerance"),
        (sign_webhook(SECRET, BODY, timestamp=NOW), BODY, NOW - 301, "tolerance"),
        (sign_webhook(SECRET, BODY, timestamp=NOW), BODY + b" ", NOW, "does not match"),
        (sign_webhook("another", BODY, timestamp=NOW), BODY, NOW, "does not match"),
        (f"t={NOW},v1=\u00e9\u00e9", BODY, NOW, "does not match"),
    ],
)
def test_a_bad_signature_says_which_check_failed(
    header: str | None, body: bytes, now: int, says: str
) -> None:
    with pytest.raises(WebhookSignatureError, match=says) as caught:
        verify_signature(SECRET, header, body, now=now)
    assert SECRET not in str(caught.value)


def test_the_tolerance_is_the_callers() -> None:
    header = sign_webhook(SECRET, BODY, timestamp=NOW)
    verify_signature(SECRET, header, BODY, now=NOW + 3000, tolerance=3600)
    with pytest.raises(WebhookSignatureError):
        verify_signature(SECRET, header, BODY, now=NOW + 11, tolerance=10)


def test_an_empty_secret_is_a_mistake_not_a_pass() -> None:
    header = sign_webhook(SECRET, BODY, timestamp=NOW)
    with pytest.raises(ValueError, match="secret is empty"):
        verify_signature("", header, BODY, now=NOW)
