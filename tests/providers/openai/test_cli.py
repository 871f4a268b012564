"""`moderation providers` lists ``openai``; `moderation emulate openai` serves the
emulator over real HTTP, with its options from ``--set``."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from moderation_core import AllProvidersFailed, Decision, Label, Moderator, RateLimited

from .helpers import table

CLI_KEY = "sk-from-the-cli-0000000000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served() -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "moderation_core", "emulate", "openai", "--port", str(port)]
    command += ["--set", f"api_key={CLI_KEY}", "--set", "rpm=2", "--set", "retry_after_ms=none"]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        assert "listening on" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


def test_providers_lists_openai() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "moderation_core", "providers"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "openai" in listed.stdout
    assert "OpenAI Moderation" in listed.stdout


def test_the_cli_serves_the_emulator_with_its_options(served: str) -> None:
    with Moderator({"providers": {"openai": table(api_key=CLI_KEY, base_url=served)}}) as mod:
        verdict = mod.check("you idiot")
        assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.ABUSE)
        # rpm=2 from --set: of five quick requests at least three share a minute window.
        outcomes = [mod.check_many([f"text {i}"], return_exceptions=True)[0] for i in range(4)]
    errors = [o.exceptions[0] for o in outcomes if isinstance(o, AllProvidersFailed)]
    assert errors
    assert all(isinstance(e, RateLimited) for e in errors)
    # retry_after_ms=none left retry-after-ms out: retry-after (1 s) is what was read
    assert {e.retry_after for e in errors if isinstance(e, RateLimited)} == {1.0}
