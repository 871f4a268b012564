"""The official SDK (alibabacloud-green20220302, on alibabacloud-tea-openapi) pointed at
the emulator over real HTTP, with each of its signature schemes, gets the answers the
emulator means, errors included: what keeps the emulator, and so the cassettes, honest.
Our provider reads the same answers alike."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_green20220302 import models
from alibabacloud_green20220302.client import Client
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.utils_models import Config

from moderation_aliyun.emulator import OFFICIAL_EXAMPLES, RULES
from moderation_core import Decision, Moderator
from moderation_core.testing import Clock, serve

from .helpers import ACCESS_KEY_ID, ACCESS_KEY_SECRET, SECURITY_TOKEN, config, emulator

# The SDK's signature_algorithm: None is its default (ACS3-HMAC-SHA256), "v2" the RPC
# HMAC-SHA1 of do_rpcrequest.
SCHEMES = {"acs3": None, "v1": "v2"}
DECISIONS = {"none": Decision.PASS, "low": Decision.REVIEW, "medium": Decision.REVIEW}


def _client(base_url: str, scheme: str = "acs3", **credentials: Any) -> Client:
    options = {
        "access_key_id": ACCESS_KEY_ID,
        "access_key_secret": ACCESS_KEY_SECRET,
        **credentials,
    }
    return Client(
        Config(
            **options,
            endpoint=base_url.split("://", 1)[1].rstrip("/"),
            protocol="http",
            signature_algorithm=SCHEMES[scheme],
            read_timeout=10_000,
        )
    )


def _plus(client: Client, text: str, service: str = "chat_detection_pro") -> Any:
    request = models.TextModerationPlusRequest(
        service=service, service_parameters=json.dumps({"content": text}, ensure_ascii=False)
    )
    return client.text_moderation_plus(request)


def _classic(client: Client, text: str, service: str = "chat_detection") -> Any:
    request = models.TextModerationRequest(
        service=service, service_parameters=json.dumps({"content": text}, ensure_ascii=False)
    )
    return client.text_moderation(request)


@pytest.fixture
def base_url() -> Iterator[str]:
    with serve(emulator()) as url:
        yield url


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_rule_reads_the_same_through_the_sdk_and_the_provider(
    base_url: str, scheme: str
) -> None:
    client = _client(base_url, scheme)
    texts = [f"x {rule.triggers[0]} y" for rule in RULES]
    with Moderator.from_config(config(base_url=base_url, signature=scheme)) as mod:
        verdicts = mod.check_many(texts)
    for rule, text, verdict in zip(RULES, texts, verdicts, strict=True):
        answer = _plus(client, text).body
        assert answer.code == 200
        assert answer.data.risk_level == rule.risk_level
        (result,) = answer.data.result
        assert (result.label, result.confidence) == (rule.plus_label, rule.confidence)
        assert verdict.vendor_label == result.label
        assert verdict.score == round(result.confidence)
        assert verdict.decision is DECISIONS.get(rule.risk_level, Decision.BLOCK)
        assert set(verdict.keywords) == {rule.triggers[0]}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_text_moderation_reads_the_same(base_url: str, scheme: str) -> None:
    client = _client(base_url, scheme)
    texts = [f"x {rule.triggers[0]} y" for rule in RULES]
    table = {"base_url": base_url, "signature": scheme, "action": "TextModeration"}
    with Moderator.from_config(config(**table)) as mod:
        verdicts = mod.check_many(texts)
    for rule, text, verdict in zip(RULES, texts, verdicts, strict=True):
        data = _classic(client, text).body.data
        assert data.labels == (rule.classic_label or "")
        assert verdict.vendor_label == (rule.classic_label or None)
        if rule.classic_label:
            assert json.loads(data.reason)["riskLevel"] == rule.risk_level


@pytest.mark.parametrize("example", OFFICIAL_EXAMPLES, ids=lambda e: e.action)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_official_examples_through_the_sdk(base_url: str, scheme: str, example: Any) -> None:
    client = _client(base_url, scheme)
    call = _plus if example.action == "TextModerationPlus" else _classic
    answer = call(client, example.content, example.service).body.to_map()
    expected = example.answer
    assert (answer["RequestId"], answer["Code"], answer["Message"]) == (
        expected["RequestId"],
        expected["Code"],
        expected["Message"],
    )
    # The SDK's model adds the fields it knows as empty lists: compare the ones sent.
    data = expected["Data"]
    assert {k: answer["Data"][k] for k in data if k != "Result"} == {
        k: v for k, v in data.items() if k != "Result"
    }
    for got, sent in zip(answer["Data"].get("Result", []), data.get("Result", []), strict=True):
        assert {k: got[k] for k in sent} == sent


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(
    ("credentials", "code", "status"),
    [
        ({"access_key_secret": "not-the-secret"}, "SignatureDoesNotMatch", 400),
        ({"access_key_id": "LTAIsomeoneElse"}, "InvalidAccessKeyId.NotFound", 404),
    ],
)
def test_credentials_refused(
    base_url: str, scheme: str, credentials: dict[str, str], code: str, status: int
) -> None:
    with pytest.raises(ClientException) as caught:
        _plus(_client(base_url, scheme, **credentials), "hello")
    assert (caught.value.code, caught.value.status_code) == (code, status)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_clock_sixteen_minutes_off_is_expired(scheme: str) -> None:
    clock = Clock(now=time.time() + 16 * 60)  # off from the SDK's clock, whatever it reads
    with serve(emulator(clock=clock)) as url:
        with pytest.raises(ClientException) as caught:
            _plus(_client(url, scheme), "hello")
        assert caught.value.code == "InvalidTimeStamp.Expired"
        clock.advance(-2 * 60)  # 14 minutes off: inside the window
        assert _plus(_client(url, scheme), "hello").body.code == 200


@pytest.mark.parametrize("scheme", SCHEMES)
def test_temporary_credentials_need_their_token(scheme: str) -> None:
    with serve(emulator(security_token=SECURITY_TOKEN)) as url:
        good = _plus(_client(url, scheme, security_token=SECURITY_TOKEN), "hello")
        assert good.body.code == 200
        with pytest.raises(ClientException) as caught:
            _plus(_client(url, scheme), "hello")
    assert caught.value.code == "InvalidSecurityToken.MismatchWithAccessKey"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_throttling_carries_the_retry_after_the_sdk_reads(scheme: str) -> None:
    # A clock that stands still: the one-second window never ends.
    with serve(emulator(rate_limit=1, clock=Clock(now=time.time()))) as url:
        client = _client(url, scheme)
        _plus(client, "hello")
        with pytest.raises(ThrottlingException) as caught:
            _plus(client, "hello")
    assert caught.value.code == "Throttling.User"
    assert caught.value.retry_after == 1000


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("InternalError", ServerException),
        ("ServiceUnavailable", ServerException),
        ("Forbidden.RAM", ClientException),
        ("InvalidAccessKeyId.Inactive", ClientException),
        ("MissingParameter", ClientException),
    ],
)
def test_injected_gateway_errors(base_url: str, fault: str, kind: type[Exception]) -> None:
    with pytest.raises(kind) as caught:
        _plus(_client(base_url), f"x [[fault:{fault}]]")
    assert getattr(caught.value, "code", None) == fault


@pytest.mark.parametrize(
    "code", [280, 400, 401, 403, 404, 480, 500, 503, 580, 581, 586, 588, 592, 594, 596]
)
def test_business_codes_reach_the_sdk_as_answers(base_url: str, code: int) -> None:
    # HTTP 200: the SDK hands them back as a response; the body's Code says what went wrong.
    answer = _plus(_client(base_url), f"x [[fault:{code}]]")
    assert (answer.status_code, answer.body.code) == (200, code)


def test_service_checks_through_the_sdk(base_url: str) -> None:
    answer = _plus(_client(base_url), "hello", service="chat_detection").body
    assert (answer.code, answer.message) == (400, "service is invalid")
    long = _plus(_client(base_url), "x" * 2001).body
    assert long.code == 400
