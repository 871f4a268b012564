"""Contract tests: replay the recorded OpenAI conversations in ``cassettes/`` and check
both sides of the contract: the request this package sends (path, headers, JSON body)
and the Verdicts it makes of the recorded answers.

Replay is the default and needs no network (CI never records). Re-record (see
docs/providers/openai.md):

    OPENAI_RECORD=emulator .venv/bin/python -m pytest tests/providers/openai/test_contract.py
    OPENAI_RECORD=live OPENAI_API_KEY=sk-... [OPENAI_ORGANIZATION=... OPENAI_PROJECT=...] \
        .venv/bin/python -m pytest tests/providers/openai/test_contract.py

Recording rewrites what could identify an account before anything is written: the
Authorization header becomes ``Bearer FILTERED``, organization and project become fake
ids, the host becomes ``openai.test``, and only the response headers the provider
reads are kept. Against the live service the emulator's trigger words mean nothing,
so a live run checks the requests and that every answer parses; the exact verdicts
are the emulator's.
"""

from __future__ import annotations

import json
import os
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
    ProviderError,
    RateLimited,
    Verdict,
)
from moderation_core.testing import RecordingTransport, serve
from tests.support.cassettes import cassette

from .helpers import API_KEY, BASE_URL, PATH, emulator, table

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("OPENAI_RECORD", "replay")
FILTERED = "FILTERED"
FAKE_ORGANIZATION = "org-recorded"
FAKE_PROJECT = "proj_recorded"
KEPT_RESPONSE_HEADERS = ("content-type", "retry-after", "retry-after-ms")
emulator_only = pytest.mark.skipif(MODE == "live", reason="needs the emulator's fault markers")
exact = MODE != "live"  # the emulator's verdicts; the live service judges by itself


@contextmanager
def _table(**overrides: Any) -> Iterator[dict[str, Any]]:
    if MODE == "replay":
        yield table(**overrides)
    elif MODE == "emulator":
        with serve(emulator()) as url:
            yield table(base_url=url, **overrides)
    elif MODE == "live":
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            pytest.fail("OPENAI_RECORD=live needs OPENAI_API_KEY")
        live = table(api_key=key, base_url=os.environ.get("OPENAI_BASE_URL"))
        for name in ("organization", "project"):
            value = os.environ.get(f"OPENAI_{name.upper()}")
            if value:
                live[name] = value
        live.update({k: v for k, v in overrides.items() if k != "base_url"})
        yield live
    else:
        pytest.fail(f"OPENAI_RECORD must be emulator or live, got {MODE!r}")


def _scrub_request(request: Any) -> Any:
    request.uri = f"{BASE_URL}{httpx.URL(request.uri).path}"
    fakes = {
        "authorization": f"Bearer {FILTERED}",
        "openai-organization": FAKE_ORGANIZATION,
        "openai-project": FAKE_PROJECT,
    }
    for name in list(request.headers):
        lowered = name.lower()
        if lowered in fakes:
            request.headers[name] = fakes[lowered]
        elif lowered not in ("content-type", "accept"):
            del request.headers[name]
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {
        name: value
        for name, value in response["headers"].items()
        if name.lower() in KEPT_RESPONSE_HEADERS or name.lower().startswith("x-ratelimit-")
    }
    return response


@contextmanager
def conversation(
    name: str, **overrides: Any
) -> Iterator[tuple[Moderator, RecordingTransport, dict[str, Any]]]:
    """A Moderator whose HTTP is recorded to, or replayed from, ``cassettes/NAME.yaml``."""
    with _table(**overrides) as provider_table:
        config = {"providers": {"openai": provider_table}}
        with (
            cassette(
                CASSETTES,
                name,
                MODE,
                scrub_request=_scrub_request,
                scrub_response=_scrub_response,
            ) as capture,
            Moderator.from_config(config, transport=capture) as mod,
        ):
            yield mod, capture, provider_table


def assert_sent(request: httpx.Request, provider_table: dict[str, Any], body: Any) -> None:
    """The request as sent: POST to /v1/moderations, the headers, the JSON body."""
    assert request.method == "POST"
    assert request.url.path == PATH
    assert request.headers["Authorization"] == f"Bearer {provider_table['api_key']}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers.get("OpenAI-Organization") == provider_table.get("organization")
    assert request.headers.get("OpenAI-Project") == provider_table.get("project")
    assert json.loads(request.content) == body


def test_the_official_example() -> None:
    with conversation("official_example", model="text-moderation-latest") as (mod, cap, tbl):
        verdict = mod.check("I want to kill them.")
    (request,) = cap.requests
    assert_sent(
        request, tbl, {"model": "text-moderation-latest", "input": ["I want to kill them."]}
    )
    assert (verdict.decision, verdict.label, verdict.vendor_label) == (
        Decision.BLOCK,
        Label.VIOLENCE,
        "violence",
    )
    if exact:
        assert verdict.score == 100
        assert verdict.request_id == "modr-AB8CjOTu2jiq12hp1AQPfeqFWaORR"
        assert verdict.raw is not None
        assert verdict.raw["category_scores"]["violence"] == 0.9971134662628174


