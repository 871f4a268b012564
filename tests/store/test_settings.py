"""The [store] table: structured and checked, every problem named, no password shown."""

from __future__ import annotations

from typing import Any

import pytest

from moderation_core._config import load_config
from moderation_core._errors import ConfigError
from moderation_core.store import StoreSettings, store_settings

PROVIDERS = {"providers": {"local": {"type": "local"}}}


def settings_of(store: dict[str, Any]) -> StoreSettings | None:
    return store_settings(load_config({**PROVIDERS, "store": store}))


def test_no_store_table_is_no_store() -> None:
    assert store_settings(load_config(PROVIDERS)) is None


def test_the_keys_and_their_defaults() -> None:
    settings = settings_of({"url": "sqlite:///m.db", "retention": "30d", "keep_content": True})
    assert settings is not None
    assert settings.retention == 30 * 86400
    assert settings.keep_content is True
    assert settings_of({"keep_content": False}) == StoreSettings()
    assert StoreSettings().keep_content is False
    assert StoreSettings().url == "sqlite:///moderation.db"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_of({"url": "sqlite:///m.db", "retention": "soon", "batch_size": 0, "colour": 1})
    text = str(caught.value)
    assert "retention" in text
    assert "colour" in text


def test_a_password_in_the_url_is_not_in_the_repr() -> None:
    settings = settings_of({"url": "postgresql://app:hunter2-secret@db/moderation"})
    assert "hunter2" not in repr(settings)
