"""Contract tests: replay the recorded Tencent Chat conversations in ``cassettes/`` and
check both sides of the contract: the requests this package sends (path, query, JSON
body) and the Verdicts it makes of the recorded answers.

Replay is the default and needs no network (CI never records). Re-record (see
docs/providers/tencent_chat.md):

    TENCENT_CHAT_RECORD=emulator .venv/bin/python -m pytest \
        tests/providers/tencent_chat/test_contract.py
    TENCENT_CHAT_RECORD=live TENCENT_CHAT_SDKAPPID=... TENCENT_CHAT_IDENTIFIER=... \
        TENCENT_CHAT_SECRET_KEY=... .venv/bin/python -m pytest \
        tests/providers/tencent_chat/test_contract.py

Recording rewrites the query before anything is written: ``usersig=FILTERED``,
``random=RANDOM`` (it changes on every request), and the real SDKAppID and admin
identifier become the fake ones the replay uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from vcr.errors import CannotOverwriteExistingCassetteException

from moderation_core import (
    AllProvidersFailed,
    AuthError,
    Content,
    Decision,
    Label,
    Moderator,
    ProviderUnavailable,
    Verdict,
)
from moderation_core._serve import serving
from moderation_core.testing import RecordingTransport
from moderation_tencent_chat import verify_usersig
from moderation_tencent_chat.emulator import TencentChatEmulator
from tests.support.cassettes import cassette

from .helpers import (
    BASE_URL,
    BATCH_PATH,
    IDENTIFIER,
    SDKAPPID,
    SEED_CONTEXT,
    SINGLE_PATH,
    emulator,
    table,
)

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("TENCENT_CHAT_RECORD", "replay")
FILTERED = "FILTERED"
emulator_only = pytest.mark.skipif(MODE == "live", reason="needs the emulator's fault markers")


class _Target:
    """Where requests go while recording or replaying, and with which config."""

    def __init__(self, table: dict[str, Any], emu: TencentChatEmulator | None = None) -> None:
        self.table = table
        self.emulator = emu

    @property
    def key(self) -> str:
        return str(self.table["secret_key"])


@contextmanager
def _target(**overrides: Any) -> Iterator[_Target]:
    if MODE == "replay":
        yield _Target(table(**overrides))
    elif MODE == "emulator":
        emu = emulator()
        with serving(emu) as server:
            yield _Target(table(base_url=server.url, **overrides), emu)
    elif MODE == "live":
        names = ("SDKAPPID", "IDENTIFIER", "SECRET_KEY")
        missing = [f"TENCENT_CHAT_{n}" for n in names if not os.environ.get(f"TENCENT_CHAT_{n}")]
        if missing:
            pytest.fail(f"TENCENT_CHAT_RECORD=live needs {', '.join(missing)}")
        live: dict[str, Any] = {
            "type": "tencent_chat",
            "sdkappid": int(os.environ["TENCENT_CHAT_SDKAPPID"]),
            "identifier": os.environ["TENCENT_CHAT_IDENTIFIER"],
            "secret_key": os.environ["TENCENT_CHAT_SECRET_KEY"],
        }
        if os.environ.get("TENCENT_CHAT_BASE_URL"):
            live["base_url"] = os.environ["TENCENT_CHAT_BASE_URL"]
        else:
            live["region"] = os.environ.get("TENCENT_CHAT_REGION", "singapore")
        live.update({k: v for k, v in overrides.items() if k != "base_url"})
        yield _Target(live)
    else:
        pytest.fail(f"TENCENT_CHAT_RECORD must be emulator or live, got {MODE!r}")


def _scrub_request(target: _Target) -> Any:
    fake = {
        "sdkappid": str(SDKAPPID),
        "identifier": IDENTIFIER,
        "usersig": FILTERED,
        "random": "RANDOM",
    }

    def scrub(request: Any) -> Any:
        url = httpx.URL(request.uri)
        query = [(k, fake.get(k, v)) for k, v in url.params.multi_items()]
        request.uri = f"{BASE_URL}{url.path}?{urlencode(query)}"
        for name in ("host", "user-agent", "content-length"):
            request.headers.pop(name, None)
        return request

    return scrub


def _scrub_response(target: _Target) -> Any:
    real = [
        (str(target.table["sdkappid"]), str(SDKAPPID)),
        (str(target.table["identifier"]), IDENTIFIER),
    ]

    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        raw = response["body"]["string"]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        for value, replacement in real:
            if value != replacement:
                text = text.replace(value, replacement)
        response["body"]["string"] = text.encode()
        for name in ("Set-Cookie", "set-cookie", "Date", "date", "Server", "server"):
            response["headers"].pop(name, None)
        return response

    return scrub


@contextmanager
def conversation(
    name: str, **overrides: Any
) -> Iterator[tuple[Moderator, RecordingTransport, _Target]]:
    """A Moderator whose HTTP is recorded to, or replayed from, ``cassettes/NAME.yaml``."""
    with _target(**overrides) as target:
        config = {"providers": {"tencent": target.table}}
        with (
            cassette(
                CASSETTES,
                name,
                MODE,
                match_on=["method", "path", "query", "body"],
                scrub_request=_scrub_request(target),
                scrub_response=_scrub_response(target),
            ) as capture,
            Moderator.from_config(config, transport=capture) as mod,
        ):
            yield mod, capture, target


def assert_sent(request: httpx.Request, target: _Target, path: str, body: Any) -> None:
    """The request as sent: POST, the path, every query parameter, the JSON body."""
    assert request.method == "POST"
    assert request.url.path == path
    assert request.headers["Content-Type"] == "application/json"
    query = request.url.params
    assert list(query.keys()) == ["sdkappid", "identifier", "usersig", "random", "contenttype"]
    assert query["sdkappid"] == str(target.table["sdkappid"])
    assert query["identifier"] == target.table["identifier"]
    assert query["contenttype"] == "json"
    assert 0 <= int(query["random"]) < 2**32
    verify_usersig(
        query["usersig"],
        sdkappid=target.table["sdkappid"],
        identifier=target.table["identifier"],
        key=target.key,
    )
    assert json.loads(request.content) == body


def test_seed_single_example() -> None:
    with conversation("seed_single") as (mod, capture, target):
        verdict = mod.check("abc", scene="C2C", **SEED_CONTEXT)
    (request,) = capture.requests
    assert_sent(
        request,
        target,
        SINGLE_PATH,
        {
            "AuditName": "C2C",
            "ContentType": "Text",
            "Content": "abc",
            "ExtSender": "sender_xx",
            "ExtReceiver": "receiver_yy",
        },
    )
    assert (verdict.decision, verdict.label, verdict.score, verdict.keywords) == (
        Decision.BLOCK,
        Label.POLITICS,
        100,
        ("abc",),
    )
    assert verdict.masked_text == "***"
    assert verdict.request_id == "91fa78f3-18c8-4b20-9c56-5845df18f634"


def test_seed_batch_example() -> None:
    contents: list[Content | str] = [
        "abc123",
        "abc1234",
        Content.image("https://www.simple.com/1.jpg"),
        "tttcccc",
    ]
    with conversation("seed_batch") as (mod, capture, target):
        verdicts = mod.check_many(contents, scene="Group", **SEED_CONTEXT)
    (request,) = capture.requests
    assert_sent(
        request,
        target,
        BATCH_PATH,
        {
            "AuditName": "Group",
            "Contents": [
                {"ContentId": 0, "ContentType": "Text", "Content": "abc123"},
                {"ContentId": 1, "ContentType": "Text", "Content": "abc1234"},
                {"ContentId": 2, "ContentType": "Image", "Content": "https://www.simple.com/1.jpg"},
                {"ContentId": 3, "ContentType": "Text", "Content": "tttcccc"},
            ],
            "ExtSender": "sender_xx",
            "ExtReceiver": "receiver_yy",
        },
    )
    assert [(v.decision, v.label, v.score, v.sublabel) for v in verdicts] == [
        (Decision.BLOCK, Label.POLITICS, 99, "ChinesePresident"),
        (Decision.PASS, Label.NORMAL, 0, None),
        (Decision.BLOCK, Label.PORN, 97, "SexualBehavior"),
        (Decision.PASS, Label.NORMAL, 0, None),
    ]
    assert verdicts[0].keywords == ("违&规&词&汇", "违规词汇")
    assert [v.request_id for v in verdicts] == [
        "c442f95e-35b9-47d7-8e01-3f9d644965fd",
        "bf422ad2-cb2e-40cb-9b81-5936305c7b41",
        "1ad85364-2bc1-454e-86bf-bbf1cc41fdff",
        "ff7dad79-cb0c-4bea-aa99-1815b4de7591",
    ]


EVERY_LABEL = [
    ("今天天气不错", Decision.PASS, Label.NORMAL, "Normal"),
    ("涉政测试", Decision.BLOCK, Label.POLITICS, "Polity"),
    ("这里有炸弹", Decision.BLOCK, Label.VIOLENCE, "Terror"),
    ("色情内容", Decision.BLOCK, Label.PORN, "Porn"),
    ("卖毒品", Decision.BLOCK, Label.ILLEGAL, "Illegal"),
    ("你这个傻逼", Decision.BLOCK, Label.ABUSE, "Abuse"),
    ("综合违规", Decision.BLOCK, Label.OTHER, "Composite"),
    ("加我微信", Decision.REVIEW, Label.AD, "Ad"),
    ("性感照片", Decision.REVIEW, Label.SEXY, "Sexy"),
]


def test_every_label() -> None:
    image = Content.image("https://cdn.example.com/qrcode_1.png", id="img")
    with conversation("every_label") as (mod, capture, target):
        verdicts = mod.check_many([text for text, *_ in EVERY_LABEL] + [image], scene="Group")
    (request,) = capture.requests
    sent = json.loads(request.content)
    assert [c["ContentType"] for c in sent["Contents"]] == ["Text"] * 9 + ["Image"]
    assert_sent(request, target, BATCH_PATH, sent)
    for verdict, (text, decision, label, vendor) in zip(verdicts, EVERY_LABEL, strict=False):
        assert (verdict.decision, verdict.label, verdict.vendor_label) == (decision, label, vendor)
        if verdict.keywords:
            assert verdict.masked_text is not None
            assert verdict.masked_text != text
    assert (verdicts[-1].label, verdicts[-1].sublabel, verdicts[-1].content_id) == (
        Label.AD,
        "QRCode",
        "img",
    )


def test_audio_is_pending() -> None:
    with conversation("audio_pending", audit_name="Group") as (mod, capture, target):
        verdict = mod.check(Content.audio("https://cdn.example.com/gun.mp3", id="a1"))
    (request,) = capture.requests
    assert_sent(
        request,
        target,
        SINGLE_PATH,
        {
            "AuditName": "Group",
            "ContentType": "Audio",
            "Content": "https://cdn.example.com/gun.mp3",
        },
    )
    assert (verdict.decision, verdict.content_id) == (Decision.PENDING, "a1")
    assert verdict.request_id


@emulator_only
def test_batch_item_timeout_fails_that_item_alone() -> None:
    texts = ["fine", "late [[item:93006]]", "傻逼"]
    with conversation("batch_item_timeout") as (mod, capture, _):
        fine, late, abuse = mod.check_many(texts, return_exceptions=True)
    assert len(capture.requests) == 1
    assert isinstance(fine, Verdict)
    assert fine.decision is Decision.PASS
    assert isinstance(abuse, Verdict)
    assert abuse.decision is Decision.BLOCK
    assert isinstance(late, AllProvidersFailed)
    (error,) = late.exceptions
    assert isinstance(error, ProviderUnavailable)
    assert error.code == 93006


def test_wrong_secret_key_is_an_auth_error() -> None:
    with (
        conversation("wrong_key", secret_key="not-the-right-key") as (mod, capture, target),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (request,) = capture.requests  # 70003 is not a stale-sig code: no retry
    assert_sent(
        request,
        target,
        SINGLE_PATH,
        {"AuditName": "C2C", "ContentType": "Text", "Content": "hello"},
    )
    (error,) = caught.value.exceptions
    assert isinstance(error, AuthError)
    assert error.code in (70003, 70009)


@pytest.mark.skipif(MODE != "replay", reason="checks the replay itself")
def test_replay_refuses_a_request_that_differs_from_the_recorded_one() -> None:
    with (
        pytest.raises(CannotOverwriteExistingCassetteException),
        conversation("seed_single") as (mod, *_),
    ):
        mod.check("abc", scene="Group", **SEED_CONTEXT)
