"""Plugins: entry points, blocking, registry errors, and the example plugin installed
through the same entry-point machinery a real install uses."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import httpx
import pytest
from pluggy import PluginValidationError

from moderation_core import (
    ConfigError,
    Decision,
    Label,
    Moderator,
    ProviderRegistry,
    hookimpl,
    make_plugin_manager,
)
from moderation_core._plugins import BLOCK_ENV, provider_registry
from tests.fakes import FakeProvider

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "moderation_example"


def test_builtin_providers_register_through_entry_points() -> None:
    pm = make_plugin_manager()
    assert "local" in dict(pm.list_name_plugin())
    assert "local" in provider_registry(pm)


def test_no_entry_points_means_no_providers() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    assert len(provider_registry(pm)) == 0
    with pytest.raises(ConfigError, match="unknown provider type 'local'; installed types: none"):
        Moderator(plugin_manager=pm)


def test_env_var_blocks_named_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BLOCK_ENV, "local")
    pm = make_plugin_manager()
    assert "local" not in provider_registry(pm)
    monkeypatch.setenv(BLOCK_ENV, "*")
    assert len(provider_registry(make_plugin_manager())) == 0


def test_a_type_registered_twice_is_a_config_error() -> None:
    registry = ProviderRegistry()
    registry.add(FakeProvider)

    class Impostor(FakeProvider):
        pass

    with pytest.raises(ConfigError, match="provider type 'fake' is registered twice"):
        registry.add(Impostor)


def test_registry_refuses_non_providers() -> None:
    with pytest.raises(TypeError, match="not a moderation_core Provider"):
        ProviderRegistry().add(dict)  # type: ignore[arg-type]


def test_misspelled_hook_fails_loudly() -> None:
    class Typo:
        @hookimpl
        def register_provider(self, registry: ProviderRegistry) -> None: ...

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Typo())
    with pytest.raises(PluginValidationError):
        pm.check_pending()


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the example plugin the way pip would expose it: a dist-info folder with
    its entry points on sys.path, and the module importable."""
    dist = tmp_path / "moderation_example-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: moderation-example\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[moderation_core]\nacme = moderation_example\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, "moderation_example", raising=False)


@pytest.mark.usefixtures("installed_example")
def test_example_plugin_loads_through_entry_points_and_checks() -> None:
    pm = make_plugin_manager()
    registry = provider_registry(pm)
    assert "acme" in registry
    emulator = registry.get("acme").emulator_factory
    assert emulator is not None
    config = {
        "moderation": {"providers": ["acme", "local"]},
        "providers": {
            "acme": {"type": "acme", "api_key": "demo-key", "base_url": "http://acme.test"},
            "local": {"type": "local"},
        },
    }
    transport = httpx.MockTransport(emulator(api_key="demo-key"))
    with Moderator(config, plugin_manager=pm, transport=transport) as mod:
        insult, spam, fine = mod.check_many(["you idiot", "buy now!!", "hello"])
        assert (insult.decision, insult.label, insult.score) == (Decision.BLOCK, Label.ABUSE, 95)
        assert (spam.decision, spam.label) == (Decision.REVIEW, Label.AD)
        assert fine.decision is Decision.PASS
        assert {v.provider for v in (insult, spam, fine)} == {"acme"}
        assert "demo-key" not in repr(mod.providers[0].config)


@pytest.mark.usefixtures("installed_example")
def test_example_plugin_falls_back_to_local_when_its_key_is_refused() -> None:
    pm = make_plugin_manager()
    emulator = provider_registry(pm).get("acme").emulator_factory
    assert emulator is not None
    config = {
        "moderation": {"providers": ["acme", "local"]},
        "providers": {
            "acme": {"type": "acme", "api_key": "wrong", "base_url": "http://acme.test"},
            "local": {"type": "local"},
        },
    }
    transport = httpx.MockTransport(emulator(api_key="demo-key"))
    with Moderator(config, plugin_manager=pm, transport=transport) as mod:
        verdict = mod.check("你这个傻逼")
    assert (verdict.provider, verdict.decision) == ("local", Decision.BLOCK)
