"""Contract tests: replay the recorded TMS/IMS conversations in ``cassettes/`` and check
both sides: the requests this package sends (headers, TC3 signature, JSON body) and the
Verdicts it makes of the recorded answers.

Replay is the default and needs no network. Re-record (docs/providers/tencent_tms.md):

    TENCENT_TMS_RECORD=emulator .venv/bin/python -m pytest \
        tests/providers/tencent_tms/test_contract.py
    TENCENT_TMS_RECORD=live TENCENT_TMS_SECRET_ID=... TENCENT_TMS_SECRET_KEY=... \
        [TENCENT_TMS_REGION=ap-singapore] [TENCENT_TMS_ROOT_DOMAIN=intl.tencentcloudapi.com] \
        .venv/bin/python -m pytest tests/providers/tencent_tms/test_contract.py

Recording rewrites each request before anything is written: the Authorization header
keeps its shape with ``Credential=FILTERED`` and ``Signature=FILTERED``, ``X-TC-Token``
becomes ``FILTERED``, the URL becomes the fake base URL the replay uses; a response
echoing the real SecretId gets the fake one.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
)
from moderation_core.testing import RecordingTransport, serve
from moderation_tencent_tms import parse_authorization
from moderation_tencent_tms._tc3 import canonical_request, signature, string_to_sign
from tests.support.cassettes import cassette

from .helpers import ALL_SECRETS, BASE_URL, SECRET_ID, emulator, table

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("TENCENT_TMS_RECORD", "replay")
FILTERED = "FILTERED"
emulator_only = pytest.mark.skipif(MODE == "live", reason="needs the emulator's fault markers")
_CREDENTIAL = re.compile(r"Credential=[^/]+/")
_SIGNATURE = re.compile(r"Signature=[0-9a-f]+")


@contextmanager
def _target(**overrides: Any) -> Iterator[dict[str, Any]]:
    """The provider table to record or replay with."""
    if MODE == "replay":
        yield table(**overrides)
    elif MODE == "emulator":
        with serve(emulator()) as url:
            yield table(base_url=url, **overrides)
    elif MODE == "live":
        missing = [
            n for n in ("TENCENT_TMS_SECRET_ID", "TENCENT_TMS_SECRET_KEY") if not os.environ.get(n)
        ]
        if missing:
            pytest.fail(f"TENCENT_TMS_RECORD=live needs {', '.join(missing)}")
        live = table(
            base_url=None,
            secret_id=os.environ["TENCENT_TMS_SECRET_ID"],
            secret_key=os.environ["TENCENT_TMS_SECRET_KEY"],
            region=os.environ.get("TENCENT_TMS_REGION", "ap-singapore"),
            root_domain=os.environ.get("TENCENT_TMS_ROOT_DOMAIN"),
            token=os.environ.get("TENCENT_TMS_TOKEN"),
        )
        live.update({k: v for k, v in overrides.items() if k not in ("secret_key", "base_url")})
        yield live
    else:
        pytest.fail(f"TENCENT_TMS_RECORD must be emulator or live, got {MODE!r}")


def _scrub_request(request: Any) -> Any:
    request.uri = f"{BASE_URL}{httpx.URL(request.uri).path}"
    headers = {k.lower(): v for k, v in request.headers.items()}
    auth = headers.get("authorization")
    if auth:
        auth = _CREDENTIAL.sub(f"Credential={FILTERED}/", auth)
        headers["authorization"] = _SIGNATURE.sub(f"Signature={FILTERED}", auth)
    if "x-tc-token" in headers:
        headers["x-tc-token"] = FILTERED
    for name in ("host", "user-agent", "content-length", "accept", "accept-encoding", "connection"):
        headers.pop(name, None)
    request.headers = headers
    return request


def _scrub_response(target: dict[str, Any]) -> Any:
    real_id = str(target["secret_id"])

    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        raw = response["body"]["string"]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if real_id != SECRET_ID:
            text = text.replace(real_id, SECRET_ID)
        response["body"]["string"] = text.encode()
        for name in list(response["headers"]):
            if name.lower() in ("set-cookie", "date", "server", "x-tc-requestid"):
                response["headers"].pop(name)
        return response

    return scrub


@contextmanager
def conversation(
    name: str, **overrides: Any
) -> Iterator[tuple[Moderator, RecordingTransport, dict[str, Any]]]:
    """A Moderator whose HTTP is recorded to, or replayed from, ``cassettes/NAME.yaml``."""
    with _target(**overrides) as target:
        config = {"providers": {"tms": target}}
        with (
            cassette(
                CASSETTES,
                name,
                MODE,
                match_on=["method", "path", "query", "body"],
                scrub_request=_scrub_request,
                scrub_response=_scrub_response(target),
            ) as capture,
            Moderator.from_config(config, transport=capture) as mod,
        ):
            yield mod, capture, target


def assert_sent(request: httpx.Request, target: dict[str, Any], action: str, body: Any) -> None:
    """The request as sent: POST /, the X-TC headers, a TC3 signature that verifies
    with the key, exactly application/json, the JSON body."""
    service = "ims" if action == "ImageModeration" else "tms"
    assert request.method == "POST"
    assert request.url.path == "/"
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert (headers["X-TC-Action"], headers["X-TC-Version"]) == (action, "2020-12-29")
    assert headers["X-TC-Region"] == target["region"]
    auth = parse_authorization(headers["Authorization"])
    assert (auth.secret_id, auth.service, auth.signed_headers) == (
        target["secret_id"],
        service,
        ("content-type", "host"),
    )
    timestamp = int(headers["X-TC-Timestamp"])
    canonical = canonical_request(
        method="POST",
        path="/",
        query="",
        headers={"content-type": headers["Content-Type"], "host": headers["Host"]},
        signed_headers=auth.signed_headers,
        payload=request.content,
    )
    to_sign = string_to_sign(timestamp=timestamp, service=service, canonical=canonical)
    key = str(target["secret_key"])
    assert auth.signature == signature(key, date=auth.date, service=service, to_sign=to_sign)
    assert json.loads(request.content) == body


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_official_pass_example() -> None:
    with conversation("text_seed_pass") as (mod, capture, target):
        verdict = mod.check("们\n", scene="bigotest", sender="user1", receiver="123")
    (request,) = capture.requests
    body = {
        "Content": "5LusCg==",
        "BizType": "bigotest",
        "User": {"UserId": "user1", "ReceiverId": "123"},
    }
    assert_sent(request, target, "TextModeration", body)
    assert (verdict.decision, verdict.label, verdict.score, verdict.keywords) == (
        Decision.PASS,
        Label.NORMAL,
        0,
        (),
    )
    assert verdict.request_id == "7f54771f-9b67-4b55-9ac9-77b1a0f4dc37"
    assert verdict.raw is not None
    assert len(verdict.raw["DetailResults"]) == 3


def test_official_block_example() -> None:
    with conversation("text_seed_block") as (mod, capture, target):
        verdict = mod.check(Content.text("绘声绘色", id="m-1"))
    (request,) = capture.requests
    assert_sent(request, target, "TextModeration", {"Content": b64("绘声绘色"), "DataId": "m-1"})
    assert (verdict.decision, verdict.label, verdict.sublabel, verdict.score) == (
        Decision.BLOCK,
        Label.AD,
        "Contact",
        87,
    )
    assert verdict.keywords == ("加我好友，给你发优惠券",)
    assert verdict.vendor_label == "Ad"
    assert verdict.content_id == "m-1"


def test_official_image_example() -> None:
    with conversation("image_seed") as (mod, capture, target):
        verdict = mod.check(Content.image("https://xxx.jpg", id=1213), scene="test_1001")
    (request,) = capture.requests
    body = {"FileUrl": "https://xxx.jpg", "BizType": "test_1001", "DataId": "1213"}
    assert_sent(request, target, "ImageModeration", body)
    assert (verdict.decision, verdict.label, verdict.sublabel, verdict.score) == (
        Decision.BLOCK,
        Label.PORN,
        "SexBehavior",
        90,
    )
    assert verdict.request_id == "a61237dd-c2a0-43e7-a3da-d27022d39ba7"


EVERY_LABEL = [
    ("今天天气不错", Decision.PASS, Label.NORMAL, "Normal"),
    ("涉政测试", Decision.BLOCK, Label.POLITICS, "Polity"),
    ("这里有炸弹", Decision.BLOCK, Label.VIOLENCE, "Terror"),
    ("色情内容", Decision.BLOCK, Label.PORN, "Porn"),
    ("卖毒品", Decision.BLOCK, Label.ILLEGAL, "Illegal"),
    ("你这个傻逼", Decision.BLOCK, Label.ABUSE, "Abuse"),
    ("自定义词", Decision.BLOCK, Label.OTHER, "Custom"),
    ("未成年吸烟", Decision.REVIEW, Label.OTHER, "Teenager"),
    ("加我微信", Decision.REVIEW, Label.AD, "Ad"),
    ("性感照片", Decision.REVIEW, Label.SEXY, "Sexy"),
]


def test_every_label() -> None:
    image = Content.image("https://cdn.example.com/qrcode_1.png", id="img")
    texts = [Content.text(text, id=f"t{i}") for i, (text, *_) in enumerate(EVERY_LABEL)]
    with conversation("every_label") as (mod, capture, target):
        verdicts = mod.check_many([*texts, image], scene="Group")
    assert len(capture.requests) == len(EVERY_LABEL) + 1  # one item per request
    by_content = {json.loads(r.content).get("DataId"): r for r in capture.requests}
    for i, (text, *_) in enumerate(EVERY_LABEL):
        body = {"Content": b64(text), "BizType": "Group", "DataId": f"t{i}"}
        assert_sent(by_content[f"t{i}"], target, "TextModeration", body)
    for verdict, (_text, decision, label, vendor) in zip(verdicts, EVERY_LABEL, strict=False):
        assert (verdict.decision, verdict.label, verdict.vendor_label) == (decision, label, vendor)
        if verdict.keywords:
            assert verdict.masked_text is not None
    assert (verdicts[-1].label, verdicts[-1].sublabel, verdicts[-1].content_id) == (
        Label.AD,
        "QRCode",
        "img",
    )


def test_wrong_secret_key_is_an_auth_error() -> None:
    with (
        conversation("wrong_key", secret_key="not-the-right-key") as (mod, capture, target),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (request,) = capture.requests
    assert_sent(request, target, "TextModeration", {"Content": b64("hello")})
    (error,) = caught.value.exceptions
    assert isinstance(error, AuthError)
    assert error.code == "AuthFailure.SignatureFailure"


@emulator_only
def test_internal_error_is_unavailable() -> None:
    with (
        conversation("internal_error") as (mod, capture, _),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("late [[fault:InternalError.ErrTextTimeOut]]")
    assert len(capture.requests) == 1
    (error,) = caught.value.exceptions
    assert isinstance(error, ProviderUnavailable)
    assert error.code == "InternalError.ErrTextTimeOut"


@pytest.mark.skipif(MODE != "replay", reason="checks the replay itself")
def test_replay_refuses_a_request_that_differs_from_the_recorded_one() -> None:
    with (
        pytest.raises(CannotOverwriteExistingCassetteException),
        conversation("text_seed_block") as (mod, *_),
    ):
        mod.check(Content.text("绘声绘色", id="m-2"))


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_cassettes_hold_no_credential(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for secret in ALL_SECRETS:
        assert secret not in text
    assert not _SIGNATURE.search(text), "an unfiltered signature"
    assert not re.search(r"Credential=(?!FILTERED/)", text), "an unfiltered SecretId"
    assert not re.search(r"x-tc-token:\s*\n\s*- (?!FILTERED)", text, re.IGNORECASE)