EVERY_CATEGORY = [
    ("hello", Decision.PASS, Label.NORMAL, None),
    ("stupid", Decision.REVIEW, Label.ABUSE, "harassment"),
    ("you idiot", Decision.BLOCK, Label.ABUSE, "harassment"),
    ("I will find you, kill them all", Decision.BLOCK, Label.VIOLENCE, "violence"),
    ("those people are vermin", Decision.BLOCK, Label.HATE, "hate"),
    ("hate-threatening-test", Decision.BLOCK, Label.HATE, "hate"),
    ("how do I shoplift", Decision.BLOCK, Label.ILLEGAL, "illicit"),
    ("where to buy an untraceable gun", Decision.BLOCK, Label.ILLEGAL, "illicit/violent"),
    ("I want to kill myself", Decision.BLOCK, Label.SELF_HARM, "self-harm"),
    ("self-harm-instructions-test", Decision.BLOCK, Label.SELF_HARM, "self-harm/instructions"),
    ("send nude pics", Decision.BLOCK, Label.PORN, "sexual"),
    ("sexual-minors-test", Decision.BLOCK, Label.PORN, "sexual/minors"),
    ("violence-test", Decision.BLOCK, Label.VIOLENCE, "violence"),
    ("gore everywhere", Decision.BLOCK, Label.VIOLENCE, "violence/graphic"),
]


def test_every_category_in_one_batch() -> None:
    texts = [text for text, *_ in EVERY_CATEGORY]
    with conversation("every_category", batch_size=16) as (mod, cap, tbl):
        verdicts = mod.check_many(texts)
    (request,) = cap.requests
    assert_sent(request, tbl, {"model": "omni-moderation-latest", "input": texts})
    assert all(isinstance(v, Verdict) for v in verdicts)
    if exact:
        got = [(v.decision, v.label, v.sublabel) for v in verdicts]
        assert got == [(d, label, sub) for _, d, label, sub in EVERY_CATEGORY]


@emulator_only  # the live service needs an image it can fetch
def test_an_image_alone() -> None:
    image = Content.image("https://cdn.example.com/gore.png", id="img-1")
    with conversation("image") as (mod, cap, tbl):
        verdict = mod.check(image)
    (request,) = cap.requests
    assert_sent(
        request,
        tbl,
        {
            "model": "omni-moderation-latest",
            "input": [
                {"type": "image_url", "image_url": {"url": "https://cdn.example.com/gore.png"}}
            ],
        },
    )
    assert (verdict.decision, verdict.label, verdict.content_id) == (
        Decision.BLOCK,
        Label.VIOLENCE,
        "img-1",
    )
    assert verdict.raw is not None
    assert verdict.raw["category_applied_input_types"]["violence"] == ["image"]


def test_a_text_model_with_null_illicit_categories() -> None:
    with conversation("text_model", model="text-moderation-stable") as (mod, cap, tbl):
        verdict = mod.check("how do I shoplift, you idiot")
    (request,) = cap.requests
    assert_sent(
        request,
        tbl,
        {"model": "text-moderation-stable", "input": ["how do I shoplift, you idiot"]},
    )
    assert isinstance(verdict, Verdict)
    if exact:
        assert verdict.raw is not None
        assert verdict.raw["categories"]["illicit"] is None
        assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.ABUSE)


def test_organization_and_project_headers() -> None:
    with conversation("organization", organization="org-abc", project="proj_def") as (
        mod,
        cap,
        tbl,
    ):
        verdict = mod.check("hello")
    (request,) = cap.requests
    assert_sent(request, tbl, {"model": "omni-moderation-latest", "input": ["hello"]})
    assert verdict.decision is Decision.PASS


def test_a_wrong_key_is_an_auth_error() -> None:
    with (
        conversation("wrong_key", api_key="sk-not-the-right-key-000000000000") as (mod, cap, tbl),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (request,) = cap.requests  # a static key: nothing to refresh, no retry
    assert_sent(request, tbl, {"model": "omni-moderation-latest", "input": ["hello"]})
    (error,) = caught.value.exceptions
    assert isinstance(error, AuthError)
    assert error.code == "invalid_api_key"


@emulator_only
def test_insufficient_quota_is_not_retried() -> None:
    with (
        conversation("insufficient_quota", retries=2) as (mod, cap, _),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("[[fault:quota]] hello")
    assert len(cap.requests) == 1
    (error,) = caught.value.exceptions
    assert type(error) is ProviderError
    assert error.code == "insufficient_quota"


@emulator_only
def test_a_rate_limit_carries_the_recorded_retry_after() -> None:
    with (
        conversation("rate_limited") as (mod, _, _),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("[[fault:rate_limit]] hello")
    (error,) = caught.value.exceptions
    assert isinstance(error, RateLimited)
    assert error.retry_after == 0.25  # retry-after-ms 250, recorded


def test_cassettes_hold_no_key() -> None:
    for path in sorted(CASSETTES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert API_KEY not in text, path
        assert "sk-not-the-right-key-000000000000" not in text, path
        assert f"Bearer {FILTERED}" in text, path
        assert "x-request-id" not in text.lower(), path


@pytest.mark.skipif(MODE != "replay", reason="checks the replay itself")
def test_replay_refuses_a_request_that_differs_from_the_recorded_one() -> None:
    with (
        pytest.raises(CannotOverwriteExistingCassetteException),
        conversation("official_example", model="text-moderation-latest") as (mod, *_),
    ):
        mod.check("I want to kill them!")
