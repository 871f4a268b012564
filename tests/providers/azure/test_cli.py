"""`moderation providers` lists ``azure_content_safety``; `moderation emulate
azure_content_safety` serves the emulator over real HTTP, with its options from
``--set``."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from moderation_core import AllProvidersFailed, Decision, Label, Moderator, RateLimited

from .helpers import table

CLI_KEY = "c11c11c11c11c11c11c11c11c11c11c1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served() -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "moderation_core", "emulate", "azure_content_safety"]
    command += ["--port", str(port), "--set", f"api_key={CLI_KEY}", "--set", "rate_limit=3"]
    command += ["--set", "blocklists=House:forbidden words|nope"]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        assert "listening on" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


def test_providers_lists_azure() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "moderation_core", "providers"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "azure_content_safety" in listed.stdout
    assert "Azure AI Content" in listed.stdout


def test_the_cli_serves_the_emulator_with_its_options(served: str) -> None:
    provider_table = table(api_key=CLI_KEY, endpoint=served, blocklists=["House"])
    with Moderator({"providers": {"azure": provider_table}}) as mod:
        verdict = mod.check("nope, kill them")
        assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.VIOLENCE)
        assert verdict.keywords == ("nope",)
        # rate_limit=3 from --set: of eight quick requests at least four share a 10 s window.
        outcomes = [mod.check_many([f"text {i}"], return_exceptions=True)[0] for i in range(7)]
    errors = [o.exceptions[0] for o in outcomes if isinstance(o, AllProvidersFailed)]
    assert errors
    assert all(isinstance(e, RateLimited) and e.retry_after is not None for e in errors)
