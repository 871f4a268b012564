"""Contract tests: replay the recorded Huanxin conversations in ``cassettes/`` and
check both sides of the contract, the requests this package sends (path, headers,
JSON body) and the Verdicts it makes of the recorded answers.

Replay is the default and needs no network. Re-record (see docs/providers/huanxin.md):

    HUANXIN_RECORD=emulator .venv/bin/python -m pytest tests/providers/huanxin/test_contract.py
    HUANXIN_RECORD=live HUANXIN_REGION=singapore-1 HUANXIN_ORG_NAME=... HUANXIN_APP_NAME=... \
        HUANXIN_CLIENT_ID=... HUANXIN_CLIENT_SECRET=... .venv/bin/python -m pytest \
        tests/providers/huanxin/test_contract.py

Recording filters every secret before it is written: the Authorization header, the
client_id and client_secret in the token request, the token in the token answer, and
the real org/app names and host (rewritten to the fake ones the replay uses).
"""

from __future__ import annotations

import json
import os
import re
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
from moderation_core._serve import serving
from moderation_core.testing import RecordingTransport
from moderation_huanxin.emulator import HuanxinEmulator
from tests import fake_secrets as secrets
from tests.support.cassettes import cassette

from .helpers import APP, BASE_URL, ORG, emulator, table

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("HUANXIN_RECORD", "replay")
FILTERED = "FILTERED"
SEED = (
    "【放心借】新户福利!抖音钱包-放心借为您下发了一张30天0息券,戳 "
    "https://z.douyin.com/3gq2Eis 拒收请回复R"
)
DECISIONS = {"PASS": "PASS", "REVIEWED": "REVIEW", "REJECT": "BLOCK", "UNKNOWN": "REVIEW"}
LABELS = {
    "NONE": "NORMAL",
    "POLITICS": "POLITICS",
    "VIOLENCE": "VIOLENCE",
    "PORN": "PORN",
    "BAN": "ILLEGAL",
    "ABUSE": "ABUSE",
    "AD": "AD",
    "QR": "AD",
    "UNKNOWN": "UNKNOWN",
}
# riskType's first segment names the category when riskLabel is outside the list above
# (the callback maps the same names: one crosswalk).
RISK_TYPES = {"仇恨言论": "HATE", "成人内容": "SEXY", "二维码": "AD", "涉政": "POLITICS"}
_TOKEN_SHAPE = re.compile(r"YWMt[A-Za-z0-9_-]+")


class _Target:
    """Where requests go while recording or replaying, and with which config."""

    def __init__(self, table: dict[str, Any], emu: HuanxinEmulator | None) -> None:
        self.table = table
        self.emulator = emu
        self.real_app_path = f"/{table['org_name']}/{table['app_name']}/"


@contextmanager
def _target() -> Iterator[_Target]:
    if MODE == "replay":
        yield _Target(table(), None)
    elif MODE == "emulator":
        emu = emulator()
        with serving(emu) as server:
            yield _Target(table(base_url=server.url), emu)
    elif MODE == "live":
        env = {
            key: os.environ.get(f"HUANXIN_{key.upper()}")
            for key in ("region", "base_url", "org_name", "app_name", "client_id", "client_secret")
        }
        missing = [
            f"HUANXIN_{k.upper()}"
            for k in ("org_name", "app_name", "client_id", "client_secret")
            if not env[k]
        ]
        if missing:
            pytest.fail(f"HUANXIN_RECORD=live needs {', '.join(missing)}")
        live = {"type": "huanxin", **{k: v for k, v in env.items() if v}}
        yield _Target(live, None)
    else:
        pytest.fail(f"HUANXIN_RECORD must be emulator or live, got {MODE!r}")


