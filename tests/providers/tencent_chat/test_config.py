"""The ``[providers.NAME]`` table for ``type = "tencent_chat"``."""

from __future__ import annotations

import logging

import pytest

from moderation_core import ConfigError, Moderator, make_plugin_manager
from moderation_core._plugins import provider_registry
from moderation_tencent_chat import REGIONS, TencentChatProvider
from tests import fake_secrets as secrets

from .helpers import SDKAPPID, config, table


def _provider(**overrides: object) -> TencentChatProvider:
    return TencentChatProvider.from_config("tencent", table(**overrides), "<dict> [providers.t]")


def test_registered_through_the_entry_point() -> None:
    registry = provider_registry(make_plugin_manager())
    assert registry.get("tencent_chat") is TencentChatProvider
    assert TencentChatProvider.emulator_factory is not None


def test_defaults() -> None:
    provider = _provider(base_url=None)
    assert provider.base_url == "https://adminapisgp.im.qcloud.com"
    assert provider.config.audit_name == "C2C"
    assert provider.config.usersig_expire == 86400
    assert provider.config.timeout == 10.0
    assert provider.config.rate_limit == 195.0
    caps = provider.capabilities
    assert (caps.batch_size, caps.max_text_bytes) == (10, 8192)
    assert {t.value for t in caps.batch_types} == {"text", "image"}
    assert {t.value for t in caps.deferred_types} == {"audio", "video"}
    assert {t.value for t in caps.content_types} == {"text", "image", "audio", "video"}


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("singapore", "adminapisgp.im.qcloud.com"),
        ("Singapore", "adminapisgp.im.qcloud.com"),
        ("china", "console.tim.qq.com"),
        ("seoul", "adminapikr.im.qcloud.com"),
        ("frankfurt", "adminapiger.im.qcloud.com"),
        ("silicon-valley", "adminapiusa.im.qcloud.com"),
        ("usa", "adminapiusa.im.qcloud.com"),
        ("jakarta", "adminapiidn.im.qcloud.com"),
        ("mumbai", "adminapiind.im.qcloud.com"),
        ("tokyo", "adminapijpn.im.qcloud.com"),
    ],
)
def test_region_picks_the_host(region: str, host: str) -> None:
    assert _provider(base_url=None, region=region).base_url == f"https://{host}"


def test_backup_domain() -> None:
    provider = _provider(base_url=None, region="singapore", backup_domain=True)
    assert provider.base_url == "https://adminapisgp.my-imcloud.com"
    assert len(REGIONS) == 8


def test_region_other_than_singapore_is_allowed_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="moderation_tencent_chat"):
        _provider(base_url=None, region="frankfurt")
    assert "Singapore data center only" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="moderation_tencent_chat"):
        _provider(base_url=None, region="singapore")
    assert caplog.text == ""


def test_base_url_keeps_its_path_and_drops_a_trailing_slash() -> None:
    assert _provider(base_url="http://127.0.0.1:9000/proxy/").base_url == (
        "http://127.0.0.1:9000/proxy"
    )


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"region": "mars", "base_url": None}, "region 'mars' is not a Tencent Chat data center"),
        ({"region": "singapore"}, "set region or base_url, not both"),
        ({"timeout": 0}, "timeout must be more than 0 s"),
        ({"timeout": float("nan")}, "timeout must be a finite number"),
        ({"timeout": float("inf")}, "timeout must be a finite number"),
        ({"rate_limit": float("nan")}, "rate_limit must be a finite number"),
        ({"base_url": "::::"}, "base_url must be an http:// or https:// URL"),
        ({"sdkappid": 0}, "sdkappid must be a positive integer"),
        ({"sdkappid": "abc"}, "sdkappid"),
        ({"sdkappid": None}, "sdkappid"),
        ({"identifier": "has space"}, "identifier must be 1-32 bytes"),
        ({"identifier": "x" * 33}, "identifier must be 1-32 bytes"),
        ({"secret_key": ""}, "secret_key is empty"),
        ({"secret_key": None}, "secret_key"),
        ({"usersig_expire": 10}, "usersig_expire must be at least 60"),
        ({"audit_name": " "}, "audit_name must not be empty"),
        ({"colour": "blue"}, "colour"),
        ({"long_text": "split"}, "long_text"),
    ],
)
def test_bad_config_is_a_config_error_naming_the_key(
    overrides: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Moderator.from_config(config(**overrides))
    message = str(caught.value)
    assert says in message
    assert "[providers.tencent]" in message
    assert secrets.TENCENT_SECRET_KEY not in message


def test_timeout_just_over_three_seconds_is_fine(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="moderation_tencent_chat"):
        assert _provider(timeout=3.5).config.timeout == 3.5
    assert caplog.text == ""


@pytest.mark.parametrize("timeout", [1, 0.5, 3])
def test_a_short_timeout_is_accepted_with_a_warning(
    caplog: pytest.LogCaptureFixture, timeout: float
) -> None:
    # Issue 9 item 14: Tencent recommends more than 3 s, it does not forbid less; an app
    # with a 2 s pre-send budget needs 1 s and a fallback.
    with (
        caplog.at_level(logging.WARNING, logger="moderation_tencent_chat"),
        Moderator.from_config(config(timeout=timeout)) as mod,
    ):
        assert mod.providers[0].config.timeout == timeout
    (record,) = [r for r in caplog.records if "timeout" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "provider tencent" in record.getMessage()
    assert "recommends more than 3 s" in record.getMessage()


def test_secret_key_and_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENT_IM_SECRET_KEY", secrets.TENCENT_SECRET_KEY)
    monkeypatch.setenv("TENCENT_IM_WEBHOOK_TOKEN", secrets.TENCENT_WEBHOOK_TOKEN)
    cfg = config(secret_key="${TENCENT_IM_SECRET_KEY}", webhook_token="${TENCENT_IM_WEBHOOK_TOKEN}")
    with Moderator.from_config(cfg) as mod:
        (provider,) = mod.providers
    assert isinstance(provider, TencentChatProvider)
    assert provider.config.secret_key.get() == secrets.TENCENT_SECRET_KEY
    assert provider.config.webhook_token is not None
    assert provider.config.webhook_token.get() == secrets.TENCENT_WEBHOOK_TOKEN


def test_describe_shows_where_and_who_but_no_secret() -> None:
    described = _provider().describe()
    assert described["host"] == "tencent-chat.test"
    assert described["sdkappid"] == SDKAPPID
    assert secrets.TENCENT_SECRET_KEY not in repr(described)


def test_common_http_keys_are_accepted() -> None:
    provider = _provider(rate_limit=200, retries=2, timeout=12)
    assert (provider.config.rate_limit, provider.config.retries) == (200, 2)
