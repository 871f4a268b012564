"""The policy's term lists match on exactly the local engine's normalized view: what a
local lexicon term hits, the same word in ``blocked_terms`` or ``allowed_terms`` hits,
at the same place in the original text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from moderation_core import Action, Decision, Label, Moderator
from moderation_core._policy.terms import TermHit, TermList
from moderation_local._engine import Engine, Lexicon, term_problem


def quiet_local(policy: dict[str, Any], **local: Any) -> dict[str, Any]:
    """The local engine as the only provider, flagging nothing unless told to."""
    provider = {"type": "local", "builtin": False, "rules": False, **local}
    return {"providers": {"local": provider}, "policy": policy}


@pytest.mark.parametrize(
    "text",
    [
        "这是違規的",  # Traditional
        "违\u200b规",  # zero-width split
        "违 规",  # separators
        "违-规。",
        "ｖｉｏ",  # full-width
        "VIO",  # case
        "so Vio!",
    ],
)
def test_blocked_terms_block_every_spelling_the_local_engine_reads_as_the_term(
    text: str,
) -> None:
    with Moderator(quiet_local({"blocked_terms": ["违规", "vio"]})) as mod:
        outcome = mod.evaluate(text)
    assert (outcome.action, outcome.verdict) == (Action.BLOCK, None)  # no provider was asked
    assert outcome.reason.startswith("blocked term ")


def test_a_blocked_ascii_word_is_held_to_whole_words_as_in_a_lexicon() -> None:
    with Moderator(quiet_local({"blocked_terms": ["vio"]})) as mod:
        inside = mod.evaluate("violence")
    assert inside.action is Action.ALLOW


def test_allowed_terms_drop_a_vendor_keyword_written_in_traditional(tmp_path: Path) -> None:
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("違規\n區塊\n", encoding="utf-8")
    words = [{"path": str(lexicon), "label": "ABUSE", "decision": "BLOCK"}]
    with Moderator(quiet_local({"allowed_terms": ["违规"]}, lexicons=words)) as mod:
        allowed = mod.evaluate("這是違規")
    with Moderator(quiet_local({"allowed_terms": ["区块链"]}, lexicons=words)) as mod:
        inside = mod.evaluate("學區塊鏈")  # the keyword 區塊 sits inside an allowed term
    with Moderator(quiet_local({}, lexicons=words)) as mod:
        unlisted = mod.evaluate("這是違規")
    assert allowed.verdict is not None
    assert allowed.verdict.keywords == ("違規",)
    assert allowed.action is Action.ALLOW
    assert "which are allowed terms" in allowed.reason
    assert inside.action is Action.ALLOW
    assert unlisted.action is Action.BLOCK


def test_hits_are_located_in_the_original_text() -> None:
    terms = TermList(["违规", "fuck"], "blocked_terms")
    assert terms.hits("说違\u200b規了 Ｆ.U.C.K") == [
        TermHit(1, 4, "违规", "违规"),
        TermHit(6, 13, "fuck", "fuck"),
    ]
    assert terms.found_keys("违 规") == {"违规"}
    assert terms.first("fine") is None


# Characters the normalizer treats specially, so terms and texts collide often: ASCII
# and full-width letters, Traditional/Simplified pairs, zero-width, separators,
# punctuation, combining accents and a character above U+20000.
_ALPHABET = "abcABCａｂＡ违違规規词詞汇彙 \u200b\u200d.-_,、é\u0301ß\U00020000"
_terms = st.text(alphabet=_ALPHABET, min_size=1, max_size=6)
_texts = st.text(alphabet=_ALPHABET, max_size=30) | st.text(max_size=30)


@settings(max_examples=300, deadline=None)
@given(term=_terms, before=_texts, after=_texts, inside=st.booleans())
def test_term_lists_agree_with_the_local_engine(
    term: str, before: str, after: str, inside: bool
) -> None:
    assume(term_problem(term) is None)
    text = before + term + after if inside else before + after
    lexicon = Lexicon("words", Label.ABUSE, Decision.BLOCK, (term,))
    engine_spans = [(h.start, h.end) for h in Engine([lexicon], rules=False).scan(text)]
    term_list = TermList([term], "blocked_terms")
    assert [(h.start, h.end) for h in term_list.hits(text)] == engine_spans
    assert (term_list.first(text) is not None) == bool(engine_spans)
