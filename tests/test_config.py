"""Config: every mistake is a ConfigError naming the key, variable or type and where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from moderation_core import ConfigError, Moderator, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "moderation.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_file_and_dict_give_the_same_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[moderation]\nproviders = ["mine"]\nfail_mode = "review"\n\n'
        '[providers.mine]\ntype = "local"\nrules = false\n',
    )
    from_file = load_config(path)
    from_dict = load_config(
        {
            "moderation": {"providers": ["mine"], "fail_mode": "review"},
            "providers": {"mine": {"type": "local", "rules": False}},
        }
    )
    assert from_file.order == from_dict.order == ("mine",)
    assert from_file.moderation == from_dict.moderation
    assert from_file.providers == from_dict.providers
    assert from_file.source == str(path)
    assert from_dict.source == "<dict>"


def test_provider_order_defaults_to_table_order() -> None:
    config = load_config({"providers": {"b": {"type": "local"}, "a": {"type": "local"}}})
    assert config.order == ("b", "a")


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_ALLOWED", "assassin's creed")
    config = load_config({"providers": {"local": {"type": "local", "allow": ["${MY_ALLOWED}"]}}})
    assert config.providers["local"]["allow"] == ["assassin's creed"]


def test_missing_env_var_names_the_variable_key_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(tmp_path, '[providers.t]\ntype = "local"\nallow = ["${NOT_SET_ANYWHERE}"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "NOT_SET_ANYWHERE" in message
    assert "[providers.t]" in message
    assert "allow[0]" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"moderation": {"strategy": "fallback", "colour": 1}},
            "[moderation]: unknown key(s) colour",
        ),
        ({"moderaton": {}}, "unknown key(s) moderaton"),
        (
            {"providers": {"x": {"type": "local", "lexicon": []}}},
            "[providers.x]: unknown key(s) lexicon",
        ),
        ({"providers": {"x": {"type": "vendorx"}}}, "unknown provider type 'vendorx'"),
        ({"providers": {"x": {"rules": True}}}, "[providers.x]: needs a type"),
        (
            {"moderation": {"strategy": "loudest"}},
            "[moderation]: strategy must be one of fallback, strictest, shadow (got 'loudest')",
        ),
        ({"moderation": {"fail_mode": "maybe"}}, "[moderation]: fail_mode must be one of"),
        (
            {"moderation": {"providers": ["ghost"]}, "providers": {"x": {"type": "local"}}},
            "no [providers.ghost] table",
        ),
        (
            {"moderation": {"providers": []}, "providers": {"x": {"type": "local"}}},
            "[moderation]: providers is empty",
        ),
        ({}, "no providers configured"),
        ({"providers": {"x": {"type": "local", "builtin": "yes please"}}}, "builtin"),
    ],
)
def test_config_errors_say_what_to_fix(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Moderator(config)
    assert expected in str(caught.value)
    assert "<dict>" in str(caught.value)


def test_unknown_type_lists_installed_types() -> None:
    with pytest.raises(ConfigError, match=r"installed types: .*local"):
        Moderator({"providers": {"x": {"type": "nope"}}})


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    broken = write(tmp_path, "[moderation\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
