"""Issue 9 regressions for the Tencent Chat provider: scenes as AuditNames (15),
ResultNotify decisions (16), null and combination keywords (18), Retry-After (21),
hostile callback bodies (13, 22, 25) and replay protection (24)."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import moderation_tencent_chat
from moderation_core import (
    AllProvidersFailed,
    Decision,
    ModerationError,
    ProviderError,
    RateLimited,
)
from moderation_core.testing import Clock, RecordingTransport
from moderation_tencent_chat import (
    WebhookError,
    WebhookVerificationError,
    parse_result_notify,
    webhook_sign,
)
from tests import fake_secrets as secrets
from tests.support.providers import failure

from .helpers import answers, emulator, moderator, provider, sent_json

APPID = 1400000000
SENT_AT = 1_700_000_000
QUERY = {
    "SdkAppid": str(APPID),
    "CallbackCommand": "ContentCallback.ResultNotify",
    "contenttype": "json",
}
BODY: dict[str, Any] = {
    "Scene": "C2C",
    "SdkAppId": APPID,
    "From_Account": "u1",
    "ContactItem": {"ContactType": 1, "To_Account": "u2"},
    "ContentType": "Text",
    "TextContent": ["hello"],
    "MsgID": "m-1",
    "CtxcbResult": 1,
    "CtxcbRequestId": "241ed925-4c56-4357-95dd-1e6e7798f214",
}
PASS = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "RequestId": "r", "Result": "Pass"}


def signed(at: int = SENT_AT, token: str = secrets.TENCENT_WEBHOOK_TOKEN) -> dict[str, str]:
    return {**QUERY, "Sign": webhook_sign(token, at), "RequestTime": str(at)}


def signed_provider(**overrides: Any) -> Any:
    return provider(Clock(SENT_AT), webhook_token=secrets.TENCENT_WEBHOOK_TOKEN, **overrides)


# -- 15: scene -> AuditName ----------------------------------------------------------


@pytest.mark.parametrize(
    ("scene", "audit_name"),
    [
        ("GroupCustom", "Group"),
        ("C2CCustom", "C2C"),
        ("group", "Group"),
        ("RelationChain", "RelationChain"),
        ("my-own-scene", "C2C"),  # not an AuditName: the configured default
        (None, "C2C"),
    ],
)
def test_scenes_go_out_as_valid_audit_names(scene: str | None, audit_name: str) -> None:
    handler = answers(PASS)
    with moderator(handler) as mod:
        mod.check("hello", scene=scene)
    assert sent_json(handler.requests[0])["AuditName"] == audit_name


def test_audit_names_maps_a_scene_to_a_custom_config() -> None:
    handler = answers(PASS, PASS)
    with moderator(handler, audit_names={"vip": "cfg-123", "Group": "cfg-group"}) as mod:
        mod.check("hello", scene="vip")
        mod.check("hello", scene="Group")
    assert [sent_json(r)["AuditName"] for r in handler.requests] == ["cfg-123", "cfg-group"]


def test_the_emulator_refuses_an_audit_name_the_service_would() -> None:
    emu = emulator(audit_configs=("cfg-123",))
    with moderator(emu, audit_names={"vip": "cfg-123", "bad": "GroupCustom"}) as mod:
        assert mod.check("hello", scene="vip").decision is Decision.PASS
        with pytest.raises(AllProvidersFailed) as caught:
            mod.check("hello", scene="bad")
    (error,) = caught.value.exceptions
    assert isinstance(error, ProviderError)
    assert error.code == 60003
    assert "AuditName" in str(error)


# -- 16: CtxcbResult 0 without a suggestion ------------------------------------------


def test_result_notify_with_result_0_and_no_suggestion_is_pass() -> None:
    event = parse_result_notify({**BODY, "CtxcbResult": 0}, query=QUERY)
    assert event.verdict.decision is Decision.PASS


# -- 18: null and combination keywords -----------------------------------------------


def test_null_keywords_are_no_keywords() -> None:
    body = {**PASS, "Result": "Block", "Label": "Abuse", "Keywords": None}
    batch = {
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "AuditResults": [
            {"ErrorCode": 0, "ContentId": 0, "Result": "Block", "Keywords": None},
            {"ErrorCode": 0, "ContentId": 1, "Result": "Pass", "Keywords": None},
        ],
    }
    with moderator(answers(body, batch)) as mod:
        one = mod.check("hello")
        many = mod.check_many(["a", "b"])
    assert (one.decision, one.keywords) == (Decision.BLOCK, ())
    assert [(v.decision, v.keywords) for v in many] == [(Decision.BLOCK, ()), (Decision.PASS, ())]


def test_a_combination_keyword_masks_its_parts() -> None:
    # Seed 000 answers 违&规&词&汇: the parts were found, not the joined string.
    body = {**PASS, "Result": "Block", "Keywords": ["违&规&词&汇"]}
    batch = {
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "AuditResults": [
            {"ErrorCode": 0, "ContentId": 0, "Result": "Block", "Keywords": ["违&规&词&汇"]},
            {"ErrorCode": 0, "ContentId": 1, "Result": "Pass"},
        ],
    }
    with moderator(answers(body, batch)) as mod:
        one = mod.check("这是违x规x词x汇")
        many = mod.check_many(["这是违x规x词x汇", "ok"])
    assert one.masked_text == "这是*x*x*x*"
    assert many[0].masked_text == "这是*x*x*x*"
    event = parse_result_notify(
        {**BODY, "TextContent": ["违 规 词 汇"], "CtxcbKeywords": ["违&规&词&汇"]}, query=QUERY
    )
    assert event.verdict.masked_text == "* * * *"


def test_a_keyword_with_an_ampersand_found_as_written_masks_only_itself() -> None:
    body = {**PASS, "Result": "Block", "Keywords": ["AT&T"]}
    with moderator(answers(body)) as mod:
        assert mod.check("AT&T at TT").masked_text == "**** at TT"


# -- 21: Retry-After -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "-5", "inf", "-inf", "NaN"])
def test_an_unusable_retry_after_is_absent(value: str) -> None:
    handler = RecordingTransport(lambda _r: httpx.Response(429, headers={"Retry-After": value}))
    with moderator(handler) as mod:
        error = failure(mod)
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_a_retry_after_nan_is_retried_not_raised() -> None:
    replies = [httpx.Response(429, headers={"Retry-After": "nan"}), httpx.Response(200, json=PASS)]
    handler = RecordingTransport(lambda _r: replies.pop(0))
    with moderator(handler, retries=1) as mod:
        assert mod.check("hello").decision is Decision.PASS
    assert len(handler.requests) == 2


# -- 13, 22, 25: hostile callbacks ---------------------------------------------------


@pytest.mark.parametrize("request_time", ["9" * 400, "1" + "0" * 30, "-1", "1e400", "١٧"])
def test_a_bad_request_time_is_a_verification_error(request_time: str) -> None:
    query = {**signed(), "RequestTime": request_time}
    with pytest.raises(WebhookVerificationError, match="RequestTime check failed"):
        signed_provider().parse_webhook(query, BODY)


@pytest.mark.parametrize("body", [b"[" * 1000, b"[" * 100_000, '{"a":' * 5000])
def test_deeply_nested_json_is_a_webhook_error(body: bytes | str) -> None:
    with pytest.raises(WebhookError, match="nested too deeply"):
        parse_result_notify(body, query=QUERY)
    with pytest.raises(WebhookError):
        provider(Clock(SENT_AT)).parse_webhook(QUERY, body)


def test_the_signature_is_checked_before_the_body_is_read() -> None:
    with pytest.raises(WebhookVerificationError, match="Sign"):
        signed_provider().parse_webhook(QUERY, b"[" * 100_000)


def test_a_huge_body_is_refused_unread() -> None:
    body = json.dumps({**BODY, "TextContent": ["x" * 300_000]}).encode()
    with pytest.raises(WebhookError, match="more than"):
        parse_result_notify(body, query=QUERY)


@pytest.mark.parametrize(
    "keywords",
    [["k" * 20_000], [f"{i:03d}" + "w" * 100 for i in range(199)]],
    ids=["one-long-keyword", "many-keywords"],
)
def test_keywords_are_bounded(keywords: list[str]) -> None:
    body = json.dumps({**BODY, "TextContent": ["w" * 20_000], "CtxcbKeywords": keywords})
    assert len(body) < 60_000  # what an unsigned attacker sent
    with pytest.raises(WebhookError, match="CtxcbKeywords has"):
        parse_result_notify(body, query=QUERY)


def test_keywords_in_a_check_answer_are_bounded() -> None:
    body = {**PASS, "Result": "Block", "Keywords": ["k" * 20_000]}
    with moderator(answers(body)) as mod:
        error = failure(mod)
    assert "keyword of 20000 characters" in str(error)


# -- 24: replay protection ---------------------------------------------------------


def test_the_same_signed_callback_is_accepted_once() -> None:
    prov = signed_provider()
    event = prov.parse_webhook(signed(), json.dumps(BODY))
    assert event.event_id is not None
    with pytest.raises(moderation_tencent_chat.DuplicateWebhookError, match="already received"):
        prov.parse_webhook(signed(), json.dumps(BODY))
    # Signed again a second later (a new RequestTime), same event: still a duplicate.
    with pytest.raises(moderation_tencent_chat.DuplicateWebhookError):
        prov.parse_webhook(signed(SENT_AT + 1), BODY, now=SENT_AT + 1)
    other = prov.parse_webhook(signed(), {**BODY, "CtxcbRequestId": "another"})
    assert other.event_id != event.event_id


@pytest.mark.parametrize("offset", [-61, 61, 10**9])
def test_the_window_is_symmetric_by_default(offset: int) -> None:
    with pytest.raises(WebhookVerificationError, match="RequestTime check failed"):
        signed_provider().parse_webhook(signed(SENT_AT + offset), BODY)


def test_the_window_is_configurable() -> None:
    prov = signed_provider(webhook_window=300)
    prov.parse_webhook(signed(SENT_AT - 200), BODY)
    with pytest.raises(WebhookVerificationError):
        prov.parse_webhook(signed(SENT_AT + 301), {**BODY, "MsgID": "m-2"})
    assert prov.replay_cache.ttl == 600


@pytest.mark.parametrize("window", [0, -1, float("nan"), float("inf")])
def test_a_bad_window_is_a_config_error(window: float) -> None:
    with pytest.raises(ModerationError, match="webhook_window"):
        signed_provider(webhook_window=window)


def test_an_unsigned_request_time_is_still_held_to_the_window() -> None:
    query = {**QUERY, "RequestTime": str(SENT_AT - 3600)}
    with pytest.raises(WebhookVerificationError, match="RequestTime"):
        provider(Clock(SENT_AT)).parse_webhook(query, BODY)


def test_no_token_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    prov = provider(Clock(SENT_AT))
    prov.name = f"t{uuid.uuid4().hex[:8]}"  # fresh: the warning is once per name per process
    with caplog.at_level(logging.WARNING, logger="moderation_tencent_chat"):
        for i in range(3):
            prov.parse_webhook(QUERY, {**BODY, "MsgID": f"m-{i}"})
    warnings = [r.getMessage() for r in caplog.records if "webhook_token" in r.getMessage()]
    assert len(warnings) == 1
    assert secrets.TENCENT_SECRET_KEY not in warnings[0]


def test_the_replay_cache_can_be_shared_in_redis() -> None:
    import redis  # noqa: PLC0415 - this test only

    from moderation_core import RedisReplayCache  # noqa: PLC0415

    client = redis.Redis(host="127.0.0.1", port=6379)
    prefix = f"test-tencent-{uuid.uuid4().hex}:"
    try:
        one, two = signed_provider(), signed_provider()
        for prov in (one, two):
            prov.replay_cache = RedisReplayCache(client, 120, prefix=prefix)
        one.parse_webhook(signed(), BODY)
        with pytest.raises(moderation_tencent_chat.DuplicateWebhookError):
            two.parse_webhook(signed(), BODY)  # another process, same Redis
    finally:
        for key in client.keys(prefix + "*"):
            client.delete(key)
        client.close()


# -- fuzz: only ModerationErrors come out of the webhook parser -----------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "CtxcbKeywords": _JSON,
        "CtxcbResult": _JSON,
        "CtxcbSuggestion": _JSON,
        "TextContent": _JSON,
        "ContentType": _JSON,
        "ContactItem": _JSON,
        "CtxcbRequestId": _JSON,
        "SdkAppId": _JSON,
    },
)


@settings(max_examples=150, deadline=None)
@given(
    fields=_FIELDS,
    raw=st.binary(max_size=64),
    request_time=st.text(max_size=30),
    as_bytes=st.booleans(),
)
def test_fuzzed_callbacks_give_events_or_moderation_errors(
    fields: dict[str, Any], raw: bytes, request_time: str, as_bytes: bool
) -> None:
    prov = provider(Clock(SENT_AT))
    query = {**QUERY, "RequestTime": request_time}
    body: Any = json.dumps({**BODY, **fields}).encode() if as_bytes else raw
    for attempt in (body, {**BODY, **fields}):
        with contextlib.suppress(ModerationError):
            prov.parse_webhook(query, attempt)
