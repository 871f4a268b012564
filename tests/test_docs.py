"""Docs that tests keep honest: the README's commands and examples, the hooks'
signatures, the example plugin's code and every documented config key."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import moderation_core
from moderation_core._config import ModerationSettings
from moderation_core._plugins import HookSpecs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PLUGINS = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_readme_opens_with_the_two_commands() -> None:
    first_block = code_blocks(README, "sh")[0].splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == ["./dev demo", "./dev test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\n./dev test\n" in ci


@pytest.mark.parametrize(
    "block",
    [b for b in code_blocks(README, "python") if "moderation.toml" not in b],
)
def test_readme_python_examples_run(block: str) -> None:
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own README


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    documented = code_blocks(PLUGINS, "python")[0]
    hooks = [name for name in vars(HookSpecs) if not name.startswith("_")]
    assert hooks
    for name in hooks:
        signature = inspect.signature(getattr(HookSpecs, name))
        params = [p for p in signature.parameters.values() if p.name != "self"]
        shown = ", ".join(f"{p.name}: {p.annotation}" for p in params)
        returns = signature.return_annotation
        assert f"def {name}({shown}) -> {returns}:" in documented, name


def test_docs_show_the_example_plugin_as_it_is() -> None:
    example = ROOT / "examples" / "moderation_example"
    assert (example / "moderation_example.py").read_text(encoding="utf-8").rstrip() in PLUGINS
    assert (example / "pyproject.toml").read_text(encoding="utf-8").rstrip() in PLUGINS


def test_every_moderation_key_is_in_the_config_reference() -> None:
    reference = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    for field in ModerationSettings.__attrs_attrs__:
        assert f"| `{field.name}` |" in reference, field.name


def test_public_surface_is_sorted_and_complete() -> None:
    exported = moderation_core.__all__
    assert exported == sorted(exported)
    public = {name for name in vars(moderation_core) if not name.startswith("_")}
    assert public == set(exported)
