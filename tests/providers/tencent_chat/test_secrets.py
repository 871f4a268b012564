"""No secret (secret key, UserSig, webhook token) in a repr, an error or a log line."""

from __future__ import annotations

import logging

import httpx
import pytest

from moderation_core import AllProvidersFailed, Moderator
from moderation_core.testing import RecordingTransport
from moderation_tencent_chat import TencentChatProvider, WebhookVerificationError
from tests import fake_secrets as secrets

from .helpers import config, emulator, fail_body, provider


def _leaks(text: str, sigs: list[str]) -> list[str]:
    found = [s for s in (secrets.TENCENT_SECRET_KEY, secrets.TENCENT_WEBHOOK_TOKEN) if s in text]
    return found + [s[:12] + "..." for s in sigs if s and s in text]


def test_reprs_hide_secrets() -> None:
    prov = provider(webhook_token=secrets.TENCENT_WEBHOOK_TOKEN)
    prov._usersig.get()
    for text in (repr(prov), str(prov), repr(prov.config), repr(prov.describe()),
                 repr(prov._usersig), repr(emulator())):  # fmt: skip
        assert _leaks(text, [prov._usersig.current]) == [], text
    assert "secret_key" not in repr(prov.config)
    assert "webhook_token" not in repr(prov.config)


def test_errors_and_logs_never_carry_a_sig_or_key(caplog: pytest.LogCaptureFixture) -> None:
    def vendor(request: httpx.Request) -> httpx.Response:
        sig = request.url.params["usersig"]
        # A vendor that echoes everything back in its error text.
        info = f"bad sig {sig} for key {secrets.TENCENT_SECRET_KEY} at {request.url}"
        return httpx.Response(200, json=fail_body(70001, info))

    handler = RecordingTransport(vendor)
    with (
        caplog.at_level(logging.DEBUG),
        Moderator.from_config(config(), transport=handler) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    sigs = [r.url.params["usersig"] for r in handler.requests]
    assert len(sigs) == 2
    (error,) = caught.value.exceptions
    for text in (str(error), repr(error), str(caught.value), repr(caught.value), caplog.text):
        assert _leaks(text, sigs) == [], text
    assert "bad sig ***" in str(error)
    assert "usersig=FILTERED" in caplog.text  # httpx's own INFO line, redacted


@pytest.mark.parametrize("answer", [b"garbage", b'{"ErrorCode": "x"}'])
def test_debug_logs_of_parse_failures_hold_no_sig(
    caplog: pytest.LogCaptureFixture, answer: bytes
) -> None:
    handler = RecordingTransport(lambda _r: httpx.Response(200, content=answer))
    with (
        caplog.at_level(logging.DEBUG),
        Moderator.from_config(config(), transport=handler) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    sigs = [r.url.params["usersig"] for r in handler.requests]
    assert _leaks(caplog.text + str(caught.value), sigs) == []


def test_transport_errors_name_the_host_not_the_url() -> None:
    def vendor(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    handler = RecordingTransport(vendor)
    with (
        Moderator.from_config(config(), transport=handler) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    sig = handler.requests[0].url.params["usersig"]
    assert _leaks(str(caught.value.exceptions[0]), [sig]) == []


def test_webhook_errors_hold_no_token() -> None:
    prov = provider(webhook_token=secrets.TENCENT_WEBHOOK_TOKEN)
    with pytest.raises(WebhookVerificationError) as caught:
        prov.parse_webhook({"SdkAppid": "1400000000"}, b"{}")
    assert _leaks(str(caught.value), []) == []


def test_config_errors_hold_no_key() -> None:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - any ConfigError text
        TencentChatProvider.from_config(
            "t", {"type": "tencent_chat", "secret_key": secrets.TENCENT_SECRET_KEY}, "<t>"
        )
    assert _leaks(str(caught.value), []) == []
