"""`moderation emulate TYPE --port N` serves a vendor emulator over real HTTP, and a
Moderator pointed at it checks through the vendor's real wire protocol."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moderation_core import Decision, Label, Moderator
from tests import fake_secrets
from tests.support.cli import emulated, free_port


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    provider_type, *options = request.param
    settings = dict(option.split("=", 1) for option in options)
    with emulated(provider_type, settings) as url:
        yield url


TENCENT: dict[str, Any] = {
    "type": "tencent_chat",
    "sdkappid": 1400000000,
    "identifier": "admin",
    "secret_key": fake_secrets.TENCENT_SECRET_KEY,
}


@pytest.mark.parametrize("served", [("tencent_chat",)], indirect=True)
def test_tencent_emulator_served_by_the_cli(served: str) -> None:
    config = {"providers": {"tencent": {**TENCENT, "base_url": served}}}
    with Moderator(config) as mod:
        clean, dirty = mod.check_many(["hello there", "abc123"])
    assert clean.decision is Decision.PASS
    # the seed's batch example: ContentId 0 "abc123" is Polity / Block
    assert (dirty.decision, dirty.label) == (Decision.BLOCK, Label.POLITICS)
    assert dirty.provider == "tencent"


@pytest.mark.parametrize(
    "served",
    [
        (
            "huanxin",
            f"client_id={fake_secrets.HUANXIN_CLIENT_ID}",
            f"client_secret={fake_secrets.HUANXIN_CLIENT_SECRET}",
        )
    ],
    indirect=True,
)
def test_huanxin_emulator_served_by_the_cli(served: str) -> None:
    table = {
        "type": "huanxin",
        "base_url": served,
        "org_name": "demo-org",
        "app_name": "demo-app",
        "client_id": fake_secrets.HUANXIN_CLIENT_ID,
        "client_secret": fake_secrets.HUANXIN_CLIENT_SECRET,
    }
    with Moderator({"providers": {"huanxin": table}}) as mod:
        assert mod.check("hello there").decision is Decision.PASS


def test_ctrl_c_stops_the_emulator_quietly() -> None:
    """Issue 9 item 9: Ctrl-C used to end in `RuntimeError: Cannot close a running event loop`."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "moderation_core", "emulate", "tencent_chat", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        assert "listening on" in child.stderr.readline()
        # A keep-alive connection still open when the signal lands.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            client.get("/")
            child.send_signal(signal.SIGINT)
            status = child.wait(timeout=20)
        rest = child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert status == 130, rest
    assert "Traceback" not in rest
    assert "Error" not in rest
