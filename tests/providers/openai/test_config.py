"""The ``[providers.NAME]`` table of ``type = "openai"``: keys, defaults, every problem
at once, warnings, and no key in a repr or an error."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from moderation_core import ConfigError, Moderator
from moderation_openai import (
    DEFAULT_RATE_LIMIT,
    CategoryThresholds,
    OpenAIConfig,
    OpenAIProvider,
)
from tests.support.providers import config_problems

from .helpers import API_KEY, table


def read(**overrides: Any) -> OpenAIConfig:
    return OpenAIProvider.read_config("openai", table(**overrides), "[providers.openai]")


def problems(**overrides: Any) -> tuple[str, ...]:
    return config_problems(read, API_KEY, **overrides)


def test_defaults() -> None:
    config = OpenAIProvider.read_config(
        "openai", {"type": "openai", "api_key": API_KEY}, "[providers.openai]"
    )
    assert config.model == "omni-moderation-latest"
    assert config.batch_size == 8
    assert config.review_at == 0.3
    assert config.rate_limit == DEFAULT_RATE_LIMIT == 4.0
    assert config.base_url is None
    assert config.thresholds == {}
    assert (config.organization, config.project) == (None, None)


def test_every_key_of_the_issue_is_read() -> None:
    config = read(
        organization="org-abc",
        project="proj_def",
        model="text-moderation-stable",
        batch_size=4,
        thresholds={"hate": {"review_at": 0.3, "block_at": 0.8}, "violence": {"block_at": 0.7}},
        timeout=5.0,
        retries=2,
    )
    assert config.thresholds == {
        "hate": CategoryThresholds(review_at=0.3, block_at=0.8),
        "violence": CategoryThresholds(block_at=0.7),
    }
    assert (config.organization, config.project, config.model) == (
        "org-abc",
        "proj_def",
        "text-moderation-stable",
    )
    assert (config.batch_size, config.timeout, config.retries) == (4, 5.0, 2)


def test_the_key_never_shows_in_a_repr() -> None:
    config = read()
    assert API_KEY not in repr(config)
    assert API_KEY not in repr(OpenAIProvider("openai", config))


def test_a_missing_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="api_key"):
        OpenAIProvider.read_config("openai", {"type": "openai"}, "[providers.openai]")


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        api_key="",
        thresholds={"violnce": {"review_at": 0.2}, "hate": {"review_at": 0.9, "block_at": 0.5}},
    )
    text = "\n".join(found)
    assert "api_key is empty" in text
    assert "'violnce' is not an OpenAI category" in text
    assert "thresholds.hate: review_at (0.9) is above block_at (0.5)" in text
    assert len(found) == 3


def test_the_config_review_at_above_a_category_block_at_is_a_problem() -> None:
    (problem,) = problems(review_at=0.6, thresholds={"hate": {"block_at": 0.5}})
    assert "thresholds.hate" in problem


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_size", 0),
        ("max_text_bytes", 8),
        ("review_at", 1.5),
        ("review_at", -0.1),
        ("thresholds", {"hate": {"block_at": 2}}),
        ("thresholds", {"hate": {"blok_at": 0.5}}),
        ("model", " "),
        ("organization", ""),
        ("rate_limit", -1),
        ("batch_size", "8"),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(key: str, value: object) -> None:
    found = problems(**{key: value})
    assert any(key in problem for problem in found), found


def test_unknown_keys_are_refused() -> None:
    assert any("apikey" in p for p in problems(apikey="x"))


def test_unwise_settings_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        read(batch_size=200, model="text-moderation-latest")
    text = caplog.text
    assert "batch_size is 200" in text
    assert "legacy text-moderation model" in text
    assert API_KEY not in text


def test_the_api_key_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", API_KEY)
    with Moderator.from_config(
        {"providers": {"openai": {"type": "openai", "api_key": "${TEST_OPENAI_KEY}"}}}
    ) as mod:
        assert mod is not None
