"""Verdict.to_dict / from_dict and Outcome's: the one public JSON form (SERVICE.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation_core import (
    Action,
    Decision,
    InvalidContent,
    Label,
    Moderator,
    Outcome,
    ProviderUnavailable,
    Verdict,
)

optional_text = st.none() | st.text(max_size=20)
verdicts = st.builds(
    Verdict,
    decision=st.sampled_from(Decision),
    label=st.sampled_from(Label),
    sublabel=optional_text,
    score=st.none() | st.integers(0, 100),
    keywords=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    masked_text=optional_text,
    provider=optional_text,
    vendor_label=optional_text,
    request_id=optional_text,
    content_id=st.none() | st.text(max_size=10) | st.integers(),
    fallback=st.booleans(),
)
outcomes = st.builds(
    Outcome,
    action=st.sampled_from(Action),
    text=optional_text,
    reason=st.text(max_size=30),
    verdict=st.none() | verdicts,
)


@given(verdicts)
def test_a_verdict_round_trips_through_json(verdict: Verdict) -> None:
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict


@given(outcomes)
def test_an_outcome_round_trips_through_json(outcome: Outcome) -> None:
    assert Outcome.from_dict(json.loads(json.dumps(outcome.to_dict()))) == outcome


def test_the_form_names_enums_and_leaves_raw_and_errors_out() -> None:
    verdict = Verdict(
        decision=Decision.BLOCK,
        label=Label.AD,
        keywords=("加微信",),
        provider="local",
        raw={"secret": "x"},
        errors=(ProviderUnavailable("down", provider="tencent"),),
    )
    assert verdict.to_dict() == {
        "decision": "BLOCK",
        "label": "AD",
        "sublabel": None,
        "score": None,
        "keywords": ["加微信"],
        "masked_text": None,
        "provider": "local",
        "vendor_label": None,
        "request_id": None,
        "content_id": None,
        "fallback": False,
        "cached": False,
        "prefiltered": False,
    }


def test_the_cli_json_output_is_the_same_form() -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from moderation_core._cli import main  # noqa: PLC0415

    result = CliRunner().invoke(main, ["check", "--json", "加我微信 abc123456"])
    record = json.loads(result.output)
    expected = Moderator().check("加我微信 abc123456").to_dict()
    assert record == {"input": "加我微信 abc123456", **expected}


def test_unknown_keys_are_ignored_for_newer_servers() -> None:
    data = Verdict(decision=Decision.PASS).to_dict() | {"check_id": "c-1"}
    assert Verdict.from_dict(data) == Verdict(decision=Decision.PASS)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({}, "decision"),
        ({"decision": "MAYBE"}, "decision"),
        ({"decision": "PASS", "label": 3}, "label"),
        ({"decision": "PASS", "score": "90"}, "score"),
        ({"decision": "PASS", "score": True}, "score"),
        ({"decision": "PASS", "keywords": "abc"}, "keywords"),
        ({"decision": "PASS", "content_id": 1.5}, "content_id"),
        ({"decision": "PASS", "fallback": "no"}, "fallback"),
        ({"decision": "PASS", "provider": ["x"]}, "provider"),
    ],
)
def test_a_bad_verdict_dict_is_invalid_content_naming_the_key(
    data: dict[str, Any], names: str
) -> None:
    with pytest.raises(InvalidContent, match=names):
        Verdict.from_dict(data)


@pytest.mark.parametrize("data", [None, [], "PASS", {"action": "ALLOW"}, {"reason": "r"}])
def test_a_bad_outcome_dict_is_invalid_content(data: Any) -> None:
    with pytest.raises(InvalidContent):
        Outcome.from_dict(data)
