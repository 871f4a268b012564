from __future__ import annotations

import os

import pluggy
import pytest
import redis

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


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis on 127.0.0.1:6379. Missing: skipped locally, a failure under CI."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return REDIS_URL