def _scrub_request(target: _Target) -> Any:
    def scrub(request: Any) -> Any:
        url = httpx.URL(request.uri)
        parts = url.path.split("/")  # ["", org, app, ...]
        if parts[1:2] == [target.table["org_name"]]:
            parts[1] = ORG
            if parts[2:3] == [target.table["app_name"]]:
                parts[2] = APP
        path = "/".join(parts)
        request.uri = f"{BASE_URL}{path}"
        request.headers["host"] = "huanxin.test"
        request.headers.pop("content-length", None)
        if request.body and url.path.endswith("/token"):
            body = json.loads(request.body)
            for key in ("client_id", "client_secret"):
                if key in body:
                    body[key] = FILTERED
            request.body = json.dumps(body).encode()
        return request

    return scrub


def _scrub_response(target: _Target) -> Any:
    names = [(target.table["org_name"], ORG), (target.table["app_name"], APP)]

    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        raw = response["body"]["string"]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and "access_token" in body:
            body["access_token"] = FILTERED
            text = json.dumps(body, ensure_ascii=False)
        text = _TOKEN_SHAPE.sub(FILTERED, text)
        for real, fake in names:  # error texts quote the org and app
            text = text.replace(real, fake)
        response["body"]["string"] = text.encode()
        response["headers"].pop("Set-Cookie", None)
        return response

    return scrub


@contextmanager
def conversation(
    name: str, **overrides: Any
) -> Iterator[tuple[Moderator, RecordingTransport, _Target]]:
    """A Moderator whose HTTP is recorded to, or replayed from, ``cassettes/NAME.yaml``."""
    with _target() as target:
        config = {"providers": {"huanxin": {**target.table, **overrides}}}
        with (
            cassette(
                CASSETTES,
                name,
                MODE,
                scrub_request=_scrub_request(target),
                scrub_response=_scrub_response(target),
                filter_headers=[("Authorization", f"Bearer {FILTERED}"), ("Cookie", None)],
            ) as capture,
            Moderator.from_config(config, transport=capture) as mod,
        ):
            yield mod, capture, target


def assert_token_request(request: httpx.Request, target: _Target) -> None:
    assert request.method == "POST"
    assert request.url.path == f"{target.real_app_path}token"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert "Authorization" not in request.headers
    body = json.loads(request.content)
    assert body == {
        "grant_type": "client_credentials",
        "client_id": target.table["client_id"],
        "client_secret": target.table["client_secret"],
    }


def assert_check_request(request: httpx.Request, target: _Target, content: str) -> None:
    assert request.method == "POST"
    assert request.url.path == f"{target.real_app_path}moderation/txt/check"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Authorization"].startswith("Bearer ")
    assert json.loads(request.content) == {"content": content}


def assert_crosswalk(verdict: Verdict, data: dict[str, Any]) -> None:
    """The verdict is what DESIGN section 2 makes of whatever the vendor answered."""
    assert verdict.decision.value == DECISIONS.get(data["type"], "REVIEW")
    category = (data.get("riskType") or "").split(":")[0]
    expected = LABELS.get(data.get("riskLabel") or "", RISK_TYPES.get(category, "OTHER"))
    assert verdict.label.value == expected
    assert verdict.vendor_label == data.get("riskLabel")
    if data.get("riskLabel") == "QR":
        assert verdict.sublabel == "QRCode"
    elif data.get("riskLabel") != "NONE":
        assert verdict.sublabel == (data.get("riskType") or None)
    assert verdict.keywords == tuple(dict.fromkeys(w for w in data.get("sensitiveWords", []) if w))
    if data.get("exchangeText"):
        assert verdict.masked_text == data["exchangeText"]


def test_seed_example() -> None:
    with conversation("check_seed_example") as (mod, capture, target):
        verdict = mod.check(SEED)
    token_request, check_request = capture.requests
    assert_token_request(token_request, target)
    assert_check_request(check_request, target, SEED)
    assert verdict.raw is not None
    assert_crosswalk(verdict, verdict.raw["data"])
    if MODE != "live":  # what the seed page shows
        assert (verdict.decision, verdict.label, verdict.sublabel) == (
            Decision.BLOCK,
            Label.AD,
            "广告:联系方式:网址",
        )
        assert verdict.keywords == (SEED,)
        assert verdict.masked_text == "*" * len(SEED)
        assert verdict.request_id is None  # meta.requestId is ""


