"""Issue 13's "Done when": one config lists Tencent Chat, Alibaba Cloud Green, NetEase
Yidun, Shumei and the local engine, and falls back along them through each vendor's
emulator served over real HTTP, with the earlier ones failing (each with a transient
fault of its own vendor's kind, so the next one is asked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation_core import AsyncModerator, Decision, Moderator
from tests.support.chain import (
    ALIYUN,
    SHUMEI,
    TENCENT,
    TEXT,
    YIDUN,
    assert_fell_back,
    chain_of,
    served_chain,
)

VENDORS = (TENCENT, ALIYUN, YIDUN, SHUMEI)
CHAIN = chain_of(VENDORS)


@pytest.mark.parametrize("failing", range(len(CHAIN)), ids=lambda n: f"{n}-failing")
def test_falls_back_along_the_chain(tmp_path: Path, failing: int) -> None:
    with (
        served_chain(tmp_path, VENDORS, failing) as chain,
        Moderator.from_config(chain.config) as mod,
    ):
        verdict = mod.check(TEXT, sender="u1", receiver="u2")
    assert_fell_back(verdict, VENDORS, failing)
    # Each vendor was asked exactly when the ones before it had failed.
    asked = [name for name, recording in chain.recordings.items() if recording.requests]
    assert asked == CHAIN[: min(failing + 1, len(VENDORS))]


async def test_async_falls_back_to_aliyun(tmp_path: Path) -> None:
    with served_chain(tmp_path, VENDORS, 1) as chain:
        async with AsyncModerator.from_config(chain.config) as mod:
            verdict = await mod.check(TEXT)
    assert (verdict.provider, verdict.vendor_label) == ("aliyun", "inappropriate_profanity")
    assert [e.provider for e in verdict.errors] == ["tencent"]


def test_a_block_is_an_answer_not_a_reason_to_fall_back(tmp_path: Path) -> None:
    with served_chain(tmp_path, VENDORS, 1) as chain, Moderator.from_config(chain.config) as mod:
        verdict = mod.check(TEXT)
    assert verdict.provider == "aliyun"
    assert verdict.decision is Decision.BLOCK
    assert [name for name, r in chain.recordings.items() if r.requests] == ["tencent", "aliyun"]
