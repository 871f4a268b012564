"""The emulator on its own: what it checks (5b.2), what it answers (5b.3), faults and
options, driven with plain httpx requests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from moderation_core import Emulator
from moderation_shumei.emulator import (
    DEMO_ACCESS_KEY,
    DEMO_APP_ID,
    FAULTS,
    OFFICIAL_EXAMPLE,
    OFFICIAL_EXAMPLE_ANSWER,
    RULES,
    judge,
    make_emulator,
)

URL = "http://shumei.test/text/v4"


def body(**changes: Any) -> dict[str, Any]:
    """The API doc's request example (5b.2), changed; None drops a key."""
    result: dict[str, Any] = {
        "accessKey": DEMO_ACCESS_KEY,
        "appId": DEMO_APP_ID,
        "eventId": "text",
        "type": "TEXTRISK",
        "data": {
            "text": OFFICIAL_EXAMPLE,
            "tokenId": "4567898765jhgfdsa",
            "ip": "118.89.214.89",
            "deviceId": "*************",
            "nickname": "***********",
            "extra": {
                "topic": "12345",
                "atId": "username1",
                "room": "ceshi123",
                "receiveTokenId": "username2",
            },
        },
    }
    for key, value in changes.items():
        target = result["data"] if key.startswith("data_") else result
        name = key.removeprefix("data_")
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return result


def post(
    payload: Any, emu: Emulator | None = None, *, method: str = "POST", url: str = URL
) -> httpx.Response:
    emu = emu or make_emulator()
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return emu(httpx.Request(method, url, content=content))


def code(payload: Any, emu: Any = None) -> int:
    response = post(payload, emu)
    assert response.status_code == 200  # Shumei answers every outcome with HTTP 200
    answer = response.json()
    assert set(answer) >= {"code", "message", "requestId"}
    return int(answer["code"])


def test_the_official_example_word_for_word() -> None:
    response = post(body())
    assert response.status_code == 200
    assert response.json() == OFFICIAL_EXAMPLE_ANSWER


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"accessKey": "wrong"}, 9101),
        ({"accessKey": None}, 9101),
        ({"accessKey": 5}, 9101),
        ({"appId": "other"}, 9101),
        ({"appId": None}, 1902),
        ({"eventId": None}, 1902),
        ({"eventId": ""}, 1902),
        ({"type": None}, 1902),
        ({"type": "TEXTRISK_NOPE"}, 1902),
        ({"type": "textrisk"}, 1902),
        ({"data": None}, 1902),
        ({"data": "text"}, 1902),
        ({"data_text": None}, 1902),
        ({"data_text": ""}, 1902),
        ({"data_text": 5}, 1902),
        ({"data_tokenId": None}, 1902),
        ({"data_tokenId": "x" * 65}, 1902),
        ({"data_tokenId": "has space"}, 1902),
        ({"data_lang": "xx"}, 1902),
        ({"data_extra": "x"}, 1902),
        ({"data_extra": {"receiveTokenId": "bad id!"}}, 1902),
        ({"eventId": "message", "data_extra": {}}, 1902),
        ({"eventId": "message"}, 1100),
        ({"data_tokenId": "x" * 64, "data_lang": "auto"}, 1100),
        ({"data_text": "好" * 10_000}, 1100),
        ({"data_text": "好" * 10_001}, 1905),
    ],
)
def test_what_it_checks(changes: dict[str, Any], expected: int) -> None:
    assert code(body(**changes)) == expected


def test_bodies_that_are_not_json_objects() -> None:
    for payload in (b"", b"not json", b"[]", b"[" * 100_000):
        assert code(payload) == 1902


def test_provisioned_event_ids() -> None:
    emu = make_emulator(event_ids="message,groupChat")
    assert code(body(eventId="groupChat"), emu) == 1100
    assert code(body(eventId="text"), emu) == 1902


def test_path_and_method() -> None:
    assert post(body(), url="http://shumei.test/text/v3").status_code == 404
    assert post(body(), method="GET").status_code == 405
    assert post(body(), url="http://shumei.test/text/v4/").status_code == 200


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.risk_label1)
def test_every_rule_answers_in_the_documented_shape(rule: Any) -> None:
    trigger = rule.triggers[-1]
    answer = judge(f"a {trigger} b", "TEXTRISK_FRUAD_TEXTMINOR")
    assert answer["code"] == 1100
    assert (answer["riskLevel"], answer["riskLabel1"]) == (rule.risk_level, rule.risk_label1)
    (hit,) = answer["allLabels"]
    assert hit["riskLevel"] in ("REVIEW", "REJECT")
    assert 0 <= hit["probability"] <= 1
    assert answer["auxInfo"]["filteredText"] == f"a {'*' * len(trigger)} b"
    detail = answer["riskDetail"]
    found = detail.get("riskSegments") or detail["matchedLists"][0]["words"]
    assert found[0]["position"] == list(range(2, 2 + len(trigger)))


def test_pass_shape() -> None:
    answer = judge("hello")
    assert answer["riskLevel"] == "PASS"
    assert (answer["riskLabel1"], answer["riskLabel2"], answer["riskLabel3"]) == ("normal", "", "")
    assert answer["allLabels"] == []
    assert (answer["finalResult"], answer["resultType"]) == (1, 0)


def test_faults_by_marker_inject_and_option() -> None:
    emu = make_emulator()
    assert code(body(data_text="hi [[fault:1903]]"), emu) == 1903
    assert code(body(data_text="hi [[fault:no_such]]"), emu) == 1100  # just text
    emu.inject("1901", times=2)
    assert [code(body(), emu) for _ in range(3)] == [1901, 1901, 1100]
    assert code(body(), make_emulator(fault="9101")) == 9101
    assert post(body(), make_emulator(fault="503")).status_code == 503
    with pytest.raises(ValueError, match="unknown fault"):
        emu.inject("nope")


def test_slow_sleeps_through_the_injected_sleep() -> None:
    slept: list[float] = []
    emu = make_emulator(fault="slow", slow_seconds="2.5", sleep=slept.append)
    assert code(body(), emu) == 1100
    assert slept == [2.5]


def test_options_arrive_as_strings() -> None:
    emu = make_emulator(rate_limit="0", max_text_chars="3", app_id="a", access_key="k")
    assert code(body(accessKey="k", appId="a", data_text="abcd"), emu) == 1905
    with pytest.raises(ValueError, match="rate_limit"):
        make_emulator(rate_limit="fast")
    with pytest.raises(TypeError, match="unknown Shumei emulator option"):
        make_emulator(colour="red")
    with pytest.raises(ValueError, match="fault"):
        make_emulator(fault="nope")


def test_every_fault_is_documented() -> None:
    assert {"1901", "1902", "1903", "1905", "9101"} <= set(FAULTS)


def test_repr_shows_no_key() -> None:
    assert "k-secret" not in repr(make_emulator(access_key="k-secret"))