TEXTS = [
    "今天天气不错",
    "颠覆国家",
    "炸弹",
    "裸聊",
    "毒品",
    "你这个傻逼",
    "加微信",
    "扫码加群",
    "unknown-test",
    "种族歧视",
]


def test_every_label() -> None:
    with conversation("check_every_label") as (mod, capture, target):
        verdicts = mod.check_many(TEXTS)
    assert capture.requests[0].url.path.endswith("/token")
    checks = capture.requests[1:]
    assert len(checks) == len(TEXTS)  # one token for all of them
    for request, text, verdict in zip(checks, TEXTS, verdicts, strict=True):
        assert_check_request(request, target, text)
        assert verdict.raw is not None
        assert_crosswalk(verdict, verdict.raw["data"])
    if MODE != "live":
        assert {v.label for v in verdicts} == {
            Label.NORMAL,
            Label.POLITICS,
            Label.VIOLENCE,
            Label.PORN,
            Label.ILLEGAL,
            Label.ABUSE,
            Label.AD,
            Label.UNKNOWN,
            Label.HATE,  # riskLabel HATE_SPEECH is unlisted; riskType 仇恨言论 names it
        }
        assert {v.decision for v in verdicts} == {Decision.PASS, Decision.REVIEW, Decision.BLOCK}


def test_refresh_after_401() -> None:
    if MODE == "live":
        pytest.skip("the live service cannot be told to expire a token on cue")
    with conversation("token_refresh_after_401") as (mod, capture, target):
        mod.check("first")
        if target.emulator is not None:
            target.emulator.expire_tokens()
        verdict = mod.check("second")
    assert verdict.decision is Decision.PASS
    paths = [r.url.path.rsplit("/", 1)[-1] for r in capture.requests]
    assert paths == ["token", "check", "check", "token", "check"]
    assert_check_request(capture.requests[2], target, "second")
    assert_check_request(capture.requests[4], target, "second")


def failed_conversation(
    name: str, **overrides: Any
) -> tuple[ProviderError, RecordingTransport, _Target]:
    with conversation(name, **overrides) as (mod, capture, target):
        try:
            mod.check("hello")
        except AllProvidersFailed as group:
            (error,) = group.exceptions
            return error, capture, target
    raise AssertionError("the check did not fail")


def test_wrong_client_secret() -> None:
    error, capture, _ = failed_conversation(
        "token_invalid_grant", client_secret="YXA6not-the-secret-0000"
    )
    assert isinstance(error, AuthError)
    assert error.code == "invalid_grant"
    assert len(capture.requests) == 1  # no retry, no check
    assert json.loads(capture.requests[0].content)["client_secret"] == "YXA6not-the-secret-0000"


def test_app_not_found() -> None:
    error, capture, target = failed_conversation("app_not_found", app_name="no-such-app")
    assert type(error) is ProviderError
    assert error.code == "organization_application_not_found"
    assert "org_name" in str(error)
    assert capture.requests[0].url.path == f"/{target.table['org_name']}/no-such-app/token"


def test_cassettes_hold_no_credentials() -> None:
    # tests/test_no_secrets.py scans every recorded file; this checks what recording adds.
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert len(cassettes) == 5
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        assert not _TOKEN_SHAPE.search(text)
        assert all(secret not in text for secret in (*secrets.ALL, secrets.HUANXIN_CLIENT_ID))
        for interaction in yaml.safe_load(text)["interactions"]:
            request = interaction["request"]
            if request["uri"].endswith("/token"):
                body = json.loads(request["body"])
                assert (body["client_id"], body["client_secret"]) == (FILTERED, FILTERED)
            else:
                assert request["headers"]["Authorization"] == [f"Bearer {FILTERED}"]
            assert request["headers"]["host"] == ["huanxin.test"]
