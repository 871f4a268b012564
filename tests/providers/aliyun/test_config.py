"""Config keys, defaults, hosts and capabilities."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from moderation_aliyun import (
    DEFAULT_MAX_TEXT_CHARS,
    DEFAULT_RATE_LIMIT,
    DEFAULT_SERVICES,
    REGIONS,
    AliyunGreenConfig,
    AliyunGreenProvider,
)
from moderation_core import ConfigError, Content, ContentType, Moderator, Secret

from .helpers import ACCESS_KEY_ID, ACCESS_KEY_SECRET, config


def build(**overrides: Any) -> AliyunGreenProvider:
    with Moderator.from_config(config(**overrides)) as mod:
        provider = mod.providers[0]
    assert isinstance(provider, AliyunGreenProvider)
    return provider


def problems(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build(**overrides)
    return list(caught.value.problems)


def test_defaults() -> None:
    provider = build(rate_limit=None, base_url=None)
    config_ = provider.config
    assert isinstance(config_, AliyunGreenConfig)
    assert isinstance(config_.access_key_id, Secret)
    assert isinstance(config_.access_key_secret, Secret)
    assert config_.action == "TextModerationPlus"
    assert config_.signature == "acs3"
    assert (config_.review_at, config_.block_at) == ("low", "high")
    assert config_.rate_limit == DEFAULT_RATE_LIMIT == 95.0  # a little under 100 QPS
    assert (
        provider.service_for(None) == DEFAULT_SERVICES["TextModerationPlus"] == "chat_detection_pro"
    )
    assert provider.url == "https://green-cip.cn-shanghai.aliyuncs.com/"
    assert provider.capabilities.max_text_chars == DEFAULT_MAX_TEXT_CHARS["TextModerationPlus"]
    assert provider.capabilities.max_text_bytes is None  # the vendor counts characters only
    assert provider.capabilities.content_types == frozenset({ContentType.TEXT})
    assert provider.capabilities.batch_size == 1


def test_text_moderation_defaults() -> None:
    provider = build(action="TextModeration")
    assert provider.service_for(None) == "chat_detection"
    assert provider.capabilities.max_text_chars == 600


def test_max_text_chars_is_configurable() -> None:
    assert build(max_text_chars=5000).capabilities.max_text_chars == 5000


@pytest.mark.parametrize("region", list(REGIONS))
def test_every_region_picks_its_host(region: str) -> None:
    provider = build(base_url=None, region=region)
    assert provider.url == f"https://green-cip.{region}.aliyuncs.com/"


@pytest.mark.parametrize("region", [name for name, vpc in REGIONS.items() if vpc])
def test_vpc_hosts(region: str) -> None:
    provider = build(base_url=None, region=region, vpc=True)
    assert provider.url == f"https://green-cip-vpc.{region}.aliyuncs.com/"


def test_base_url_replaces_the_host() -> None:
    assert build(base_url="http://127.0.0.1:9000").url == "http://127.0.0.1:9000/"


def test_scenes_pick_services_without_case() -> None:
    provider = build(service="comment_detection_pro", services={"Group": "chat_detection_pro"})
    assert provider.service_for("group") == "chat_detection_pro"
    assert provider.service_for("C2C") == "comment_detection_pro"
    assert provider.service_for(None) == "comment_detection_pro"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"access_key_id": ""}, "access_key_id is empty"),
        ({"access_key_secret": ""}, "access_key_secret is empty"),
        (
            {"review_at": "high", "block_at": "medium"},
            "review_at (high) must not be above block_at (medium)",
        ),
        ({"region": "cn-shanghai"}, "set region or base_url, not both"),
        ({"vpc": True}, "with base_url, leave vpc out"),
        ({"base_url": None, "region": "cn-chengdu", "vpc": True}, "has no documented VPC endpoint"),
    ],
)
def test_problems_across_keys(overrides: dict[str, Any], expected: str) -> None:
    assert any(expected in line for line in problems(**overrides))


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("region", "mars-1", "region must be one of"),
        ("action", "ImageModeration", "action"),
        ("signature", "v2", "signature"),
        ("review_at", "none", "review_at must be one of low, medium, high, max"),
        ("block_at", "severe", "block_at must be one of"),
        ("service", "chat detection", "service must be a service code"),
        ("services", {"Group": ""}, "services maps non-empty scenes"),
        ("max_text_chars", 0, "max_text_chars"),
        ("rate_limit", -1, "rate_limit"),
        ("secret", "x", "secret"),
    ],
)
def test_each_key_is_checked(key: str, value: Any, expected: str) -> None:
    assert any(expected in line for line in problems(**{key: value}))


def test_every_problem_at_once() -> None:
    found = problems(access_key_id="", access_key_secret="", region="mars-1", block_at="x")
    assert len(found) >= 2


def test_secrets_stay_out_of_reprs_and_messages() -> None:
    provider = build(security_token="sts-token-value-123")
    for text in (repr(provider), repr(provider.config), repr(provider.describe())):
        for secret in (ACCESS_KEY_ID, ACCESS_KEY_SECRET, "sts-token-value-123"):
            assert secret not in text
    lines = problems(access_key_secret=ACCESS_KEY_SECRET, region="mars-1")
    assert not any(ACCESS_KEY_SECRET in line or ACCESS_KEY_ID in line for line in lines)


def test_rate_limit_over_the_vendor_s_quota_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        build(rate_limit=200)
    assert any("100 QPS" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build()
    assert not caplog.records


def test_describe_is_plain_data() -> None:
    described = build(action="TextModeration", signature="v1").describe()
    assert described["action"] == "TextModeration"
    assert described["signature"] == "v1"
    assert described["host"] == "green-cip.test"


def test_images_are_not_taken() -> None:
    provider = build()
    assert not provider.capabilities.accepts(Content.image("https://example.com/a.png"))
