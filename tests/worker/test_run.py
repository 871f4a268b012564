"""The worker process's event loop choice (``MODERATION_EVENT_LOOP``)."""

from __future__ import annotations

import asyncio

import pytest

from moderation_core import ConfigError
from moderation_core.worker._run import EVENT_LOOP_VARIABLE, event_loop_factory


def test_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")  # the worker extra brings it
    monkeypatch.delenv(EVENT_LOOP_VARIABLE, raising=False)
    factory, name = event_loop_factory()
    assert (factory, name) == (uvloop.new_event_loop, "uvloop")
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)


def test_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EVENT_LOOP_VARIABLE, "asyncio")
    assert event_loop_factory() == (None, "asyncio")


def test_an_unknown_loop_says_what_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EVENT_LOOP_VARIABLE, "trio")
    with pytest.raises(ConfigError, match="auto, uvloop or asyncio"):
        event_loop_factory()
