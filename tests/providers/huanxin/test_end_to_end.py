"""The whole path: config dict -> Moderator -> HTTP -> emulator, in-process and over
real HTTP on 127.0.0.1, sync and async."""

from __future__ import annotations

import asyncio

import httpx
from click.testing import CliRunner

from moderation_core import AsyncModerator, Decision, Label, Moderator, ProviderUnavailable
from moderation_core._cli import main
from moderation_core._serve import serving
from tests.support.providers import failure

from .helpers import config, emulator


def test_end_to_end_through_mock_transport() -> None:
    emu = emulator()
    with Moderator.from_config(config(), transport=httpx.MockTransport(emu)) as mod:
        clean, dirty = mod.check_many(["今天天气不错", "你这个傻逼"])
    assert clean.decision is Decision.PASS
    assert (dirty.decision, dirty.label, dirty.keywords) == (
        Decision.BLOCK,
        Label.ABUSE,
        ("傻逼",),
    )
    assert emu.token_requests == 1


def test_end_to_end_over_real_http() -> None:
    emu = emulator()
    with serving(emu) as server, Moderator.from_config(config(base_url=server.url)) as mod:
        verdicts = mod.check_many(["hello", "扫码加群", "颠覆国家"])
        assert [v.decision for v in verdicts] == [Decision.PASS, Decision.REVIEW, Decision.BLOCK]
        assert verdicts[1].sublabel == "QRCode"
        emu.expire_tokens()
        assert mod.check("after expiry").decision is Decision.PASS
    assert emu.token_requests == 2


async def test_async_end_to_end_over_real_http() -> None:
    emu = emulator()
    with serving(emu) as server:
        async with AsyncModerator.from_config(config(base_url=server.url)) as mod:
            verdicts = await asyncio.gather(*(mod.check(f"hello {i}") for i in range(20)))
    assert all(v.decision is Decision.PASS for v in verdicts)
    assert emu.token_requests == 1


def test_slow_vendor_times_out_as_unavailable() -> None:
    emu = emulator(slow_seconds=1)
    with (
        serving(emu) as server,
        Moderator.from_config(config(base_url=server.url, timeout=0.2)) as mod,
    ):
        error = failure(mod, "hello [[fault:slow]]")
    assert isinstance(error, ProviderUnavailable)


def test_cli_emulate_refuses_bad_options() -> None:
    result = CliRunner().invoke(main, ["emulate", "huanxin", "--set", "rate_limit=fast"])
    assert result.exit_code != 0
    assert "rate_limit" in result.output
