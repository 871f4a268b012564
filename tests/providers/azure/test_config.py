"""The ``[providers.NAME]`` table of ``type = "azure_content_safety"``: keys, defaults,
every problem at once, warnings, and no key in a repr or an error."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from moderation_azure import (
    API_VERSION,
    DEFAULT_RATE_LIMIT,
    MAX_TEXT_CHARS,
    AzureConfig,
    AzureContentSafetyProvider,
)
from moderation_core import ConfigError, ContentType, Moderator
from tests.support.providers import config_problems

from .helpers import API_KEY, ENDPOINT, HOST, provider, table


def read(**overrides: Any) -> AzureConfig:
    return AzureContentSafetyProvider.read_config("azure", table(**overrides), "[providers.azure]")


def problems(**overrides: Any) -> tuple[str, ...]:
    return config_problems(read, API_KEY, **overrides)


def test_defaults() -> None:
    config = AzureContentSafetyProvider.read_config(
        "azure",
        {"type": "azure_content_safety", "endpoint": ENDPOINT, "api_key": API_KEY},
        "[providers.azure]",
    )
    assert config.api_version == API_VERSION == "2024-09-01"
    assert config.output_type == "FourSeverityLevels"
    assert config.categories is None  # all four
    assert (config.blocklists, config.halt_on_blocklist_hit) == ([], False)
    assert (config.review_at, config.block_at) == (2, 4)
    # 1,000 requests per 10 s is the vendor's quota: a little under it.
    assert config.rate_limit == DEFAULT_RATE_LIMIT == 97.0


def test_every_key_of_the_issue_is_read() -> None:
    config = read(
        api_version="2023-10-01",
        categories=["Hate", "Violence"],
        output_type="EightSeverityLevels",
        blocklists=["TestBlocklist", "my.list~2"],
        halt_on_blocklist_hit=True,
        review_at=3,
        block_at=6,
        timeout=5.0,
        retries=2,
    )
    assert config.categories == ["Hate", "Violence"]
    assert config.output_type == "EightSeverityLevels"
    assert config.blocklists == ["TestBlocklist", "my.list~2"]
    assert config.halt_on_blocklist_hit
    assert (config.review_at, config.block_at, config.api_version) == (3, 6, "2023-10-01")


def test_capabilities_text_by_characters_and_images_one_at_a_time() -> None:
    caps = provider().capabilities
    assert caps.content_types == {ContentType.TEXT, ContentType.IMAGE}
    assert caps.batch_size == 1
    assert (caps.max_text_chars, caps.max_text_bytes) == (MAX_TEXT_CHARS, None)
    described = provider(categories=["Sexual"], blocklists=["B"]).describe()
    assert described["host"] == HOST
    assert described["max_text_chars"] == 10_000
    assert (described["categories"], described["blocklists"]) == (["Sexual"], ["B"])


@pytest.mark.parametrize(
    ("settings", "host"),
    [
        ({"endpoint": ENDPOINT + "/"}, HOST),
        ({"endpoint": ENDPOINT + "/contentsafety"}, HOST),
        ({"base_url": "http://127.0.0.1:9000"}, "127.0.0.1"),  # base_url wins: the emulator
        ({"endpoint": None, "base_url": "http://127.0.0.1:9000"}, "127.0.0.1"),
    ],
)
def test_the_endpoint_in_its_spellings(settings: dict[str, Any], host: str) -> None:
    assert provider(**settings).describe()["host"] == host


def test_the_key_never_shows_in_a_repr() -> None:
    config = read()
    assert API_KEY not in repr(config)
    made = AzureContentSafetyProvider("azure", config)
    assert API_KEY not in repr(made) + repr(made.describe())


def test_a_missing_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="api_key"):
        AzureContentSafetyProvider.read_config(
            "azure", {"type": "azure_content_safety", "endpoint": ENDPOINT}, "[providers.azure]"
        )


def test_every_problem_is_reported_at_once() -> None:
    found = problems(endpoint=None, api_key="", review_at=5, block_at=3)
    text = "\n".join(found)
    assert "endpoint is required" in text
    assert "api_key is empty" in text
    assert "review_at (5) is above block_at (3)" in text
    assert len(found) == 3


def test_a_threshold_above_the_scale_is_a_problem() -> None:
    (problem,) = problems(block_at=7)  # four levels answer at most 6
    assert "block_at (7) is above FourSeverityLevels' highest severity (6)" in problem
    assert read(block_at=7, output_type="EightSeverityLevels").block_at == 7


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("endpoint", "ftp://contoso.example"),
        ("endpoint", "not a url"),
        ("endpoint", ENDPOINT + "?x=1"),
        ("api_version", "latest"),
        ("categories", ["Hate", "Harassment"]),
        ("categories", ["hate"]),  # the vendor's spelling only
        ("categories", []),
        ("categories", ["Hate", "Hate"]),
        ("output_type", "FiveSeverityLevels"),
        ("blocklists", ["has space"]),
        ("blocklists", ["x" * 65]),
        ("review_at", 0),
        ("block_at", 8),
        ("review_at", "2"),
        ("halt_on_blocklist_hit", "yes"),
        ("rate_limit", -1),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(key: str, value: object) -> None:
    found = problems(**{key: value})
    assert any(key in problem for problem in found), found


def test_unknown_keys_are_refused() -> None:
    assert any("apikey" in p for p in problems(apikey="x"))


def test_unwise_settings_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        read(halt_on_blocklist_hit=True, review_at=3)
    assert "halt_on_blocklist_hit does nothing without blocklists" in caplog.text
    assert "review_at 3 acts as 4" in caplog.text
    assert API_KEY not in caplog.text


def test_the_api_key_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_AZURE_KEY", API_KEY)
    cfg = {"providers": {"azure": table(api_key="${TEST_AZURE_KEY}")}}
    with Moderator.from_config(cfg) as mod:
        assert mod.providers[0].config.api_key.get() == API_KEY
