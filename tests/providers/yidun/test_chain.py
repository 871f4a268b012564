"""Issue 13's "Done when": one config lists the Chinese vendors and the local engine and
falls back along them, through each vendor's emulator served over real HTTP, with the
earlier ones failing (each with a fault of its own vendor's kind).

The chain here is Tencent Chat -> Yidun -> Shumei -> local, to check Yidun's batch as
the fallback; the whole chain, Alibaba Cloud Green between Tencent Chat and Yidun, is
tests/providers/aliyun/test_chain.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation_core import Content, Decision, Moderator
from tests.support.chain import (
    SHUMEI,
    TENCENT,
    TEXT,
    YIDUN,
    assert_fell_back,
    chain_of,
    served_chain,
)

VENDORS = (TENCENT, YIDUN, SHUMEI)
CHAIN = chain_of(VENDORS)


@pytest.mark.parametrize("failing", range(len(CHAIN)), ids=lambda n: f"{n}-failing")
def test_falls_back_along_the_chain(tmp_path: Path, failing: int) -> None:
    with (
        served_chain(tmp_path, VENDORS, failing) as chain,
        Moderator.from_config(chain.config) as mod,
    ):
        verdict = mod.check(TEXT, sender="u1", receiver="u2")
    assert_fell_back(verdict, VENDORS, failing)


def test_a_block_is_an_answer_not_a_reason_to_fall_back(tmp_path: Path) -> None:
    with served_chain(tmp_path, VENDORS, 0) as chain, Moderator.from_config(chain.config) as mod:
        verdict = mod.check(TEXT)
    assert verdict.provider == "tencent"
    assert verdict.decision is Decision.BLOCK
    assert [name for name, r in chain.recordings.items() if r.requests] == ["tencent"]


def test_a_batch_falls_back_to_one_yidun_batch_check(tmp_path: Path) -> None:
    items = [Content.text(text, id=i) for i, text in enumerate(["hello", TEXT, "buy now"])]
    with served_chain(tmp_path, VENDORS, 1) as chain, Moderator.from_config(chain.config) as mod:
        verdicts = mod.check_many(items)
    assert [v.provider for v in verdicts] == ["yidun"] * 3
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.BLOCK, Decision.REVIEW]
    assert [v.content_id for v in verdicts] == [0, 1, 2]
    assert chain.recordings["yidun"].paths() == ["/v5/text/batch-check"]
