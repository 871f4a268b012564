"""The whole path: config -> Moderator -> HTTP -> emulator, in-process and over real
HTTP, sync and async, each action and each signature; the conformance check; the CLI."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from moderation_aliyun import AliyunGreenProvider
from moderation_aliyun.emulator import make_emulator
from moderation_core import AsyncModerator, Decision, Label, Moderator
from moderation_core._cli import main
from moderation_core.testing import assert_conforms, serve

from .helpers import ACCESS_KEY_ID, ACCESS_KEY_SECRET, config, emulator, table

MODES = [
    {"signature": signature, "action": action}
    for signature in ("acs3", "v1")
    for action in ("TextModerationPlus", "TextModeration")
]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: f"{m['signature']}-{m['action']}")
def test_conforms(mode: dict[str, str]) -> None:
    report = assert_conforms(
        table(**mode), emulator=emulator, item_error="hello [[fault:ServiceUnavailable]]"
    )
    assert not [r for r in report.results if r.outcome == "skipped" and "item" in r.name]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: f"{m['signature']}-{m['action']}")
def test_over_real_http(mode: dict[str, str]) -> None:
    with (
        serve(emulator()) as base_url,
        Moderator.from_config(config(base_url=base_url, **mode)) as mod,
    ):
        verdicts = mod.check_many(["hello", "你这个傻逼", "加我微信 abc123"], sender="u1")
    assert [(v.decision, v.label) for v in verdicts] == [
        (Decision.PASS, Label.NORMAL),
        (Decision.BLOCK, Label.ABUSE),
        (Decision.REVIEW, Label.AD),
    ]


@pytest.mark.parametrize("signature", ["acs3", "v1"])
async def test_async_over_real_http(signature: str) -> None:
    with serve(emulator()) as base_url:
        async with AsyncModerator.from_config(
            config(base_url=base_url, signature=signature)
        ) as mod:
            verdicts = await asyncio.gather(*(mod.check(f"hello {i}") for i in range(20)))
            abuse = await mod.check("you idiot")
    assert all(v.decision is Decision.PASS for v in verdicts)
    assert abuse.masked_text == "you *****"


def test_the_emulator_is_the_provider_s() -> None:
    assert AliyunGreenProvider.emulator_factory is make_emulator


def test_cli_lists_the_provider() -> None:
    result = CliRunner().invoke(main, ["providers"])
    assert result.exit_code == 0, result.output
    assert "aliyun_green" in result.output


def test_cli_emulate_refuses_bad_options() -> None:
    result = CliRunner().invoke(main, ["emulate", "aliyun_green", "--set", "rate_limit=fast"])
    assert result.exit_code != 0
    assert "rate_limit" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_the_emulator() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "moderation_core", "emulate", "aliyun_green"]
    options = [f"access_key_id={ACCESS_KEY_ID}", f"access_key_secret={ACCESS_KEY_SECRET}"]
    child = subprocess.Popen(
        [*command, "--port", str(port), *(a for o in options for a in ("--set", o))],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        assert "listening on" in line, line
        with Moderator.from_config(config(base_url=f"http://127.0.0.1:{port}")) as mod:
            assert mod.check("毒品交易").label is Label.ILLEGAL
    finally:
        child.terminate()
        child.wait(timeout=10)
