"""The CLI as a user runs it, in a child process: ``moderation providers`` and a
vendor's emulator served by ``moderation emulate TYPE --set key=value``."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from moderation_core import AllProvidersFailed, Moderator

CLI = (sys.executable, "-m", "moderation_core")


def listed_providers() -> str:
    """What ``moderation providers`` prints."""
    return subprocess.run([*CLI, "providers"], capture_output=True, text=True, check=True).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulated(provider_type: str, settings: Mapping[str, str]) -> Iterator[str]:
    """``moderation emulate provider_type`` with ``--set`` for each setting, on a free
    port, until the block ends; yields its base URL once it listens."""
    port = free_port()
    command = [*CLI, "emulate", provider_type, "--port", str(port)]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        assert "listening on" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


def quick_failures(mod: Moderator, count: int) -> list[BaseException]:
    """The provider error behind each of ``count`` checks sent back to back that failed
    (a served emulator's rate limit, say)."""
    outcomes = [mod.check_many([f"text {i}"], return_exceptions=True)[0] for i in range(count)]
    return [o.exceptions[0] for o in outcomes if isinstance(o, AllProvidersFailed)]
