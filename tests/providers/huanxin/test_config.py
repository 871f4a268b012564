"""Config keys, hosts and capabilities."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from moderation_core import ConfigError, Content, ContentType, InvalidContent, Moderator, Secret
from moderation_huanxin import DEFAULT_RATE_LIMIT, REGIONS, HuanxinConfig, HuanxinProvider

from .helpers import config, emulator, table


def build(**overrides: Any) -> HuanxinProvider:
    with Moderator.from_config(config(**overrides)) as mod:
        provider = mod.providers[0]
    assert isinstance(provider, HuanxinProvider)
    return provider


def test_defaults() -> None:
    provider = build(rate_limit=None)  # the test table turns pacing off; drop that
    assert isinstance(provider.config, HuanxinConfig)
    assert provider.config.rate_limit == DEFAULT_RATE_LIMIT == 97
    assert (provider.config.timeout, provider.config.retries) == (10.0, 0)
    assert provider.config.token_ttl is None
    assert isinstance(provider.config.client_secret, Secret)


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("china-1", "a1.easemob.com"),
        ("china-2", "a31.easemob.com"),
        ("singapore-1", "a1-sgp.easemob.com"),
        ("singapore-2", "a61.easemob.com"),
        ("us-east-1", "a41.easemob.com"),
        ("germany-2", "a71.easemob.com"),
    ],
)
def test_region_picks_the_host(region: str, host: str) -> None:
    provider = build(base_url=None, region=region)
    assert provider.base_url == f"https://{host}"
    assert REGIONS[region] == f"https://{host}"
    assert provider.describe()["host"] == host


def test_requests_go_to_the_region_host() -> None:
    seen: list[str] = []
    emu = emulator()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return emu(request)

    cfg = config(base_url=None, region="singapore-1")
    with Moderator.from_config(cfg, transport=httpx.MockTransport(handler)) as mod:
        mod.check("hello")
    assert seen == [
        "https://a1-sgp.easemob.com/fake-org/fake-app/token",
        "https://a1-sgp.easemob.com/fake-org/fake-app/moderation/txt/check",
    ]


def test_base_url_trailing_slash() -> None:
    assert build(base_url="http://127.0.0.1:9000/").base_url == "http://127.0.0.1:9000"


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HX_SECRET_FOR_TEST", "from-env-secret")
    provider = build(client_secret="${HX_SECRET_FOR_TEST}")
    assert provider.config.client_secret.get() == "from-env-secret"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_url": None}, "set region (one of china-1"),
        ({"region": "singapore-1"}, "not both"),
        ({"base_url": None, "region": "mars-1"}, "unknown region 'mars-1'"),
        ({"base_url": "a1.easemob.com"}, "http:// or https://"),
        ({"token_ttl": -5}, "token_ttl must be >= 0"),
        ({"rate_limit": -1}, "rate_limit must be 0 (no limit) or more"),
        ({"org_name": "a/b"}, "org_name must be"),
        ({"app_name": ""}, "app_name must be"),
        ({"client_secret": ""}, "client_secret is empty"),
        ({"bogus": 1}, "unknown key(s) bogus"),
        ({"timeout": "fast"}, "timeout"),
    ],
)
def test_config_errors_say_what_to_fix(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Moderator.from_config(config(**overrides))
    assert message in str(info.value)
    assert "[providers.huanxin]" in str(info.value)


def test_missing_required_key() -> None:
    incomplete = table()
    del incomplete["client_id"]
    with pytest.raises(ConfigError, match="client_id"):
        Moderator.from_config({"providers": {"huanxin": incomplete}})


def test_direct_construction_is_checked_too() -> None:
    bad = HuanxinConfig(
        type="huanxin", org_name="o", app_name="a", client_id="c", client_secret=Secret("s")
    )
    with pytest.raises(ConfigError, match="set region"):
        HuanxinProvider("hx", bad)


def test_capabilities_text_only_one_at_a_time() -> None:
    caps = build().capabilities
    assert caps.content_types == frozenset({ContentType.TEXT})
    assert caps.batch_size == 1
    assert not caps.accepts(Content.image("https://x.example/a.png"))


def test_images_are_refused_before_any_request() -> None:
    emu = emulator()
    with (
        Moderator.from_config(config(), transport=httpx.MockTransport(emu)) as mod,
        pytest.raises(InvalidContent, match="no configured provider accepts image"),
    ):
        mod.check(Content.image("https://x.example/a.png"))
    assert emu.token_requests == 0
