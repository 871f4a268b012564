"""Config keys, defaults, hosts and capabilities."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from moderation_core import ConfigError, Content, ContentType, Moderator, Secret
from moderation_core.testing import RecordingTransport
from moderation_shumei import (
    DEFAULT_RISK_TYPE,
    DEFAULT_TIMEOUT,
    MAX_TEXT_CHARS,
    REGIONS,
    ShumeiConfig,
    ShumeiProvider,
)

from .helpers import ACCESS_KEY, config, emulator


def build(**overrides: Any) -> ShumeiProvider:
    with Moderator.from_config(config(**overrides)) as mod:
        provider = mod.providers[0]
    assert isinstance(provider, ShumeiProvider)
    return provider


def problems(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build(**overrides)
    return list(caught.value.problems)


def test_defaults() -> None:
    provider = build()
    assert isinstance(provider.config, ShumeiConfig)
    assert isinstance(provider.config.access_key, Secret)
    # The API doc suggests a 1 s client timeout: it is the default, no warning attached.
    assert provider.config.timeout == DEFAULT_TIMEOUT == 1.0
    assert provider.config.risk_type == DEFAULT_RISK_TYPE == "TEXTRISK"
    assert provider.config.event_id == "text"
    assert provider.config.rate_limit is None  # no documented QPS; 1901 says when
    assert provider.config.retries == 0


def test_one_second_timeout_raises_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        build(base_url="https://shumei.example")
    assert not caplog.records


def test_requests_carry_the_one_second_timeout() -> None:
    recording = RecordingTransport(emulator())
    with Moderator.from_config(config(), transport=recording) as mod:
        mod.check("hello")
    (request,) = recording.requests
    timeouts = request.extensions["timeout"]
    assert all(0 < value <= 1.0 for value in timeouts.values())


def test_text_limit_is_shumeis_ten_thousand_characters() -> None:
    caps = build().capabilities
    assert caps.content_types == frozenset({ContentType.TEXT})
    assert caps.batch_size == 1
    # Characters, as Shumei counts; no byte limit: 10,000 of them are far under 1 MB.
    assert (caps.max_text_chars, caps.max_text_bytes) == (MAX_TEXT_CHARS, None)
    assert MAX_TEXT_CHARS == 10_000
    for char in ("a", "é", "好"):
        assert caps.accepts(Content.text(char * MAX_TEXT_CHARS))
        assert not caps.accepts(Content.text(char * (MAX_TEXT_CHARS + 1)))
    assert not caps.accepts(Content.image("https://example.com/a.png"))


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("beijing", "api-text-bj.fengkongcloud.com"),
        ("shanghai", "api-text-sh.fengkongcloud.com"),
        ("virginia", "api-text-fjny.fengkongcloud.com"),
        ("singapore", "api-text-xjp.fengkongcloud.com"),
        ("bj", "api-text-bj.fengkongcloud.com"),
        ("XJP", "api-text-xjp.fengkongcloud.com"),
    ],
)
def test_region_picks_the_host(region: str, host: str) -> None:
    provider = build(base_url=None, region=region)
    assert provider.url == f"https://{host}/text/v4"
    assert host in REGIONS.values()
    assert provider.describe()["host"] == host


def test_requests_go_to_the_region_host() -> None:
    recording = RecordingTransport(emulator())
    cfg = config(base_url=None, region="shanghai")
    with Moderator.from_config(cfg, transport=recording) as mod:
        mod.check("hello")
    assert [str(r.url) for r in recording.requests] == [
        "https://api-text-sh.fengkongcloud.com/text/v4"
    ]


@pytest.mark.parametrize(
    "base_url",
    [
        "https://proxy.example",
        "https://proxy.example/",
        "https://proxy.example/text/v4",
    ],
)
def test_base_url_takes_a_host_or_the_documented_url(base_url: str) -> None:
    assert build(base_url=base_url).url == "https://proxy.example/text/v4"


def test_plain_http_to_a_remote_host_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        build(base_url="http://api-text-bj.fengkongcloud.com/text/v4")
    (record,) = caplog.records
    assert "unencrypted" in record.getMessage()
    assert ACCESS_KEY not in record.getMessage()


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9000", "http://localhost:9000"])
def test_plain_http_to_this_machine_is_fine(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        build(base_url=base_url)
    assert not caplog.records


def test_scenes_pick_event_ids_in_any_case() -> None:
    provider = build(event_id="default_event", event_ids={"Group": "groupChat", "c2c": "message"})
    assert provider.event_id("Group") == provider.event_id("GROUP") == "groupChat"
    assert provider.event_id("C2C") == "message"
    assert provider.event_id("UserInfo") == "default_event"
    assert provider.event_id(None) == "default_event"


@pytest.mark.parametrize(
    "risk_type", ["TEXTRISK", "POLITY", "TEXTRISK_FRUAD", "EROTIC_DIRTY_ADVERT"]
)
def test_risk_types(risk_type: str) -> None:
    assert build(risk_type=risk_type).config.risk_type == risk_type


def test_fraud_is_spelled_as_the_vendor_spells_it() -> None:
    (problem,) = problems(risk_type="TEXTRISK_FRAUD")
    assert "risk_type" in problem
    assert "FRUAD" in problem


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"risk_type": "textrisk"}, "risk_type"),
        ({"risk_type": ""}, "risk_type"),
        ({"token_id": "not a token id"}, "token_id"),
        ({"token_id": "x" * 65}, "token_id"),
        ({"region": "mars"}, "region"),
        ({"lang": "klingon"}, "lang"),
        ({"event_id": " "}, "event_id"),
        ({"event_ids": {"Group": ""}}, "event_ids"),
        ({"timeout": 0}, "timeout"),
        ({"access_key": ""}, "access_key is empty"),
        ({"app_id": ""}, "app_id is empty"),
        ({"base_url": None}, "set region"),
        ({"region": "beijing"}, "not both"),
        ({"accesskey": "x"}, "accesskey"),
    ],
)
def test_bad_config_is_a_config_error(overrides: dict[str, Any], expected: str) -> None:
    found = problems(**overrides)
    assert any(expected in problem for problem in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems(access_key="", app_id="", base_url=None)
    assert len(found) == 3, found


def test_no_credential_in_repr_describe_or_config_errors() -> None:
    provider = build()
    assert ACCESS_KEY not in repr(provider)
    assert ACCESS_KEY not in repr(provider.config)
    assert ACCESS_KEY not in str(provider.describe())
    with pytest.raises(ConfigError) as caught:
        build(risk_type="nope", region="mars")
    assert ACCESS_KEY not in str(caught.value)
    assert ACCESS_KEY not in repr(caught.value.problems)
