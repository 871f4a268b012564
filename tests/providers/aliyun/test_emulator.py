"""The emulator checks what Alibaba Cloud checks, answers every mapped label, reproduces
the API references' examples and injects faults."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from moderation_aliyun import LABELS, classify
from moderation_aliyun._signing import rpc_signature, sha256_hex, timestamp
from moderation_aliyun.emulator import (
    DEMO_ACCESS_KEY_ID,
    FAULTS,
    OFFICIAL_EXAMPLES,
    RULES,
    judge,
    make_emulator,
)
from moderation_core import CheckContext, Content, Label
from moderation_core.testing import Clock

from .helpers import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    BASE_URL,
    NOW,
    SECURITY_TOKEN,
    emulator,
    provider,
)


def _signed(text: str = "hello", *, nonce: str = "n-1", **overrides: Any) -> httpx.Request:
    built = provider(nonce=nonce, **overrides)
    return built.request(Content.text(text), CheckContext(sender="u1"))


def _pop(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    return str(body["Code"])


def _v1(
    params: Mapping[str, str],
    *,
    secret: str = ACCESS_KEY_SECRET,
    body: Mapping[str, str] | None = None,
    method: str = "POST",
) -> httpx.Request:
    """A V1 request by hand: ``params`` in the query, ``body`` in the form, signed over both."""
    body = (
        {"Service": "chat_detection_pro", "ServiceParameters": '{"content":"hello"}'}
        if body is None
        else body
    )
    query = dict(params)
    query["Signature"] = rpc_signature(secret, method, {**query, **body})
    return httpx.Request(
        method,
        f"{BASE_URL}/",
        params=query,
        content=urlencode(body).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _v1_params(**changes: str | None) -> dict[str, str]:
    params = {
        "Action": "TextModerationPlus",
        "Format": "JSON",
        "Version": "2022-03-02",
        "Timestamp": timestamp(NOW),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": "n-by-hand",
        "AccessKeyId": ACCESS_KEY_ID,
    }
    params.update({k: v for k, v in changes.items() if v is not None})
    return {k: v for k, v in params.items() if changes.get(k, "") is not None}


@pytest.fixture
def vendor() -> Any:
    return emulator(clock=Clock(now=NOW))


# -- signatures ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_both_schemes_are_accepted(vendor: Any, scheme: str) -> None:
    response = vendor(_signed("hello", signature=scheme))
    assert response.status_code == 200
    assert response.json()["Data"]["RiskLevel"] == "none"
    assert vendor.last_scheme == scheme


def test_v1_with_every_parameter_in_the_form_body(vendor: Any) -> None:
    # APISIX's layout: everything, the signature too, in the body.
    params = _v1_params()
    business = {"Service": "chat_detection_pro", "ServiceParameters": '{"content":"hello"}'}
    fields = {**params, **business}
    fields["Signature"] = rpc_signature(ACCESS_KEY_SECRET, "POST", fields)
    request = httpx.Request(
        "POST",
        f"{BASE_URL}/",
        content=urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert vendor(request).status_code == 200


def test_v1_get_with_everything_in_the_query(vendor: Any) -> None:
    params = {
        **_v1_params(),
        "Service": "chat_detection_pro",
        "ServiceParameters": '{"content":"hi"}',
    }
    params["Signature"] = rpc_signature(ACCESS_KEY_SECRET, "GET", params)
    assert vendor(httpx.Request("GET", f"{BASE_URL}/", params=params)).status_code == 200


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_a_wrong_secret_is_signature_does_not_match(vendor: Any, scheme: str) -> None:
    response = vendor(_signed(signature=scheme, access_key_secret="not-the-secret"))
    assert (response.status_code, _pop(response)) == (400, "SignatureDoesNotMatch")
    # As the gateway does, it quotes the string it signed.
    assert "server string to sign is:" in response.json()["Message"]


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_an_unknown_key_id(vendor: Any, scheme: str) -> None:
    response = vendor(_signed(signature=scheme, access_key_id="LTAIsomeoneElse"))
    assert (response.status_code, _pop(response)) == (404, "InvalidAccessKeyId.NotFound")


def test_a_tampered_acs3_body_is_refused(vendor: Any) -> None:
    request = _signed("hello")
    forged = httpx.Request(
        "POST",
        request.url,
        headers=request.headers,
        content=request.content.replace(b"hello", b"hellO"),
    )
    assert _pop(vendor(forged)) == "SignatureDoesNotMatch"


def test_a_tampered_acs3_header_is_refused(vendor: Any) -> None:
    request = _signed("hello")
    request.headers["x-acs-action"] = "TextModeration"
    assert _pop(vendor(request)) == "SignatureDoesNotMatch"


def test_a_tampered_v1_parameter_is_refused(vendor: Any) -> None:
    request = _signed("hello", signature="v1")
    params = dict(request.url.params.multi_items())
    params["Action"] = "TextModeration"
    forged = httpx.Request(
        "POST", f"{BASE_URL}/", params=params, headers=request.headers, content=request.content
    )
    assert _pop(vendor(forged)) == "SignatureDoesNotMatch"


def test_acs3_must_sign_host_date_nonce_and_payload(vendor: Any) -> None:
    request = _signed("hello")
    header = request.headers["Authorization"].replace("host;", "")
    request.headers["Authorization"] = header
    response = vendor(request)
    assert _pop(response) == "IncompleteSignature"
    assert "host" in response.json()["Message"]


def test_no_signature_at_all(vendor: Any) -> None:
    request = httpx.Request("POST", f"{BASE_URL}/", data={"Service": "chat_detection_pro"})
    assert _pop(vendor(request)) == "IncompleteSignature"


@pytest.mark.parametrize(
    "missing",
    [
        "AccessKeyId",
        "Action",
        "Version",
        "Timestamp",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
    ],
)
def test_v1_required_parameters(vendor: Any, missing: str) -> None:
    response = vendor(_v1(_v1_params(**{missing: None})))
    assert (response.status_code, _pop(response)) == (400, "MissingParameter")
    assert f'"{missing}"' in response.json()["Message"]


@pytest.mark.parametrize("missing", ["x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"])
def test_acs3_required_headers(vendor: Any, missing: str) -> None:
    request = _signed()
    del request.headers[missing]
    response = vendor(request)
    assert _pop(response) == "MissingParameter"
    assert missing in response.json()["Message"]


def test_v1_other_signature_methods_are_refused(vendor: Any) -> None:
    assert _pop(vendor(_v1(_v1_params(SignatureMethod="HMAC-SHA256")))) == "IncompleteSignature"


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_timestamps_within_fifteen_minutes(scheme: str) -> None:
    clock = Clock(now=NOW + 15 * 60)
    vendor = emulator(clock=clock)
    assert vendor(_signed(signature=scheme, nonce="a")).status_code == 200
    clock.advance(1)  # 15 min 1 s off
    response = vendor(_signed(signature=scheme, nonce="b"))
    assert (response.status_code, _pop(response)) == (400, "InvalidTimeStamp.Expired")
    clock.now = NOW - 15 * 60 - 1  # the other way
    assert _pop(vendor(_signed(signature=scheme, nonce="c"))) == "InvalidTimeStamp.Expired"


def test_a_malformed_timestamp(vendor: Any) -> None:
    response = vendor(_v1(_v1_params(Timestamp="2023-11-14 22:13:20")))
    assert _pop(response) == "InvalidTimeStamp.Format"


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_a_nonce_is_good_once(vendor: Any, scheme: str) -> None:
    assert vendor(_signed(signature=scheme, nonce="once")).status_code == 200
    response = vendor(_signed(signature=scheme, nonce="once"))
    assert (response.status_code, _pop(response)) == (400, "SignatureNonceUsed")
    assert vendor(_signed(signature=scheme, nonce="twice")).status_code == 200


def test_nonces_are_forgotten_after_the_window() -> None:
    clock = Clock(now=NOW)
    vendor = emulator(clock=clock)
    assert vendor(_signed(nonce="old")).status_code == 200
    clock.advance(31 * 60)  # past twice the skew window: a replay would be Expired anyway
    vendor(_signed(nonce="other", clock=clock))
    assert "old" not in vendor._nonces


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_sts_credentials_need_their_token(scheme: str) -> None:
    vendor = emulator(clock=Clock(now=NOW), security_token=SECURITY_TOKEN)
    good = vendor(_signed(signature=scheme, security_token=SECURITY_TOKEN, nonce="a"))
    assert good.status_code == 200
    bad = vendor(_signed(signature=scheme, nonce="b"))
    assert _pop(bad) == "InvalidSecurityToken.MismatchWithAccessKey"


# -- what it asked ---------------------------------------------------------------------


def test_unknown_action_or_version(vendor: Any) -> None:
    assert _pop(vendor(_v1(_v1_params(Action="DescribeRegions")))) == "InvalidApi.NotFound"
    assert (
        _pop(vendor(_v1(_v1_params(Version="2017-08-23", SignatureNonce="other"))))
        == "InvalidApi.NotFound"
    )
    assert _pop(vendor(httpx.Request("POST", f"{BASE_URL}/other"))) == "InvalidApi.NotFound"


def _business(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["Code"], body["Message"]


def test_service_checks(vendor: Any) -> None:
    assert (
        _pop(vendor(_v1(_v1_params(), body={"ServiceParameters": '{"content":"x"}'})))
        == "MissingParameter"
    )
    wrong = _v1(
        _v1_params(SignatureNonce="2"),
        body={"Service": "chat_detection", "ServiceParameters": '{"content":"x"}'},
    )
    assert _business(vendor(wrong)) == (200, 400, "service is invalid")


def test_provisioned_services_only() -> None:
    vendor = emulator(clock=Clock(now=NOW), services="chat_detection_pro")
    assert vendor(_signed(nonce="a")).status_code == 200
    other = vendor(_signed(nonce="b", service="comment_detection_pro"))
    assert _business(other)[1] == 400


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ("not json", "ServiceParameters is not a JSON object"),
        ("[1]", "ServiceParameters is not a JSON object"),
        ('{"content": ""}', "content is empty"),
        ('{"content": 5}', "content is empty"),
        ("{}", "content is empty"),
        ('{"content": "' + "x" * 2001 + '"}', "content is longer than 2000 characters"),
    ],
)
def test_service_parameters_checks(vendor: Any, parameters: str, message: str) -> None:
    request = _v1(
        _v1_params(), body={"Service": "chat_detection_pro", "ServiceParameters": parameters}
    )
    assert _business(vendor(request)) == (200, 400, message)


def test_each_service_s_limit(vendor: Any) -> None:
    long = "x" * 4000
    ok = _v1(
        _v1_params(SignatureNonce="a"),
        body={
            "Service": "llm_response_moderation",
            "ServiceParameters": json.dumps({"content": long}),
        },
    )
    assert vendor(ok).json()["Code"] == 200
    classic = _v1(
        _v1_params(SignatureNonce="b", Action="TextModeration"),
        body={"Service": "chat_detection", "ServiceParameters": json.dumps({"content": "x" * 601})},
    )
    assert vendor(classic).json()["Code"] == 400


def test_rate_limit_per_second() -> None:
    clock = Clock(now=NOW)
    vendor = emulator(clock=clock, rate_limit="2")
    assert [vendor(_signed(nonce=str(i))).status_code for i in range(2)] == [200, 200]
    response = vendor(_signed(nonce="3"))
    assert _pop(response) == "Throttling.User"
    assert response.headers["x-acs-retry-after"] == "1000"
    clock.advance(1)
    assert vendor(_signed(nonce="4")).status_code == 200


def test_echoes_the_ids(vendor: Any) -> None:
    request = provider(nonce="e").request(
        Content.text("hello", id="m-7"), CheckContext(sender="u9")
    )
    data = vendor(request).json()["Data"]
    assert (data["AccountId"], data["DataId"]) == ("u9", "m-7")


# -- what it judges --------------------------------------------------------------------


def test_rules_cover_every_mapped_plus_label() -> None:
    produced = {classify(rule.plus_label) for rule in RULES}
    assert produced >= set(LABELS.values()) - {Label.NORMAL}
    assert classify(judge("TextModerationPlus", "hello")["Result"][0]["Label"]) is Label.NORMAL


def test_rules_cover_every_mapped_classic_label() -> None:
    classic = {
        "ad",
        "profanity",
        "contraband",
        "sexual_content",
        "violence",
        "political_content",
        "nonsense",
        "spam",
        "negative_content",
        "cyberbullying",
        "C_customized",
    }
    produced = {rule.classic_label for rule in RULES}
    assert classic <= produced
    assert judge("TextModeration", "hello")["labels"] == ""


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.plus_label)
def test_each_rule_answers_both_actions(rule: Any) -> None:
    text = f"前缀 {rule.triggers[0]} 后缀"
    plus = judge("TextModerationPlus", text)
    assert plus["RiskLevel"] == rule.risk_level
    (result,) = plus["Result"]
    assert (result["Label"], result["Confidence"]) == (rule.plus_label, rule.confidence)
    classic = judge("TextModeration", text)
    assert classic["labels"] == (rule.classic_label or "")
    if rule.classic_label:
        reason = json.loads(classic["reason"])
        assert reason["riskLevel"] == rule.risk_level
        assert rule.triggers[0] in (reason.get("riskWords") or reason.get("customizedWords"))


@pytest.mark.parametrize("example", OFFICIAL_EXAMPLES, ids=lambda e: e.action)
def test_official_examples_word_for_word(example: Any) -> None:
    vendor = make_emulator(clock=Clock(now=NOW))
    request = provider(
        nonce="x",
        access_key_id=DEMO_ACCESS_KEY_ID,
        access_key_secret="emulator-demo-secret-5c2e91",
        action=example.action,
        service=example.service,
    ).request(Content.text(example.content), CheckContext())
    response = vendor(request)
    assert response.json() == example.answer
    assert response.json()["RequestId"] == "AAAAAA-BBBB-CCCCC-DDDD-EEEEEEEE****"


# -- faults --------------------------------------------------------------------------


# "slow" waits: tested with a fake sleep below.
@pytest.mark.parametrize("fault", sorted(set(FAULTS) - {"slow"}))
def test_every_fault_by_marker(vendor: Any, fault: str) -> None:
    response = vendor(_signed(f"hello [[fault:{fault}]]", nonce=fault))
    plain = vendor(_signed("hello", nonce=f"{fault}-plain"))
    assert plain.status_code == 200
    assert (response.status_code, response.content) != (200, plain.content)


def test_injected_faults_then_normal(vendor: Any) -> None:
    vendor.inject("ServiceUnavailable", times=2)
    answers = [vendor(_signed(nonce=str(i))).status_code for i in range(3)]
    assert answers == [503, 503, 200]
    assert vendor.requests == 3


def test_slow_fault_sleeps() -> None:
    slept: list[float] = []
    vendor = emulator(clock=Clock(now=NOW), fault="slow", slow_seconds="2.5", sleep=slept.append)
    assert vendor(_signed()).status_code == 200
    assert slept == [2.5]


def test_options_arrive_as_strings_and_are_checked() -> None:
    assert make_emulator(rate_limit="0", max_text_chars="10", max_skew="60").max_skew == 60
    with pytest.raises(ValueError, match="rate_limit"):
        make_emulator(rate_limit="fast")
    with pytest.raises(ValueError, match="unknown fault"):
        make_emulator(fault="nope")
    with pytest.raises(TypeError, match="unknown Alibaba Cloud Green emulator option"):
        make_emulator(secret="x")


def test_repr_holds_no_secret() -> None:
    assert ACCESS_KEY_SECRET not in repr(emulator())
    assert ACCESS_KEY_ID not in repr(emulator())


def test_body_hash_header_matches(vendor: Any) -> None:
    request = _signed()
    assert request.headers["x-acs-content-sha256"] == sha256_hex(request.read())
