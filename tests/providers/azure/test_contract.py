"""Contract tests: replay the recorded Azure AI Content Safety conversations in
``cassettes/`` and check both sides of the contract: the requests this package sends
(path, api-version, key header, JSON body; the image fetch before an image analysis)
and the Verdicts it makes of the recorded answers.

Replay is the default and needs no network (CI never records). Re-record (see
docs/providers/azure.md):

    AZURE_RECORD=emulator .venv/bin/python -m pytest tests/providers/azure/test_contract.py
    AZURE_RECORD=live AZURE_CONTENT_SAFETY_ENDPOINT=https://NAME.cognitiveservices.azure.com \
        AZURE_CONTENT_SAFETY_KEY=... \
        .venv/bin/python -m pytest tests/providers/azure/test_contract.py

Recording rewrites what could identify an account before anything is written: the
``Ocp-Apim-Subscription-Key`` header becomes ``FILTERED``, the resource's host becomes
``contoso.cognitiveservices.azure.com`` (an image host ``img.example.com``), and only
the response headers the provider reads are kept. A live run needs a blocklist named
``TestBlocklist`` holding the item ``blocked-term``; the emulator's trigger words mean
nothing to the live service, so a live run checks the requests and that every answer
parses, and the exact verdicts are the emulator's.
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

from moderation_azure.emulator import OFFICIAL_TEXT_EXAMPLE, OFFICIAL_TEXT_REQUEST
from moderation_core import (
    AllProvidersFailed,
    AuthError,
    Content,
    Decision,
    Label,
    Moderator,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Verdict,
)
from moderation_core.testing import RecordingTransport, serve
from tests.support.cassettes import cassette

from .helpers import API_KEY, ENDPOINT, HOST, IMAGE_PATH, TEXT_PATH, emulator, table

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("AZURE_RECORD", "replay")
FILTERED = "FILTERED"
IMAGE_HOST = "https://img.example.com"
KEPT_RESPONSE_HEADERS = ("content-type", "retry-after", "x-ms-error-code", "apim-request-id")
emulator_only = pytest.mark.skipif(MODE == "live", reason="needs the emulator's fault markers")
exact = MODE != "live"  # the emulator's verdicts; the live service judges by itself


@contextmanager
def _served() -> Iterator[tuple[dict[str, Any], str]]:
    """The provider's table and where images are fetched from."""
    if MODE == "replay":
        yield table(), IMAGE_HOST
    elif MODE == "emulator":
        with serve(emulator()) as url:  # the emulator plays the image host too
            yield table(endpoint=url), url
    elif MODE == "live":
        endpoint = os.environ.get("AZURE_CONTENT_SAFETY_ENDPOINT")
        key = os.environ.get("AZURE_CONTENT_SAFETY_KEY")
        if not (endpoint and key):
            pytest.fail("AZURE_RECORD=live needs AZURE_CONTENT_SAFETY_ENDPOINT and _KEY")
        yield table(endpoint=endpoint, api_key=key), IMAGE_HOST
    else:
        pytest.fail(f"AZURE_RECORD must be emulator or live, got {MODE!r}")


def _scrub_request(request: Any) -> Any:
    url = httpx.URL(request.uri)
    origin = f"https://{HOST}" if url.path.startswith("/contentsafety/") else IMAGE_HOST
    request.uri = origin + url.raw_path.decode("ascii")  # the path and the query
    for name in list(request.headers):
        lowered = name.lower()
        if lowered == "ocp-apim-subscription-key":
            request.headers[name] = FILTERED
        elif lowered not in ("content-type", "accept", "range"):
            del request.headers[name]
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {
        name: value
        for name, value in response["headers"].items()
        if name.lower() in KEPT_RESPONSE_HEADERS or name.lower() == "content-range"
    }
    return response


@contextmanager
def conversation(
    name: str, **overrides: Any
) -> Iterator[tuple[Moderator, RecordingTransport, str]]:
    """A Moderator whose HTTP is recorded to, or replayed from, ``cassettes/NAME.yaml``;
    with the image host to fetch from."""
    with _served() as (provider_table, images):
        config = {"providers": {"azure": {**provider_table, **overrides}}}
        with (
            cassette(
                CASSETTES,
                name,
                MODE,
                match_on=("method", "path", "query", "body"),
                scrub_request=_scrub_request,
                scrub_response=_scrub_response,
            ) as capture,
            Moderator.from_config(config, transport=capture) as mod,
        ):
            yield mod, capture, images


def assert_sent(request: httpx.Request, path: str, body: Any) -> None:
    """The analysis as sent: POST, the path and api-version, the key header, the body."""
    assert request.method == "POST"
    assert request.url.path == path
    assert request.url.params["api-version"] == "2024-09-01"
    assert request.headers["Ocp-Apim-Subscription-Key"] != FILTERED  # the real one went out
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == body


ALL_FOUR = ["Hate", "SelfHarm", "Sexual", "Violence"]


def test_the_official_example() -> None:
    with conversation("official_example", categories=ALL_FOUR, blocklists=["TestBlocklist"]) as (
        mod,
        cap,
        _,
    ):
        verdict = mod.check("This is text example")
    (request,) = cap.requests
    assert_sent(request, TEXT_PATH, dict(OFFICIAL_TEXT_REQUEST))
    assert (verdict.decision, verdict.label, verdict.score) == (Decision.PASS, Label.NORMAL, 0)
    if exact:
        assert verdict.raw == OFFICIAL_TEXT_EXAMPLE


