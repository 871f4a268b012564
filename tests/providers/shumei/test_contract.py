"""Contract tests: replay the recorded Shumei conversations in ``cassettes/`` and check
both sides of the contract, the request bodies this package sends and the Verdicts it
makes of the recorded answers.

Replay is the default and needs no network. Re-record (see docs/providers/shumei.md):

    SHUMEI_RECORD=emulator .venv/bin/python -m pytest tests/providers/shumei/test_contract.py
    SHUMEI_RECORD=live SHUMEI_ACCESS_KEY=... SHUMEI_APP_ID=... SHUMEI_REGION=beijing \
        [SHUMEI_EVENT_ID=...] .venv/bin/python -m pytest tests/providers/shumei/test_contract.py

Recording filters every credential before it is written: the ``accessKey`` in each
body becomes FILTERED, and the real ``appId``, ``eventId`` and host are rewritten to the
fake ones the replay uses, so a cassette recorded live replays with the test config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from moderation_core import (
    AllProvidersFailed,
    AuthError,
    Decision,
    Label,
    Moderator,
    ProviderError,
    Verdict,
)
from moderation_core.testing import RecordingTransport, serve
from moderation_shumei.emulator import OFFICIAL_EXAMPLE, OFFICIAL_EXAMPLE_ANSWER
from tests.support.cassettes import cassette

from .helpers import ACCESS_KEY, APP_ID, BASE_URL, PATH, emulator, table
from .test_mapping import CROSSWALK

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("SHUMEI_RECORD", "replay")
FILTERED = "FILTERED"
EVENT_ID = "text"  # the replay config's (the default)
DECISIONS = {"PASS": Decision.PASS, "REVIEW": Decision.REVIEW, "REJECT": Decision.BLOCK}
ALL_TYPES = "TEXTRISK_FRUAD_TEXTMINOR"
# One text per Chinese label of the crosswalk, and a clean one.
TEXTS = [
    "今天天气不错",
    "颠覆国家",
    "炸弹",
    "裸聊",
    "毒品",
    "你这个傻逼",
    "全网最低价",
    "加我微信",
    "blacklist-test",
    "啊啊啊啊啊啊",
    "身份证号",
    "刷单返利",
    "未成年交友",
]


@contextmanager
def _target() -> Iterator[dict[str, Any]]:
    """The provider table requests are made with, while recording or replaying."""
    if MODE == "replay":
        yield table()
    elif MODE == "emulator":
        # Provisioned like a real app: only these event ids are known.
        with serve(emulator(event_ids="text,message")) as base_url:
            yield table(base_url=base_url)
    elif MODE == "live":
        env = {
            key: os.environ.get(f"SHUMEI_{key.upper()}")
            for key in ("access_key", "app_id", "region", "base_url", "event_id")
        }
        missing = [f"SHUMEI_{k.upper()}" for k in ("access_key", "app_id") if not env[k]]
        if not (env["region"] or env["base_url"]):
            missing.append("SHUMEI_REGION or SHUMEI_BASE_URL")
        if missing:
            pytest.fail(f"SHUMEI_RECORD=live needs {', '.join(missing)}")
        yield {"type": "shumei", **{k: v for k, v in env.items() if v}}
    else:
        pytest.fail(f"SHUMEI_RECORD must be emulator or live, got {MODE!r}")


def _scrub_request(target: dict[str, Any]) -> Any:
    real_event = target.get("event_id", EVENT_ID)

    def scrub(request: Any) -> Any:
        request.uri = f"{BASE_URL}{PATH}"
        request.headers["host"] = "shumei.test"
        request.headers.pop("content-length", None)
        if request.body:
            body = json.loads(request.body)
            body["accessKey"] = FILTERED
            body["appId"] = APP_ID
            if body.get("eventId") == real_event:
                body["eventId"] = EVENT_ID
            request.body = json.dumps(body, ensure_ascii=False).encode()
        return request

    return scrub


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"].pop("Set-Cookie", None)
    return response


@contextmanager
def conversation(
    name: str, **overrides: Any
) -> Iterator[tuple[Moderator, RecordingTransport, dict[str, Any]]]:
    """A Moderator whose HTTP is recorded to, or replayed from, ``cassettes/NAME.yaml``."""
    with _target() as target:
        table_ = {**target, **overrides}
        with (
            cassette(
                CASSETTES,
                name,
                MODE,
                scrub_request=_scrub_request(target),
                scrub_response=_scrub_response,
            ) as capture,
            Moderator.from_config({"providers": {"shumei": table_}}, transport=capture) as mod,
        ):
            yield mod, capture, table_


def assert_request(request: httpx.Request, target: dict[str, Any], data: dict[str, Any]) -> None:
    assert request.method == "POST"
    assert request.url.path == PATH
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "accessKey": target["access_key"],
        "appId": target["app_id"],
        "eventId": target.get("event_id", EVENT_ID),
        "type": target.get("risk_type", "TEXTRISK"),
        "data": data,
    }


def assert_crosswalk(verdict: Verdict) -> None:
    """The verdict is what docs/labels.md makes of whatever the vendor answered."""
    raw = verdict.raw
    assert isinstance(raw, dict)
    assert verdict.decision is DECISIONS.get(raw["riskLevel"], Decision.REVIEW)
    assert verdict.label is CROSSWALK.get(raw.get("riskLabel1") or "normal", Label.OTHER)
    assert verdict.vendor_label == (raw.get("riskLabel1") or None)
    assert verdict.sublabel == (raw.get("riskLabel2") or None)
    assert verdict.request_id == raw["requestId"]
    filtered = (raw.get("auxInfo") or {}).get("filteredText")
    if filtered:
        assert verdict.masked_text == filtered


def test_official_example() -> None:
    with conversation("official_example") as (mod, capture, target):
        verdict = mod.check(OFFICIAL_EXAMPLE, sender="4567898765jhgfdsa", receiver="username2")
    (request,) = capture.requests
    assert_request(
        request,
        target,
        {
            "text": OFFICIAL_EXAMPLE,
            "tokenId": "4567898765jhgfdsa",
            "extra": {"receiveTokenId": "username2"},
        },
    )
    assert_crosswalk(verdict)
    if MODE != "live":  # what the API doc shows
        assert verdict.raw == OFFICIAL_EXAMPLE_ANSWER
        assert (verdict.decision, verdict.label, verdict.sublabel, verdict.score) == (
            Decision.BLOCK,
            Label.AD,
            "lianxifangshi",
            100,
        )
        assert verdict.keywords == ("qq",)


def test_every_label() -> None:
    with conversation("every_label", risk_type=ALL_TYPES) as (mod, capture, target):
        verdicts = mod.check_many(TEXTS, sender="u1")
    assert len(capture.requests) == len(TEXTS)
    for request, text, verdict in zip(capture.requests, TEXTS, verdicts, strict=True):
        assert_request(request, target, {"text": text, "tokenId": "u1"})
        assert_crosswalk(verdict)
    if MODE != "live":
        assert [v.vendor_label for v in verdicts] == [
            "normal",
            "politics",
            "violence",
            "porn",
            "ban",
            "abuse",
            "ad_law",
            "ad",
            "blacklist",
            "meaningless",
            "privacy",
            "fraud",
            "minor",
        ]
        assert {v.decision for v in verdicts} == {Decision.PASS, Decision.REVIEW, Decision.BLOCK}


def test_long_text_is_split_under_the_limit() -> None:
    text = "ab " * 7_000 + "颠覆国家"  # 21,004 characters
    with conversation("long_text_split") as (mod, capture, _target):
        verdict = mod.check(text)
    sizes = [len(json.loads(r.content)["data"]["text"]) for r in capture.requests]
    assert len(sizes) >= 3
    assert max(sizes) <= 10_000
    assert verdict.decision is Decision.BLOCK
    assert verdict.label is Label.POLITICS


def test_wrong_access_key() -> None:
    with (
        conversation("wrong_key", access_key="not-the-key-0000") as (mod, capture, _target),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (error,) = caught.value.exceptions
    assert isinstance(error, AuthError)
    assert error.code == 9101
    assert len(capture.requests) == 1  # no retry
    assert json.loads(capture.requests[0].content)["accessKey"] == "not-the-key-0000"


def test_unprovisioned_event_id() -> None:
    if MODE == "live":
        pytest.skip("which event ids an app has is the live account's business")
    with (
        conversation("unknown_event_id", event_id="no-such-event") as (mod, _capture, _t),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (error,) = caught.value.exceptions
    assert (type(error), error.code) == (ProviderError, 1902)


def test_cassettes_hold_no_credentials() -> None:
    # tests/test_no_secrets.py scans every recorded file; this checks what recording adds.
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert {p.stem for p in cassettes} == {
        "official_example",
        "every_label",
        "long_text_split",
        "wrong_key",
        "unknown_event_id",
    }
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        assert ACCESS_KEY not in text
        assert "not-the-key-0000" not in text
        for interaction in yaml.safe_load(text)["interactions"]:
            request = interaction["request"]
            body = json.loads(request["body"])
            assert body["accessKey"] == FILTERED
            assert body["appId"] == APP_ID
            assert request["uri"] == f"{BASE_URL}{PATH}"
            assert request["headers"]["host"] == ["shumei.test"]
