"""The emulator checks what the service checks, answers in its shape and scale,
reproduces the official examples, plays the image host, and misbehaves on request."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moderation_azure.emulator import (
    FAULTS,
    GATEWAY_401,
    OFFICIAL_IMAGE_EXAMPLE,
    OFFICIAL_IMAGE_REQUEST,
    OFFICIAL_TEXT_EXAMPLE,
    OFFICIAL_TEXT_REQUEST,
    AzureEmulator,
    make_emulator,
    make_png,
)
from moderation_core.testing import Clock

from .helpers import API_KEY, ENDPOINT, emulator

PNG = base64.b64encode(make_png("x")).decode()


@pytest.fixture
def emu() -> AzureEmulator:
    return emulator()


@pytest.fixture
def http(emu: AzureEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(emu), base_url=ENDPOINT) as client:
        yield client


def post(
    http: httpx.Client,
    body: Any,
    operation: str = "text:analyze",
    *,
    key: str | None = API_KEY,
    version: str | None = "2024-09-01",
) -> httpx.Response:
    headers = {} if key is None else {"Ocp-Apim-Subscription-Key": key}
    params = {} if version is None else {"api-version": version}
    return http.post(f"/contentsafety/{operation}", json=body, headers=headers, params=params)


def code(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["x-ms-error-code"] == response.json()["error"]["code"]
    return response.status_code, response.json()["error"]["code"]


def test_the_official_examples_word_for_word(http: httpx.Client) -> None:
    text = post(http, dict(OFFICIAL_TEXT_REQUEST))
    image = post(http, dict(OFFICIAL_IMAGE_REQUEST), "image:analyze")
    assert text.json() == OFFICIAL_TEXT_EXAMPLE
    assert image.json() == OFFICIAL_IMAGE_EXAMPLE
    assert text.headers["apim-request-id"]


@pytest.mark.parametrize("key", [None, "", "f" * 32])
def test_a_missing_or_wrong_key_gets_the_gateways_401(http: httpx.Client, key: str | None) -> None:
    response = post(http, {"text": "hi"}, key=key)
    assert code(response) == (401, "401")
    assert response.json()["error"]["message"] == GATEWAY_401


@pytest.mark.parametrize("version", [None, "2022-01-01", "latest"])
def test_an_unsupported_api_version_is_not_found(http: httpx.Client, version: str | None) -> None:
    assert code(post(http, {"text": "hi"}, version=version)) == (404, "404")


@pytest.mark.parametrize("version", ["2023-10-01", "2024-09-01"])
def test_both_ga_versions_answer(http: httpx.Client, version: str) -> None:
    assert post(http, {"text": "hi"}, version=version).status_code == 200


def test_unknown_paths_and_methods_are_not_found(http: httpx.Client) -> None:
    assert (
        http.post("/contentsafety/text:shout", params={"api-version": "2024-09-01"}).status_code
        == 404
    )
    assert http.get("/contentsafety/text:analyze").status_code == 404
    assert http.post("/elsewhere").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": 7},
        {"text": "a" * 10_001},
        {"text": "hi", "categories": ["Harassment"]},
        {"text": "hi", "categories": []},
        {"text": "hi", "categories": "Hate"},
        {"text": "hi", "outputType": "TenSeverityLevels"},
        {"text": "hi", "blocklistNames": "TestBlocklist"},
        {"text": "hi", "haltOnBlocklistHit": "yes"},
        ["not", "an", "object"],
    ],
)
def test_bad_text_requests_are_invalid_request_body(http: httpx.Client, body: Any) -> None:
    assert code(post(http, body)) == (400, "InvalidRequestBody")


def test_text_is_counted_in_code_points(http: httpx.Client) -> None:
    assert post(http, {"text": "😀" * 10_000}).status_code == 200  # 40,000 bytes
    assert post(http, {"text": "😀" * 10_001}).status_code == 400


def test_a_body_that_is_not_json_is_invalid(http: httpx.Client) -> None:
    response = http.post(
        "/contentsafety/text:analyze",
        content=b"{nope",
        headers={"Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "application/json"},
        params={"api-version": "2024-09-01"},
    )
    assert code(response) == (400, "InvalidRequestBody")


def test_an_unknown_blocklist_is_resource_not_found(http: httpx.Client) -> None:
    assert code(post(http, {"text": "hi", "blocklistNames": ["Nope"]})) == (404, "ResourceNotFound")


def test_severities_follow_the_output_type(http: httpx.Client) -> None:
    text = "vermin nude hurt myself punch"
    four = post(http, {"text": text}).json()["categoriesAnalysis"]
    eight = post(http, {"text": text, "outputType": "EightSeverityLevels"}).json()
    assert [c["severity"] for c in four] == [4, 4, 4, 2]
    assert [c["severity"] for c in eight["categoriesAnalysis"]] == [5, 4, 5, 3]
    assert eight["blocklistsMatch"] == []


def test_only_the_requested_categories_come_back_in_their_order(http: httpx.Client) -> None:
    answer = post(http, {"text": "gore", "categories": ["Violence", "Hate"]}).json()
    assert answer["categoriesAnalysis"] == [
        {"category": "Violence", "severity": 6},
        {"category": "Hate", "severity": 0},
    ]


def test_blocklists_match_case_insensitively_and_halt_skips_the_analysis(
    http: httpx.Client,
) -> None:
    body = {"text": "Blocked-Term and HECK", "blocklistNames": ["TestBlocklist", "Profanity"]}
    matched = post(http, body).json()
    halted = post(http, {**body, "haltOnBlocklistHit": True}).json()
    assert [(m["blocklistName"], m["blocklistItemText"]) for m in matched["blocklistsMatch"]] == [
        ("TestBlocklist", "blocked-term"),
        ("Profanity", "heck"),
    ]
    assert len(matched["categoriesAnalysis"]) == 4
    assert halted == {"blocklistsMatch": matched["blocklistsMatch"], "categoriesAnalysis": []}


def test_the_severity_marker(http: httpx.Client) -> None:
    answer = post(http, {"text": "[[severity:SelfHarm=7]]", "outputType": "EightSeverityLevels"})
    assert answer.json()["categoriesAnalysis"][1] == {"category": "SelfHarm", "severity": 7}


@pytest.mark.parametrize(
    ("image", "body_extra"),
    [
        ({"content": "Y29udGVudDE=", "blobUrl": "https://x.blob.core.windows.net/c/a.png"}, {}),
        ({}, {}),
        ({"content": "not base64!"}, {}),
        ({"content": base64.b64encode(b"plain text").decode()}, {}),
        ({"content": base64.b64encode(make_png("x", size=49)).decode()}, {}),
        ({"content": base64.b64encode(make_png("x", size=2049)).decode()}, {}),
        ({"content": PNG}, {"outputType": "EightSeverityLevels"}),
        ({"content": "A" * (6 * 1024 * 1024)}, {}),
    ],
    ids=["both", "neither", "bad-base64", "not-an-image", "tiny", "huge-px", "eight-levels",
         "over-4mb"],
)  # fmt: skip
def test_bad_image_requests_are_invalid_request_body(
    http: httpx.Client, image: dict[str, str], body_extra: dict[str, str]
) -> None:
    assert code(post(http, {"image": image, **body_extra}, "image:analyze")) == (
        400,
        "InvalidRequestBody",
    )


def test_an_image_by_blob_url_is_judged_by_its_url(http: httpx.Client) -> None:
    answer = post(
        http, {"image": {"blobUrl": "https://x.blob.core.windows.net/c/gore.png"}}, "image:analyze"
    )
    assert answer.json()["categoriesAnalysis"][3] == {"category": "Violence", "severity": 6}


def test_the_image_host_serves_pngs_honouring_range(http: httpx.Client, emu: AzureEmulator) -> None:
    whole = http.get("https://img.example.com/a/cat.png?bytes=5000")
    part = http.get("https://img.example.com/a/cat.png?bytes=5000", headers={"Range": "bytes=0-99"})
    assert (whole.status_code, len(whole.content)) == (200, 5000)
    assert whole.content.startswith(b"\x89PNG")
    assert b"/a/cat.png" in whole.content
    assert (part.status_code, part.content) == (206, whole.content[:100])
    assert part.headers["Content-Range"] == "bytes 0-99/5000"
    assert http.get("https://img.example.com/missing.png").status_code == 404
    assert emu.fetches == 3
    assert emu.requests == 0  # fetches are not analyses


def normal(response: httpx.Response) -> bool:
    try:
        analysis = response.json()["categoriesAnalysis"]
        return response.status_code == 200 and all("severity" in c for c in analysis)
    except (ValueError, KeyError, TypeError):
        return False


@pytest.mark.parametrize("fault", sorted(set(FAULTS) - {"slow"}))
def test_every_fault_by_marker_option_and_injection(fault: str) -> None:
    marked = make_emulator(api_key=API_KEY)
    by_option = make_emulator(api_key=API_KEY, fault=fault)
    injected = make_emulator(api_key=API_KEY)
    injected.inject(fault)
    answers = []
    for emu, text in ((marked, f"[[fault:{fault}]]"), (by_option, "hi"), (injected, "hi")):
        with httpx.Client(transport=httpx.MockTransport(emu), base_url=ENDPOINT) as http:
            answers.append(post(http, {"text": text}))
            after = post(http, {"text": "hi"})
        assert normal(after) == (emu is not by_option)  # an injection is used up
    statuses = {a.status_code for a in answers}
    assert len(statuses) == 1
    if fault in ("garbage", "truncated", "empty", "no_severity"):
        assert statuses == {200}
    else:
        assert statuses.pop() >= 400


def test_a_fault_marker_in_an_image(http: httpx.Client) -> None:
    image = base64.b64encode(make_png("[[fault:busy]]")).decode()
    assert code(post(http, {"image": {"content": image}}, "image:analyze")) == (503, "ServerBusy")


def test_slow_sleeps_then_answers() -> None:
    naps: list[float] = []
    emu = make_emulator(api_key=API_KEY, fault="slow", slow_seconds=2, sleep=naps.append)
    with httpx.Client(transport=httpx.MockTransport(emu), base_url=ENDPOINT) as http:
        assert post(http, {"text": "hi"}).status_code == 200
    assert naps == [2.0]


def test_the_quota_window_is_ten_seconds() -> None:
    clock = Clock(now=1_700_000_000.0)
    emu = make_emulator(api_key=API_KEY, rate_limit="2", clock=clock)
    with httpx.Client(transport=httpx.MockTransport(emu), base_url=ENDPOINT) as http:
        statuses = [post(http, {"text": "hi"}).status_code for _ in range(3)]
        refused = post(http, {"text": "hi"})
        clock.advance(10)
        statuses.append(post(http, {"text": "hi"}).status_code)
    assert statuses == [200, 200, 429, 200]
    assert code(refused) == (429, "TooManyRequests")
    assert refused.headers["Retry-After"] == "10"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"fault": "boom"}, "unknown fault"),
        ({"rate_limit": "1.5"}, "whole number"),
        ({"latency": "-1"}, ">= 0"),
        ({"colour": "red"}, "unknown Azure emulator option"),
    ],
)
def test_bad_options_are_refused(options: dict[str, str], problem: str) -> None:
    with pytest.raises((ValueError, TypeError), match=problem):
        make_emulator(**options)


def test_blocklists_from_the_cli_spelling() -> None:
    emu = make_emulator(blocklists="A:one|two;B:three")
    assert emu.blocklists == {"A": ("one", "two"), "B": ("three",)}
