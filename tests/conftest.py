from __future__ import annotations

import pluggy
import pytest

from moderation_core import make_plugin_manager
from tests.fakes import FakePlugin, FakeVendor, Recorder


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """A fresh manager: the installed providers plus the fake one."""
    pm = make_plugin_manager()
    pm.register(FakePlugin(), name="fake")
    return pm


@pytest.fixture
def recorder(plugin_manager: pluggy.PluginManager) -> Recorder:
    recorder = Recorder()
    plugin_manager.register(recorder, name="recorder")
    return recorder


@pytest.fixture
def vendor() -> FakeVendor:
    return FakeVendor()
