"""The whole path: config -> Moderator -> HTTP -> emulator, in-process and over real
HTTP, sync and async; the conformance check; the CLI."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from moderation_core import AsyncModerator, Decision, Label, Moderator, ProviderUnavailable
from moderation_core._cli import main
from moderation_core.testing import assert_conforms, serve
from moderation_shumei import ShumeiProvider
from moderation_shumei.emulator import OFFICIAL_EXAMPLE, make_emulator
from tests.support.providers import failure

from .helpers import config, emulator, table


def test_conforms() -> None:
    report = assert_conforms(table(), emulator=emulator, item_error="hello [[fault:1902]]")
    assert not [r for r in report.results if r.outcome == "skipped" and "item" in r.name]


def test_over_real_http() -> None:
    with serve(emulator()) as base_url, Moderator.from_config(config(base_url=base_url)) as mod:
        verdicts = mod.check_many(["hello", OFFICIAL_EXAMPLE, "颠覆国家"], sender="u1")
    assert [(v.decision, v.label) for v in verdicts] == [
        (Decision.PASS, Label.NORMAL),
        (Decision.BLOCK, Label.AD),
        (Decision.BLOCK, Label.POLITICS),
    ]


async def test_async_over_real_http() -> None:
    with serve(emulator()) as base_url:
        async with AsyncModerator.from_config(config(base_url=base_url)) as mod:
            verdicts = await asyncio.gather(*(mod.check(f"hello {i}") for i in range(20)))
            official = await mod.check(OFFICIAL_EXAMPLE)
    assert all(v.decision is Decision.PASS for v in verdicts)
    assert official.masked_text == "加个好友吧 **12345"


def test_a_vendor_slower_than_the_timeout_is_unavailable() -> None:
    with (
        serve(emulator(slow_seconds=1)) as base_url,
        Moderator.from_config(config(base_url=base_url, timeout=0.1)) as mod,
    ):
        error = failure(mod, "hello [[fault:slow]]")
    assert isinstance(error, ProviderUnavailable)


def test_the_emulator_is_the_provider_s() -> None:
    assert ShumeiProvider.emulator_factory is make_emulator


def test_cli_lists_the_provider() -> None:
    result = CliRunner().invoke(main, ["providers"])
    assert result.exit_code == 0, result.output
    assert "shumei" in result.output


def test_cli_emulate_refuses_bad_options() -> None:
    result = CliRunner().invoke(main, ["emulate", "shumei", "--set", "rate_limit=fast"])
    assert result.exit_code != 0
    assert "rate_limit" in result.output
