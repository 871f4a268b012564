"""Contract tests: replay the recorded Yidun conversations in ``cassettes/`` and check
both sides of the contract: the form this package sends (path, every parameter, the
signature) and the Verdicts it makes of the recorded answers.

Replay is the default and needs no network (CI never records). Re-record (see
docs/providers/yidun.md):

    YIDUN_RECORD=emulator .venv/bin/python -m pytest tests/providers/yidun/test_contract.py
    YIDUN_RECORD=live YIDUN_SECRET_ID=... YIDUN_SECRET_KEY=... YIDUN_BUSINESS_ID=... \
        .venv/bin/python -m pytest tests/providers/yidun/test_contract.py

Recording rewrites the form before anything is written: ``signature=FILTERED``,
``timestamp`` and ``nonce`` (new on every request) to fixed words, and the real
secretId and businessId to the fake ones the replay uses. Replay matches a request on
its method, path and form, those three parameters left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from moderation_core import AllProvidersFailed, AuthError, Content, Decision, Label, Moderator
from moderation_core.testing import RecordingTransport, serve
from moderation_yidun import BATCH_PATH, LABELS, SINGLE_PATH, signature_matches
from moderation_yidun.emulator import OFFICIAL_BATCH, OFFICIAL_SINGLE, TEXT_RULES
from tests.support.cassettes import cassette

from .helpers import BUSINESS_ID, SECRET_ID, SECRET_KEY, emulator, form, table, texts

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("YIDUN_RECORD", "replay")
FILTERED = "FILTERED"
VOLATILE = {"signature": FILTERED, "timestamp": "TIMESTAMP", "nonce": "NONCE"}
emulator_only = pytest.mark.skipif(MODE == "live", reason="the emulator's own rules and keys")


@contextmanager
def _target(**overrides: Any) -> Iterator[dict[str, Any]]:
    """The provider table requests go out with while recording or replaying."""
    if MODE == "replay":
        yield table(**overrides)
    elif MODE == "emulator":
        with serve(emulator()) as base_url:
            yield table(base_url=base_url, **overrides)
    elif MODE == "live":
        names = ("SECRET_ID", "SECRET_KEY", "BUSINESS_ID")
        missing = [f"YIDUN_{n}" for n in names if not os.environ.get(f"YIDUN_{n}")]
        if missing:
            pytest.fail(f"YIDUN_RECORD=live needs {', '.join(missing)}")
        live = table(
            secret_id=os.environ["YIDUN_SECRET_ID"],
            secret_key=os.environ["YIDUN_SECRET_KEY"],
            business_id=os.environ["YIDUN_BUSINESS_ID"],
            base_url=os.environ.get("YIDUN_BASE_URL"),
            region=None if os.environ.get("YIDUN_BASE_URL") else os.environ.get("YIDUN_REGION"),
        )
        live.update({k: v for k, v in overrides.items() if k not in live})
        yield live
    else:
        pytest.fail(f"YIDUN_RECORD must be emulator or live, got {MODE!r}")


def _fake(target: dict[str, Any]) -> dict[str, str]:
    """Real value -> what the cassette holds instead."""
    return {str(target["secret_id"]): SECRET_ID, str(target["business_id"]): BUSINESS_ID}


def _scrubbed_form(body: bytes | str | None, fake: dict[str, str]) -> str:
    text = body.decode() if isinstance(body, bytes) else (body or "")
    pairs = parse_qsl(text, keep_blank_values=True)
    return urlencode([(k, VOLATILE.get(k, fake.get(v, v))) for k, v in pairs])


def _scrub_request(target: dict[str, Any]) -> Any:
    fake = _fake(target)

    def scrub(request: Any) -> Any:
        url = httpx.URL(request.uri)
        request.uri = f"http://yidun.test{url.path}"
        request.body = _scrubbed_form(request.body, fake).encode()
        for name in ("host", "user-agent", "content-length"):
            request.headers.pop(name, None)
        return request

    return scrub


def _scrub_response(target: dict[str, Any]) -> Any:
    fake = _fake(target)

    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        raw = response["body"]["string"]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        for real, replacement in fake.items():
            text = text.replace(real, replacement)
        response["body"]["string"] = text.encode()
        for name in ("Set-Cookie", "set-cookie", "Date", "date", "Server", "server"):
            response["headers"].pop(name, None)
        return response

    return scrub


def _same_form(recorded: Any, sent: Any) -> None:
    """vcrpy matcher: the forms agree but for the volatile parameters."""
    fake: dict[str, str] = {}
    assert _scrubbed_form(recorded.body, fake) == _scrubbed_form(sent.body, fake)


@contextmanager
def conversation(
    name: str, **overrides: Any
) -> Iterator[tuple[Moderator, RecordingTransport, str]]:
    """A Moderator whose HTTP is recorded to, or replayed from, ``cassettes/NAME.yaml``;
    yields it, the requests it sent, and the secret key they were signed with."""
    with (
        _target(**overrides) as target,
        cassette(
            CASSETTES,
            name,
            MODE,
            match_on=["method", "path", "form"],
            scrub_request=_scrub_request(target),
            scrub_response=_scrub_response(target),
            matchers={"form": _same_form},
        ) as capture,
        Moderator({"providers": {"yidun": target}}, transport=capture) as mod,
    ):
        yield mod, capture, str(target["secret_key"])


def assert_signed(request: httpx.Request, key: str, path: str) -> dict[str, str]:
    """The request as sent: a POST form to the path, signed with the key; its form."""
    assert request.method == "POST"
    assert request.url.path == path
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    sent = form(request)
    assert {"secretId", "businessId", "version", "timestamp", "nonce", "signature"} <= set(sent)
    assert sent["version"] == "v5.2"
    assert signature_matches(sent, key)
    return sent


def test_official_single_example() -> None:
    content = Content.text(OFFICIAL_SINGLE["content"], id=OFFICIAL_SINGLE["dataId"])
    with conversation("official_single") as (mod, capture, key):
        verdict = mod.check(content, sender="python@163.com")
    (request,) = capture.requests
    sent = assert_signed(request, key, SINGLE_PATH)
    assert (sent["dataId"], sent["content"]) == (OFFICIAL_SINGLE["dataId"], "易盾测试内容！")
    assert sent["account"] == "python@163.com"
    assert verdict.decision is Decision.PASS
    assert verdict.content_id == OFFICIAL_SINGLE["dataId"]
    assert verdict.request_id


def test_official_batch_example() -> None:
    contents = [Content.text(t["content"], id=t["dataId"]) for t in OFFICIAL_BATCH]
    with conversation("official_batch") as (mod, capture, key):
        verdicts = mod.check_many(contents)
    (request,) = capture.requests
    assert_signed(request, key, BATCH_PATH)
    assert texts(request) == [dict(t) for t in OFFICIAL_BATCH]
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.PASS]
    assert [v.content_id for v in verdicts] == [t["dataId"] for t in OFFICIAL_BATCH]


@emulator_only
def test_every_label_in_one_batch() -> None:
    rules = [r for r in TEXT_RULES if r.keywords]
    contents = [Content.text(f"test {r.terms[0]}", id=f"label-{i}") for i, r in enumerate(rules)]
    with conversation("every_label") as (mod, capture, key):
        verdicts = mod.check_many(contents, sender="u-1", receiver="u-2")
    (request,) = capture.requests
    assert_signed(request, key, BATCH_PATH)
    sent = texts(request)
    assert [t["dataId"] for t in sent] == [c.id for c in contents]
    assert all((t["account"], t["receiveUid"]) == ("u-1", "u-2") for t in sent)
    for rule, verdict in zip(rules, verdicts, strict=True):
        assert verdict.label is LABELS[rule.label][0]
        assert verdict.vendor_label == str(rule.label)
        assert verdict.decision is (Decision.BLOCK if rule.suggestion == 2 else Decision.REVIEW)
        assert verdict.keywords == (rule.terms[0],)
    unmapped = {Label.NORMAL, Label.HATE, Label.SELF_HARM, Label.UNKNOWN}  # no Yidun code
    assert {v.label for v in verdicts} == set(Label) - unmapped


def test_sha256_signature() -> None:
    with conversation("sha256_signature", signature_method="SHA256") as (mod, capture, key):
        verdict = mod.check(Content.text("hello there", id="sha-1"))
    (request,) = capture.requests
    sent = assert_signed(request, key, SINGLE_PATH)
    assert sent["signatureMethod"] == "SHA256"
    assert len(sent["signature"]) == 64
    assert verdict.decision is Decision.PASS


@emulator_only
def test_wrong_key_is_refused() -> None:
    with (
        conversation("wrong_key", secret_key="not-the-right-key") as (mod, capture, key),
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check(Content.text("hello", id="wk-1"))
    (error,) = caught.value.exceptions
    assert isinstance(error, AuthError)
    assert error.code == 410
    assert_signed(capture.requests[0], key, SINGLE_PATH)


def test_cassettes_hold_no_credential_or_signature() -> None:
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert SECRET_KEY not in text, path
        assert "signature=FILTERED" in text, path
        assert "signature=" not in text.replace("signature=FILTERED", ""), path