EVERY_CATEGORY = [
    ("hello", Decision.PASS, Label.NORMAL, None),
    ("you idiot", Decision.REVIEW, Label.HATE, "Hate"),
    ("those people are vermin", Decision.BLOCK, Label.HATE, "Hate"),
    ("I want to kill myself", Decision.BLOCK, Label.SELF_HARM, "SelfHarm"),
    ("sexy pics", Decision.REVIEW, Label.SEXY, "Sexual"),
    ("send nude pics", Decision.BLOCK, Label.PORN, "Sexual"),
    ("I will punch you", Decision.REVIEW, Label.VIOLENCE, "Violence"),
    ("kill them all", Decision.BLOCK, Label.VIOLENCE, "Violence"),
]


def test_every_category_one_request_each() -> None:
    texts = [text for text, *_ in EVERY_CATEGORY]
    with conversation("every_category") as (mod, cap, _):
        verdicts = mod.check_many(texts)
    for request, text in zip(cap.requests, texts, strict=True):
        assert_sent(request, TEXT_PATH, {"text": text, "outputType": "FourSeverityLevels"})
    assert all(isinstance(v, Verdict) for v in verdicts)
    if exact:
        got = [(v.decision, v.label, v.sublabel) for v in verdicts]
        assert got == [(d, label, sub) for _, d, label, sub in EVERY_CATEGORY]


def test_eight_severity_levels() -> None:
    with conversation("eight_levels", output_type="EightSeverityLevels") as (mod, cap, _):
        verdict = mod.check("those people are vermin")
    (request,) = cap.requests
    assert_sent(
        request,
        TEXT_PATH,
        {"text": "those people are vermin", "outputType": "EightSeverityLevels"},
    )
    if exact:
        assert (verdict.decision, verdict.label, verdict.score) == (Decision.BLOCK, Label.HATE, 71)


def test_a_blocklist_hit() -> None:
    with conversation("blocklist", blocklists=["TestBlocklist"], halt_on_blocklist_hit=True) as (
        mod,
        cap,
        _,
    ):
        verdict = mod.check("this has a blocked-term in it")
    (request,) = cap.requests
    assert_sent(
        request,
        TEXT_PATH,
        {
            "text": "this has a blocked-term in it",
            "outputType": "FourSeverityLevels",
            "blocklistNames": ["TestBlocklist"],
            "haltOnBlocklistHit": True,
        },
    )
    assert (verdict.decision, verdict.label, verdict.sublabel) == (
        Decision.BLOCK,
        Label.OTHER,
        "TestBlocklist",
    )
    assert verdict.keywords == ("blocked-term",)


def test_a_long_text_in_parts_of_at_most_10000_characters() -> None:
    text = ("好" * 9_990 + " kill them ") * 2 + "end"
    with conversation("long_text") as (mod, cap, _):
        verdict = mod.check(Content.text(text, id="long"))
    assert len(cap.requests) == 3
    parts = [json.loads(r.content)["text"] for r in cap.requests]
    assert all(len(part) <= 10_000 for part in parts)
    assert (verdict.decision, verdict.content_id) == (Decision.BLOCK, "long")


@emulator_only  # the live service needs an image host it can fetch from
def test_an_image_is_fetched_then_sent_as_base64() -> None:
    with conversation("image") as (mod, cap, images):
        verdict = mod.check(Content.image(f"{images}/pictures/gore.png", id="img-1"))
    fetch, analysis = cap.requests
    assert (fetch.method, fetch.url.path) == ("GET", "/pictures/gore.png")
    assert "Ocp-Apim-Subscription-Key" not in fetch.headers
    body = json.loads(analysis.content)
    assert_sent(analysis, IMAGE_PATH, {"image": body["image"], "outputType": "FourSeverityLevels"})
    assert body["image"]["content"].startswith("iVBORw0KGgo")  # a PNG, in base64
    assert (verdict.decision, verdict.label, verdict.content_id) == (
        Decision.BLOCK,
        Label.VIOLENCE,
        "img-1",
    )


def test_a_wrong_key_is_an_auth_error() -> None:
    with (
        conversation("wrong_key", api_key="ffffffffffffffffffffffffffffffff") as (mod, cap, _),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (request,) = cap.requests  # a static key: nothing to refresh, no retry
    assert_sent(request, TEXT_PATH, {"text": "hello", "outputType": "FourSeverityLevels"})
    (error,) = caught.value.exceptions
    assert isinstance(error, AuthError)


@emulator_only
@pytest.mark.parametrize(
    ("fault", "error_type", "code"),
    [
        ("rate_limit", RateLimited, "TooManyRequests"),
        ("busy", ProviderUnavailable, "ServerBusy"),
        ("internal", ProviderUnavailable, "InternalError"),
        ("invalid", ProviderError, "InvalidRequestBody"),
    ],
)
def test_the_documented_errors(fault: str, error_type: type[ProviderError], code: str) -> None:
    with (
        conversation(f"error_{fault}") as (mod, _, _),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check(f"[[fault:{fault}]] hello")
    (error,) = caught.value.exceptions
    assert type(error) is error_type
    assert error.code == code
    if isinstance(error, RateLimited):
        assert error.retry_after == 1.0  # Retry-After, recorded


def test_cassettes_hold_no_key() -> None:
    paths = sorted(CASSETTES.glob("*.yaml"))
    assert paths
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert API_KEY not in text, path
        assert "ffffffffffffffffffffffffffffffff" not in text, path
        assert FILTERED in text, path
        assert "127.0.0.1" not in text, path


@pytest.mark.skipif(MODE != "replay", reason="checks the replay itself")
def test_replay_refuses_a_request_that_differs_from_the_recorded_one() -> None:
    with (
        pytest.raises(CannotOverwriteExistingCassetteException),
        conversation("eight_levels", output_type="FourSeverityLevels") as (mod, *_),
    ):
        mod.check("those people are vermin")


def test_the_endpoint_replays_under_its_recorded_host() -> None:
    assert httpx.URL(ENDPOINT).host == HOST
