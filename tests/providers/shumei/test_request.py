"""What the provider sends: one JSON body per text, as 5b.2 describes it."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from moderation_core import Content, Decision, Moderator, ProviderError
from moderation_core.testing import RecordingTransport
from moderation_shumei import DEFAULT_TOKEN_ID, token_id
from tests.support.providers import failure

from .helpers import ACCESS_KEY, APP_ID, BASE_URL, PATH, config, emulator, sent


def exchange(
    item: str | Content = "hello", *, overrides: dict[str, Any] | None = None, **context: Any
) -> dict[str, Any]:
    recording = RecordingTransport(emulator())
    with Moderator.from_config(config(**(overrides or {})), transport=recording) as mod:
        mod.check(item, **context)
    (request,) = recording.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}{PATH}"
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers  # the key rides in the body, nowhere else
    assert ACCESS_KEY not in str(request.url)
    return dict(sent(request))


def test_the_body_without_context() -> None:
    assert exchange("hello") == {
        "accessKey": ACCESS_KEY,
        "appId": APP_ID,
        "eventId": "text",
        "type": "TEXTRISK",
        "data": {"text": "hello", "tokenId": DEFAULT_TOKEN_ID},
    }


def test_sender_receiver_and_content_id() -> None:
    body = exchange(Content.text("hello", id=42), sender="u_1", receiver="u-2")
    assert body["data"] == {
        "text": "hello",
        "tokenId": "u_1",
        "extra": {"receiveTokenId": "u-2"},
        "dataId": "42",
    }


def test_the_fallback_token_id_is_configurable() -> None:
    body = exchange(overrides={"token_id": "anon-42"})
    assert body["data"]["tokenId"] == "anon-42"


@pytest.mark.parametrize("user", ["alice@example.com", "张三", "x" * 65, "a b"])
def test_users_outside_the_token_grammar_are_sent_as_a_stable_digest(user: str) -> None:
    body = exchange(sender=user, receiver=user)
    expected = "sha256_" + hashlib.sha256(user.encode()).hexdigest()[:48]
    assert body["data"]["tokenId"] == expected == token_id(user)
    assert body["data"]["extra"]["receiveTokenId"] == expected
    assert len(expected) <= 64


def test_scene_picks_the_event_id_and_settings_reach_the_body() -> None:
    overrides = {
        "event_ids": {"Group": "groupChat"},
        "risk_type": "TEXTRISK_FRUAD",
        "lang": "auto",
        "app_id": "other-app",
    }
    recording = RecordingTransport(emulator(app_id="other-app"))
    with Moderator.from_config(config(**overrides), transport=recording) as mod:
        mod.check("hello", scene="group")
        mod.check("hello", scene="Nickname")
    grouped, other = (sent(r) for r in recording.requests)
    assert (grouped["eventId"], other["eventId"]) == ("groupChat", "text")
    assert grouped["type"] == "TEXTRISK_FRUAD"
    assert grouped["appId"] == "other-app"
    assert grouped["data"]["lang"] == "auto"


def test_message_event_without_a_receiver_is_refused_without_a_request() -> None:
    recording = RecordingTransport(emulator())
    cfg = config(event_ids={"C2C": "message"})
    with Moderator.from_config(cfg, transport=recording) as mod:
        error = failure(mod, "hello", scene="C2C")
        with_receiver = mod.check("hello", scene="C2C", receiver="u2")
    assert type(error) is ProviderError
    assert error.code == 1902
    assert "receiver" in str(error)
    assert with_receiver.decision is Decision.PASS
    assert len(recording.requests) == 1  # only the check that had a receiver


def test_one_text_per_request() -> None:
    recording = RecordingTransport(emulator())
    with Moderator.from_config(config(), transport=recording) as mod:
        verdicts = mod.check_many(["hello", "你这个傻逼", "加我微信"])
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.BLOCK, Decision.REVIEW]
    assert [sent(r)["data"]["text"] for r in recording.requests] == [
        "hello",
        "你这个傻逼",
        "加我微信",
    ]


def test_long_text_is_split_before_shumei_would_answer_1905() -> None:
    emu = emulator()
    recording = RecordingTransport(emu)
    text = "好" * 12_500 + "傻逼" + "好" * 12_498  # 25,000 characters, 75,000 bytes
    with Moderator.from_config(config(), transport=recording) as mod:
        verdict = mod.check(text)
    assert verdict.decision is Decision.BLOCK  # the chunk holding the word decides
    sizes = [len(sent(r)["data"]["text"]) for r in recording.requests]
    # Split by Shumei's 10,000 characters: three requests, not the eight that 10,000
    # bytes (about 3,333 Chinese characters each) would take.
    assert len(sizes) == 3
    assert max(sizes) == 10_000
