"""Issue 9, Huanxin's part: the body limit declared as a text limit (17), one label
crosswalk, the appkey check, body codes mapped as documented and the emulator's
org/app answer (18), nesting (22), the callback's time window, replay cache and
unverified warning (24), and timestamps that overflow (13)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moderation_core._replay as replay_module
from moderation_core import (
    AllProvidersFailed,
    ConfigError,
    Decision,
    Label,
    MemoryReplayCache,
    ModerationError,
    Moderator,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
)
from moderation_core._serve import serving
from moderation_core.testing import RecordingTransport
from moderation_huanxin import (
    MAX_BODY_BYTES,
    MAX_TEXT_BYTES,
    CallbackError,
    CallbackReplayError,
    CallbackVerificationError,
    HuanxinProvider,
    parse_callback,
    read_callback,
    verify_callback,
)
from tests import fake_secrets as secrets
from tests.support.providers import failure

from .helpers import (
    APP,
    CHECK_PATH,
    ORG,
    TOKEN_PATH,
    answering,
    config,
    data_answer,
    emulator,
    moderator,
)

SECRET = secrets.HUANXIN_CALLBACK_SECRET
APP_KEY = f"{ORG}#{APP}"
TIMESTAMP = 1700000000123
NOW = TIMESTAMP / 1000 + 5
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def callback(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callId": f"{APP_KEY}_6d0d1f2a-6c5e-4b64-9a8e-0b1d8a2c7f31",
        "eventType": "moderation",
        "moderationResult": "REJECT",
        "providerResult": "REJECT",
        "riskType": "辱骂",
        "messageType": "txt",
        "messageId": "1234567890123456789",
        "from": "u1",
        "to": "u2",
        "targetType": "chat",
        "appkey": APP_KEY,
        "msg": "你这个傻逼",
        "timestamp": TIMESTAMP,
    }
    body.update(fields)
    body.setdefault(
        "security",
        hashlib.md5(  # noqa: S324 - the vendor's scheme
            f"{body['callId']}{SECRET}{body['timestamp']}".encode()
        ).hexdigest(),
    )
    return body


def provider(name: str = "huanxin", **overrides: Any) -> HuanxinProvider:
    table = config(**overrides)["providers"]["huanxin"]
    return HuanxinProvider.from_config(name, table, f"[providers.{name}]")


# -- item 17: the body limit, declared as a text limit ------------------------------


def test_a_5_kb_text_is_split_and_checked_over_real_http() -> None:
    # 5.4 KB of UTF-8 with the abuse near the end: one body would be over 5 KB (413).
    text = "今天天气不错，我们去公园散步吧。" * 110 + "你这个傻逼"
    assert len(text.encode()) > 5 * 1024
    emu = emulator()
    with serving(emu) as server, Moderator.from_config(config(base_url=server.url)) as mod:
        verdict = mod.check(text)
    assert (verdict.decision, verdict.label, verdict.keywords) == (
        Decision.BLOCK,
        Label.ABUSE,
        ("傻逼",),
    )
    assert emu.check_requests >= 2  # split, each part within the body limit


def test_text_limit_leaves_room_for_the_envelope_and_escaping() -> None:
    # Quotes and backslashes double when escaped: the worst case the limit is sized for.
    worst = '"\\' * (MAX_TEXT_BYTES // 2)
    rec = RecordingTransport(emulator())
    with moderator(rec) as mod:
        assert mod.check(worst).decision is Decision.PASS
    (check,) = [r for r in rec.requests if r.url.path == CHECK_PATH]
    assert len(check.content) <= MAX_BODY_BYTES


@FUZZ
@given(
    st.text(
        # Every character but the C0 controls that escape to six bytes (\u0001 ...).
        alphabet=st.characters(
            blacklist_categories=["Cs"],
            blacklist_characters=[chr(c) for c in range(32) if chr(c) not in "\b\f\n\r\t"],
        ),
        min_size=1,
    )
)
def test_any_text_within_the_limit_fits_the_body(text: str) -> None:
    while len(text.encode()) > MAX_TEXT_BYTES:
        text = text[: len(text) // 2 + 1] if len(text) > 1 else ""
    if not text.strip():
        return
    body = httpx.Request("POST", "http://x", json={"content": text}).content
    assert len(body) <= MAX_BODY_BYTES


def test_text_dense_in_control_characters_is_refused_without_a_request() -> None:
    rec = RecordingTransport(emulator())
    with moderator(rec) as mod:
        error = failure(mod, "\x01" * 1000 + "x")  # 1 KB of text, a 6 KB body
    assert isinstance(error, ProviderError)
    assert not error.retryable
    assert error.code == 413
    assert CHECK_PATH not in rec.paths()


# -- item 18: one crosswalk ----------------------------------------------------------


@pytest.mark.parametrize(
    ("risk_label", "risk_type", "label", "sublabel"),
    [
        ("HATE_SPEECH", "仇恨言论", Label.HATE, "仇恨言论"),
        ("SEXY", "成人内容", Label.SEXY, "成人内容"),
        ("QR", "二维码", Label.AD, "QRCode"),
        ("AD", "广告:联系方式:网址", Label.AD, "广告:联系方式:网址"),
        ("NEW_THING", "新类别", Label.OTHER, "新类别"),
    ],
)
def test_check_api_and_callback_map_a_category_alike(
    risk_label: str, risk_type: str, label: Label, sublabel: str
) -> None:
    data = {"type": "REVIEWED", "riskLabel": risk_label, "riskType": risk_type}
    with moderator(answering(data_answer(data))) as mod:
        checked = mod.check("some text")
    pushed = parse_callback(callback(riskType=risk_type, providerResult="REVIEWED")).verdict
    assert (checked.label, checked.sublabel) == (label, sublabel)
    assert (pushed.label, pushed.sublabel) == (label, sublabel)


# -- item 18: appkey -----------------------------------------------------------------


def test_callback_for_another_app_is_refused() -> None:
    other = callback(appkey="other-org#other-app")
    with pytest.raises(CallbackVerificationError, match="appkey"):
        read_callback(other, SECRET, app=APP_KEY, now=NOW)
    with pytest.raises(CallbackVerificationError, match="appkey"):
        verify_callback(other, SECRET, app=APP_KEY, now=NOW)
    with pytest.raises(CallbackVerificationError, match="appkey"):
        provider(callback_secret=SECRET).parse_webhook(other, now=NOW)
    no_appkey = callback()
    del no_appkey["appkey"]
    with pytest.raises(CallbackVerificationError, match="appkey"):
        read_callback(no_appkey, SECRET, app=APP_KEY, now=NOW)
    event = provider(callback_secret=SECRET).parse_webhook(callback(), now=NOW)
    assert (event.event_id, event.verdict.provider) == (callback()["callId"], "huanxin")


# -- item 18: a failing code in an HTTP 200 body --------------------------------------


@pytest.mark.parametrize(
    ("code", "description", "message"),
    [
        (4000303, "application not found", "app not found"),
        (4000404, "text moderation not open", "not enabled"),
        (4000005, "message content is empty or null", "refused"),
        (1234, "something new", "refused"),
        ("E42", "something new", "refused"),
    ],
)
def test_body_codes_are_mapped_as_documented_not_retried(
    code: object, description: str, message: str
) -> None:
    body = {"code": code, "error": "bad_request", "error_description": description}
    rec = answering(lambda _r: httpx.Response(200, json=body))
    with moderator(rec, retries=2) as mod:
        error = failure(mod)
    assert not isinstance(error, ProviderUnavailable)
    assert not error.retryable
    assert message in str(error)
    assert rec.paths().count(CHECK_PATH) == 1  # not retried


def test_a_server_error_code_in_the_body_is_still_retryable() -> None:
    body = {"code": 503, "error": "server_error", "error_description": "busy"}
    with moderator(answering(lambda _r: httpx.Response(200, json=body))) as mod:
        assert isinstance(failure(mod), ProviderUnavailable)


# -- item 18: the emulator's wrong org/app answer ---------------------------------------


@pytest.mark.parametrize(
    ("path", "description"),
    [
        (f"/wrong-org/{APP}/moderation/txt/check", "orgName not found"),
        (f"/{ORG}/wrong-app/moderation/txt/check", "application not found"),
    ],
)
def test_emulator_answers_unknown_org_or_app_as_documented(path: str, description: str) -> None:
    emu = emulator()
    request = httpx.Request("POST", f"http://huanxin.test{path}", json={"content": "hi"})
    response = emu(request)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["error_description"]) == (4000303, description)
    assert {"error", "exception", "timestamp", "duration"} <= set(body)


def test_unknown_app_from_the_emulator_is_an_app_not_found_error() -> None:
    emu = emulator()
    with moderator(answering(lambda r: emu(_retarget(r)), emu)) as mod:
        error = failure(mod)
    assert "app not found" in str(error)
    assert not error.retryable
    assert error.code == 4000303


def _retarget(request: httpx.Request) -> httpx.Request:
    """The same check, sent to an app the emulator does not host."""
    return httpx.Request(
        "POST",
        str(request.url).replace(f"/{APP}/", "/wrong-app/"),
        headers=request.headers,
        content=request.content,
    )


# -- item 22: nesting ----------------------------------------------------------------


@pytest.mark.parametrize("body", [b"[" * 1000, b"[" * 100_000, b'{"a":' * 50_000])
def test_deeply_nested_callbacks_are_callback_errors(body: bytes) -> None:
    for call in (
        lambda: parse_callback(body),
        lambda: read_callback(body, SECRET, now=NOW),
        lambda: verify_callback(body, SECRET, now=NOW),
        lambda: provider(callback_secret=SECRET).parse_webhook(body, now=NOW),
    ):
        with pytest.raises(CallbackError):
            call()


def test_signature_is_checked_before_any_other_field() -> None:
    # A forged body with unreadable fields fails on the signature, not on the fields.
    forged = callback(security="0" * 32, riskType=["x"], eventType={"a": 1})
    with pytest.raises(CallbackVerificationError, match="does not match"):
        read_callback(forged, SECRET, now=NOW)


@pytest.mark.parametrize(
    "endpoint",
    [CHECK_PATH, TOKEN_PATH],
)
def test_deeply_nested_vendor_answers_are_typed_errors(endpoint: str) -> None:
    nested = httpx.Response(200, content=b"[" * 100_000)
    emu = emulator()

    def handler(request: httpx.Request) -> httpx.Response:
        return nested if request.url.path == endpoint else emu(request)

    with moderator(handler) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)


def test_deeply_nested_error_answer_is_a_provider_error() -> None:
    nested = httpx.Response(400, content=b"[" * 100_000)
    with moderator(answering(lambda _r: nested)) as mod:
        error = failure(mod)
    assert isinstance(error, ProviderError)
    assert "HTTP 400" in str(error)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@FUZZ
@given(data=st.dictionaries(st.sampled_from(["type", "riskLabel", "riskType"]), _JSON), extra=_JSON)
def test_any_check_answer_is_a_verdict_or_a_typed_error(data: Any, extra: Any) -> None:
    answers = [{"code": 200, "data": data}, {"code": extra, "data": data}, extra, {"data": extra}]
    bodies = iter([json.dumps(answer, allow_nan=True).encode() for answer in answers])
    handler = answering(lambda _r: httpx.Response(200, content=next(bodies)))
    with moderator(handler) as mod:  # 240 checks, unpaced like every test's
        for _ in answers:
            try:
                mod.check("some text")
            except AllProvidersFailed as group:
                failures = group.exceptions
            else:
                failures = ()
            assert all(isinstance(e, ModerationError) for e in failures)


_FIELD_VALUES = _JSON | st.integers(min_value=-(10**400), max_value=10**400) | st.text()
_CALLBACK_KEYS = ["callId", "timestamp", "security", "appkey", "riskType", "msg", "to", "from"]


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(_CALLBACK_KEYS), _FIELD_VALUES),
    raw=st.binary(max_size=64),
)
def test_any_callback_is_an_event_or_a_callback_error(fields: dict[str, Any], raw: bytes) -> None:
    body = {**callback(), **fields}
    for given_body in (body, raw):
        with contextlib.suppress(CallbackError):
            parse_callback(given_body)
        with contextlib.suppress(CallbackError):
            read_callback(given_body, SECRET, now=NOW, app=APP_KEY)


# -- item 24 and item 13: the time window ---------------------------------------------


def test_a_2001_callback_is_refused_by_default() -> None:
    old = callback(timestamp=978307200000)  # 2001-01-01, correctly signed
    with pytest.raises(CallbackVerificationError, match="window"):
        read_callback(old, SECRET)
    with pytest.raises(CallbackVerificationError, match="window"):
        verify_callback(old, SECRET)


def test_future_callbacks_are_refused_like_old_ones() -> None:
    verify_callback(callback(), SECRET, max_age=300, now=NOW - 290)
    with pytest.raises(CallbackVerificationError, match="future"):
        verify_callback(callback(), SECRET, max_age=300, now=NOW - 400)


@pytest.mark.parametrize("timestamp", [10**400, "1" * 400, "²³", float("inf"), -5, "1e3"])
def test_impossible_timestamps_are_callback_errors_not_overflow(timestamp: object) -> None:
    body = callback(timestamp=timestamp)
    assert parse_callback(body).timestamp is None
    with pytest.raises(CallbackVerificationError):
        read_callback(body, SECRET, now=NOW)
    wire = json.dumps(body).encode()  # as it would arrive: json.loads makes the big int
    with pytest.raises(CallbackVerificationError):
        read_callback(wire, SECRET, now=NOW)


def test_max_age_must_be_a_positive_number() -> None:
    with pytest.raises(ValueError, match="max_age"):
        verify_callback(callback(), SECRET, max_age=float("nan"), now=NOW)


# -- item 24: dedupe key and replay cache ---------------------------------------------


def test_event_id_is_the_signed_call_id_and_stable_across_deliveries() -> None:
    first = parse_callback(callback())
    again = parse_callback(callback(msg="delivered again"))
    assert first.event_id == again.event_id == callback()["callId"]


def test_replay_cache_refuses_a_second_delivery() -> None:
    cache = MemoryReplayCache(ttl=600)
    read_callback(callback(), SECRET, now=NOW, replay=cache)
    with pytest.raises(CallbackReplayError, match="already accepted"):
        read_callback(callback(), SECRET, now=NOW, replay=cache)
    other = callback(callId=f"{APP_KEY}_another")
    assert read_callback(other, SECRET, now=NOW, replay=cache).event_id == other["callId"]


def test_provider_refuses_a_replayed_callback() -> None:
    hx = provider(callback_secret=SECRET)
    hx.parse_webhook(callback(), now=NOW)
    with pytest.raises(CallbackReplayError):
        hx.parse_webhook(json.dumps(callback()), now=NOW)


def test_provider_without_a_secret_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    hx = provider(name="huanxin_unsigned_warns")
    with caplog.at_level(logging.WARNING, logger="moderation_huanxin"):
        hx.parse_webhook(callback(security="not checked"), now=NOW)
        hx.parse_webhook(callback(callId=f"{APP_KEY}_2", security="x"), now=NOW)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "callback_secret" in warnings[0].getMessage()
    # Unsigned, but still bound to this app and the time window.
    with pytest.raises(CallbackVerificationError, match="appkey"):
        hx.parse_webhook(callback(callId="x_3", appkey="other#app"), now=NOW)
    with pytest.raises(CallbackVerificationError, match="window"):
        hx.parse_webhook(callback(callId="x_4"), now=NOW + 3600)


def test_parse_callback_warns_once_that_nothing_is_verified(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="moderation_huanxin"):
        parse_callback(callback())
        parse_callback(callback())
    assert [r.levelno for r in caplog.records].count(logging.WARNING) == 1
    assert SECRET not in caplog.text


def test_empty_callback_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="callback_secret is empty"):
        provider(callback_secret="")
