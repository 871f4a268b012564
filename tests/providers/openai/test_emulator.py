"""The emulator on its own: what it checks, how it judges, the official examples, its
faults and its options (as the CLI's ``--set`` gives them)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from moderation_core import Emulator
from moderation_core.testing import Clock
from moderation_openai import CATEGORIES
from moderation_openai.emulator import (
    DEMO_API_KEY,
    FAULTS,
    FLAG_AT,
    OFFICIAL_IMAGE_EXAMPLE,
    OFFICIAL_TEXT_EXAMPLE,
    RULES,
    make_emulator,
)

from .helpers import API_KEY, emulator

URL = "http://openai.test/v1/moderations"


def post(
    emu: Emulator,
    body: Any,
    *,
    key: str | None = API_KEY,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    return emu(httpx.Request("POST", URL, json=body, headers=sent))


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_the_official_text_example_word_for_word() -> None:
    got = post(emulator(), {"model": "text-moderation-latest", "input": "I want to kill them."})
    assert got.status_code == 200
    assert got.json() == OFFICIAL_TEXT_EXAMPLE


def test_the_official_image_example_word_for_word() -> None:
    body = {
        "model": "omni-moderation-latest",
        "input": [
            {"type": "text", "text": "...text to classify goes here..."},
            {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}},
        ],
    }
    got = post(emulator(), body)
    assert got.json() == OFFICIAL_IMAGE_EXAMPLE


def test_omni_scores_the_example_text_as_the_example_does() -> None:
    (item,) = post(emulator(), {"input": ["I want to kill them."]}).json()["results"]
    assert item["category_scores"]["violence"] == 0.9971134662628174
    assert {k for k, v in item["categories"].items() if v} == {
        "harassment",
        "harassment/threatening",
        "violence",
    }


def test_every_category_has_a_rule_that_flags_it() -> None:
    flagged = {key for rule in RULES for key, score in rule.scores.items() if score >= FLAG_AT}
    assert flagged == set(CATEGORIES)
    texts = [rule.triggers[-1] for rule in RULES]
    results = post(emulator(), {"input": texts}).json()["results"]
    assert len(results) == len(texts)
    for rule, item in zip(RULES, results, strict=True):
        for key, score in rule.scores.items():
            assert item["category_scores"][key] == score
            assert item["categories"][key] is (score >= FLAG_AT)


def test_an_innocent_text_is_not_flagged_and_has_every_key() -> None:
    answer = post(emulator(), {"input": "hello"}).json()
    assert answer["model"] == "omni-moderation-latest"
    assert answer["id"].startswith("modr-")
    (item,) = answer["results"]
    assert item["flagged"] is False
    assert set(item["categories"]) == set(item["category_scores"]) == set(CATEGORIES)
    assert all(v == ["text"] for v in item["category_applied_input_types"].values())


def test_a_score_marker_sets_one_score() -> None:
    (item,) = post(emulator(), {"input": "x [[score:hate=0.42]]"}).json()["results"]
    assert item["category_scores"]["hate"] == 0.42
    assert item["flagged"] is False


def test_text_moderation_models_answer_null_illicit_and_no_input_types() -> None:
    answer = post(emulator(), {"model": "text-moderation-stable", "input": ["hi"]}).json()
    assert answer["model"] == "text-moderation-007"
    (item,) = answer["results"]
    assert item["categories"]["illicit"] is None
    assert item["categories"]["illicit/violent"] is None
    assert "illicit" not in item["category_scores"]
    assert "category_applied_input_types" not in item


def test_images_are_judged_by_url_with_image_categories_only() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://cdn.example.com/nsfw.jpg"}}
    (item,) = post(emulator(), {"input": [image]}).json()["results"]
    assert item["categories"]["sexual"] is True
    assert item["category_applied_input_types"]["sexual"] == ["image"]
    assert item["category_applied_input_types"]["harassment"] == []


def test_a_data_url_image_is_accepted_and_a_bad_one_refused() -> None:
    data = base64.b64encode(b"\x89PNG fake").decode()
    good = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    assert post(emulator(), {"input": [good]}).status_code == 200
    bad = {"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}
    refused = post(emulator(), {"input": [bad]})
    assert refused.status_code == 400
    assert error_of(refused)["param"] == "input[0].image_url.url"


def test_an_image_on_a_text_model_is_refused() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
    refused = post(emulator(), {"model": "text-moderation-latest", "input": [image]})
    assert refused.status_code == 400
    assert error_of(refused)["param"] == "model"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"input": []},
        {"input": 7},
        {"input": ["a", {"type": "text", "text": "b"}]},
        {"input": [{"type": "audio", "audio": "x"}]},
        {"input": [{"type": "text", "text": 5}]},
    ],
)
def test_malformed_input_is_a_400(body: dict[str, Any]) -> None:
    refused = post(emulator(), body)
    assert refused.status_code == 400
    assert error_of(refused)["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_is_a_400() -> None:
    request = httpx.Request(
        "POST",
        URL,
        content=b"input=hello",
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "text/plain"},
    )
    refused = emulator()(request)
    assert refused.status_code == 400
    assert "could not parse the JSON body" in error_of(refused)["message"]


def test_max_inputs_when_set() -> None:
    assert post(emulator(max_inputs=2), {"input": ["a", "b", "c"]}).status_code == 400
    assert post(emulator(max_inputs=2), {"input": ["a", "b"]}).status_code == 200


def test_an_unknown_model_is_404_model_not_found() -> None:
    refused = post(emulator(), {"model": "gpt-5", "input": "x"})
    assert refused.status_code == 404
    assert error_of(refused)["code"] == "model_not_found"


def test_auth_missing_wrong_and_partially_echoed() -> None:
    missing = post(emulator(), {"input": "x"}, key=None)
    assert missing.status_code == 401
    assert error_of(missing)["code"] is None
    wrong = post(emulator(), {"input": "x"}, key="sk-wrong-0000000000001234")
    assert wrong.status_code == 401
    error = error_of(wrong)
    assert error["code"] == "invalid_api_key"
    assert "1234" in error["message"]  # the service quotes the key's last four back
    assert "sk-wrong-0000000000001234" not in error["message"]


def test_organization_and_project_must_match_when_the_emulator_knows_them() -> None:
    emu = emulator(organization="org-a", project="proj_a")
    assert post(emu, {"input": "x"}).status_code == 200  # headers are optional
    ok = {"OpenAI-Organization": "org-a", "OpenAI-Project": "proj_a"}
    assert post(emu, {"input": "x"}, headers=ok).status_code == 200
    other = post(emu, {"input": "x"}, headers={"OpenAI-Project": "proj_b"})
    assert error_of(other)["code"] == "mismatched_project"


def test_wrong_path_and_method() -> None:
    emu = emulator()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    assert emu(httpx.Request("POST", "http://x/v1/moderation", headers=headers)).status_code == 404
    assert emu(httpx.Request("GET", URL, headers=headers)).status_code == 405


def test_rpm_window_with_ratelimit_headers() -> None:
    clock = Clock(now=120.0)
    emu = emulator(rpm=1, clock=clock, retry_after_ms=100, retry_after=1)
    first = post(emu, {"input": "a"})
    assert first.headers["x-ratelimit-limit-requests"] == "1"
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    assert first.headers["x-request-id"].startswith("req_")
    second = post(emu, {"input": "b"})
    assert second.status_code == 429
    assert error_of(second)["code"] == "rate_limit_exceeded"
    assert (second.headers["retry-after-ms"], second.headers["retry-after"]) == ("100", "1")
    clock.advance(60)
    assert post(emu, {"input": "c"}).status_code == 200


def test_quota_runs_out() -> None:
    emu = emulator(quota=1)
    assert post(emu, {"input": "a"}).status_code == 200
    spent = post(emu, {"input": "b"})
    assert spent.status_code == 429
    assert error_of(spent)["code"] == error_of(spent)["type"] == "insufficient_quota"


@pytest.mark.parametrize("fault", sorted(set(FAULTS) - {"slow"}))
def test_every_fault_answers_as_documented(fault: str) -> None:
    emu = emulator()
    emu.inject(fault)
    forced = post(emu, {"input": "hello"})
    expected = {
        "garbage": 200,
        "truncated": 200,
        "no_results": 200,
        "rate_limit": 429,
        "quota": 429,
        "auth": 401,
        "region": 403,
        "bad_request": 400,
        "slow_down": 503,
    }.get(fault, int(fault) if fault.isdigit() else 0)
    assert forced.status_code == expected
    assert post(emu, {"input": "hello"}).status_code == 200  # injected once only


def test_slow_sleeps_then_answers() -> None:
    slept: list[float] = []
    emu = emulator(fault="slow", slow_seconds=3, sleep=slept.append)
    assert post(emu, {"input": "hi"}).status_code == 200
    assert slept == [3.0]


def test_a_fault_marker_in_any_text() -> None:
    emu = emulator()
    assert post(emu, {"input": ["fine", "[[fault:quota]]"]}).status_code == 429
    assert post(emu, {"input": "[[fault:nonsense]] is text"}).status_code == 200


def test_options_arrive_as_strings_from_the_cli() -> None:
    emu = make_emulator(
        api_key="sk-cli", rpm="5", quota="none", fault="none", retry_after_ms="off", latency="0"
    )
    assert post(emu, {"input": "x"}, key="sk-cli").status_code == 200
    assert make_emulator()._api_key == DEMO_API_KEY


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"colour": "red"}, TypeError),
        ({"fault": "meltdown"}, ValueError),
        ({"rpm": "many"}, ValueError),
        ({"rpm": "1.5"}, ValueError),
        ({"latency": "-1"}, ValueError),
        ({"clock": 5}, TypeError),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_emulator(**options)


def test_repr_shows_no_key() -> None:
    assert API_KEY not in repr(emulator())
