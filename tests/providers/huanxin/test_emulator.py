"""The emulator itself: tokens, 401 bodies, limits, options from strings, faults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from moderation_core import make_plugin_manager
from moderation_core._plugins import provider_registry
from moderation_core.testing import Clock
from moderation_huanxin import HuanxinProvider
from moderation_huanxin.emulator import FAULTS, RULES, judge, make_emulator
from tests import fake_secrets as secrets

from .helpers import APP, ORG, emulator

SEED = (
    "【放心借】新户福利!抖音钱包-放心借为您下发了一张30天0息券,戳 "
    "https://z.douyin.com/3gq2Eis 拒收请回复R"
)


def post(emu: Any, path: str, body: Any = None, **headers: str) -> httpx.Response:
    request = httpx.Request(
        "POST", f"http://h/{ORG}/{APP}/{path}", json=body, headers=headers or None
    )
    return emu(request)  # type: ignore[no-any-return]


def token_of(emu: Any, **extra: Any) -> str:
    body = {
        "grant_type": "client_credentials",
        "client_id": secrets.HUANXIN_CLIENT_ID,
        "client_secret": secrets.HUANXIN_CLIENT_SECRET,
        **extra,
    }
    answer = post(emu, "token", body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def check(emu: Any, token: str | None, content: Any = "hello") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return post(emu, "moderation/txt/check", {"content": content}, **headers)


def test_seed_example_is_reproduced() -> None:
    assert judge(SEED) == {
        "type": "REJECT",
        "riskType": "广告:联系方式:网址",
        "riskLabel": "AD",
        "exchangeText": "*" * 69,
        "sensitiveWords": [SEED],
    }


def test_rules_cover_every_label_and_type() -> None:
    labels = {r.risk_label for r in RULES} | {"NONE", "AD"}
    types = {r.type for r in RULES} | {"PASS"}
    assert labels >= {"NONE", "POLITICS", "VIOLENCE", "PORN", "BAN", "ABUSE", "AD", "QR", "UNKNOWN"}
    assert types == {"PASS", "REVIEWED", "REJECT", "UNKNOWN"}


def test_token_answer_shape_and_prefix() -> None:
    emu = emulator()
    answer = post(
        emu,
        "token",
        {
            "grant_type": "client_credentials",
            "client_id": secrets.HUANXIN_CLIENT_ID,
            "client_secret": secrets.HUANXIN_CLIENT_SECRET,
            "ttl": 60,
        },
    )
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "application"}
    assert body["access_token"].startswith("YWMt")
    assert body["expires_in"] == 60
    assert emu.token_requests == 1


@pytest.mark.parametrize(
    ("token", "error", "description"),
    [
        (None, "unauthorized", "Unable to authenticate (OAuth)"),
        ("YWMtnot-a-real-token", "auth_bad_access_token", "corrupt access token"),
    ],
)
def test_missing_and_corrupt_tokens_answer_401(
    token: str | None, error: str, description: str
) -> None:
    answer = check(emulator(), token)
    assert answer.status_code == 401
    body = answer.json()
    assert set(body) == {"error", "exception", "timestamp", "duration", "error_description"}
    assert body["error"] == error
    assert description in body["error_description"]


def test_expired_token_answers_401_unauthorized() -> None:
    clock = Clock()
    emu = emulator(clock=clock)
    token = token_of(emu, ttl=10)
    assert check(emu, token).status_code == 200
    clock.advance(10)
    answer = check(emu, token)
    assert (answer.status_code, answer.json()["error"]) == (401, "unauthorized")
    assert "expired" in answer.json()["error_description"]


def test_revoked_token_answers_401() -> None:
    emu = emulator()
    token = token_of(emu)
    emu.revoke_tokens()
    assert check(emu, token).json()["error"] == "auth_bad_access_token"


def test_ttl_zero_never_expires() -> None:
    clock = Clock()
    emu = emulator(clock=clock)
    token = token_of(emu, ttl=0)
    clock.advance(10**9)
    assert check(emu, token).status_code == 200


def test_wrong_org_app_and_unknown_paths() -> None:
    emu = emulator()
    answer = emu(httpx.Request("POST", "http://h/other/app/token", json={}))
    assert (answer.status_code, answer.json()["error"]) == (
        404,
        "organization_application_not_found",
    )
    assert emu(httpx.Request("POST", "http://h/x")).status_code == 404
    assert emu(httpx.Request("GET", f"http://h/{ORG}/{APP}/token")).status_code == 405


def test_content_type_json_required() -> None:
    emu = emulator()
    request = httpx.Request("POST", f"http://h/{ORG}/{APP}/token", content=b"{}")
    assert emu(request).status_code == 415


def test_bad_json_and_bad_grant() -> None:
    emu = emulator()
    request = httpx.Request(
        "POST",
        f"http://h/{ORG}/{APP}/token",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert emu(request).json()["error"] == "json_parse"
    assert post(emu, "token", {"grant_type": "password"}).json()["error"] == "illegal_argument"


def test_rate_limit_window_and_retry_after() -> None:
    clock = Clock()
    emu = emulator(rate_limit="2", retry_after="1.5", clock=clock)
    token = token_of(emu)
    assert [check(emu, token).status_code for _ in range(3)] == [200, 200, 429]
    limited = check(emu, token)
    assert limited.json()["error"] == "reach_limit"
    assert limited.json()["error_description"] == "This request has reached api limit"
    assert limited.headers["Retry-After"] == "1.5"
    clock.advance(1)
    assert check(emu, token).status_code == 200


def test_rate_limit_off() -> None:
    emu = emulator(rate_limit="0")
    token = token_of(emu)
    assert all(check(emu, token).status_code == 200 for _ in range(150))


def test_options_arrive_as_strings() -> None:
    emu = make_emulator(
        org_name="o",
        app_name="a",
        token_ttl="60",
        rate_limit="none",
        quota="5",
        probability="true",
        latency="0",
        max_body_bytes="100",
        fault="none",
    )
    assert (emu.token_ttl, emu.quota, emu.probability, emu.max_body_bytes) == (60, 5, True, 100)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bogus": "1"}, "unknown Huanxin emulator option"),
        ({"rate_limit": "fast"}, "must be a number"),
        ({"token_ttl": "-1"}, ">= 0"),
        ({"probability": "maybe"}, "true or false"),
        ({"fault": "explode"}, "unknown fault"),
        ({"moderation": "sleepy"}, "moderation must be"),
    ],
)
def test_bad_options_are_refused(options: dict[str, str], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make_emulator(**options)


def test_probability_option() -> None:
    emu = emulator(probability=True)
    data = check(emu, token_of(emu), "炸弹").json()["data"]
    assert data["probability"] == 0.98


def test_slow_fault_uses_the_injected_sleep() -> None:
    slept: list[float] = []
    emu = emulator(sleep=slept.append, slow_seconds="2.5", latency="0.25")
    token = token_of(emu)
    assert check(emu, token, "hi [[fault:slow]]").status_code == 200
    assert slept == [0.25, 0.25, 2.5]


EXPECTED_STATUS = {
    "500": 500,
    "502": 502,
    "503": 503,
    "504": 504,
    "garbage": 200,
    "slow": 200,
    "reach_limit": 429,
    "resource_limited": 429,
    "revoke": 401,
    "expire": 401,
    "not_open": 400,
    "not_active": 400,
    "no_rule": 400,
    "data_list": 200,
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_marker(fault: str) -> None:
    emu = emulator(sleep=lambda _s: None)
    answer = check(emu, token_of(emu), f"hello [[fault:{fault}]]")
    assert answer.status_code == EXPECTED_STATUS[fault]
    if fault == "garbage":
        assert not answer.text.startswith("{")


def test_fault_option_applies_to_every_check_and_inject_to_the_next() -> None:
    emu = emulator(fault="503")
    token = token_of(emu)
    assert [check(emu, token).status_code for _ in range(2)] == [503, 503]
    emu = emulator()
    token = token_of(emu)
    emu.inject("500", times=2)
    assert [check(emu, token).status_code for _ in range(3)] == [500, 500, 200]


def test_data_list_fault() -> None:
    emu = emulator()
    answer = check(emu, token_of(emu), "x [[fault:data_list]]")
    assert isinstance(answer.json()["data"], list)


def test_registered_with_an_emulator_factory() -> None:
    registry = provider_registry(make_plugin_manager())
    provider_class = registry.get("huanxin")
    assert provider_class is HuanxinProvider
    assert provider_class.emulator_factory is not None
    emu = provider_class.emulator_factory(rate_limit="100")
    assert callable(emu)
