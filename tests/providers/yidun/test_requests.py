"""What the provider sends: the signed form of ``/v5/text/check`` and
``/v5/text/batch-check``, the ids and people it carries, the hosts, and batching that
fills the vendor's 100 texts per request."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import httpx
import pytest

from moderation_core import (
    AllProvidersFailed,
    CheckContext,
    Content,
    Decision,
    ItemResult,
    Moderator,
    ProtocolError,
    ProviderError,
    Verdict,
)
from moderation_core.testing import Clock, RecordingTransport
from moderation_yidun import (
    BATCH_PATH,
    MAX_TEXT_CHARS,
    REGIONS,
    SINGLE_PATH,
    YidunProvider,
    signature_matches,
)
from tests.support.providers import failure

from .helpers import (
    BASE_URL,
    BUSINESS_ID,
    NOW,
    SECRET_ID,
    SECRET_KEY,
    answer,
    antispam,
    async_moderator,
    config,
    emulator,
    form,
    moderator,
    provider,
    texts,
)

COMMON = {"secretId", "businessId", "version", "timestamp", "nonce", "signature"}


def run(
    prov: YidunProvider,
    contents: list[Content],
    context: CheckContext,
    handler: Callable[[httpx.Request], httpx.Response],
) -> list[ItemResult]:
    """Drive a provider's flow by hand against a handler, as the core would."""
    flow = prov.flow(contents, context)
    try:
        request = next(flow)
        while True:
            request = flow.send(handler(request))
    except StopIteration as done:
        return list(done.value)


def test_a_single_check_is_a_signed_form_post() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        verdict = mod.check(Content.text("你好", id="m-1"), sender="u1", receiver="u2")
    assert verdict.decision is Decision.PASS
    (request,) = recording.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}{SINGLE_PATH}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    sent = form(request)
    assert set(sent) == COMMON | {"dataId", "content", "account", "receiveUid"}
    assert sent["secretId"] == SECRET_ID
    assert sent["businessId"] == BUSINESS_ID
    assert sent["version"] == "v5.2"
    assert (sent["dataId"], sent["content"]) == ("m-1", "你好")
    assert (sent["account"], sent["receiveUid"]) == ("u1", "u2")
    assert re.fullmatch(r"[0-9a-f]{32}", sent["nonce"])
    assert re.fullmatch(r"[0-9a-f]{32}", sent["signature"])  # MD5, lowercase hex
    assert signature_matches(sent, SECRET_KEY)
    assert SECRET_KEY not in request.content.decode()


def test_the_timestamp_is_milliseconds_of_the_provider_s_clock() -> None:
    clock = Clock(NOW + 0.25)
    sent: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(form(request))
        return httpx.Response(200, json=antispam(dataId=sent[-1]["dataId"]))

    run(provider(clock), [Content.text("hi")], CheckContext(), handler)
    assert sent[0]["timestamp"] == str(int((NOW + 0.25) * 1000))


def test_every_request_has_its_own_nonce() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        for _ in range(5):
            mod.check("hello")
    nonces = {form(r)["nonce"] for r in recording.requests}
    assert len(nonces) == 5


@pytest.mark.parametrize("method", ["SHA1", "SHA256"])
def test_another_signature_method_is_named_and_used(method: str) -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, signature_method=method.lower()) as mod:
        assert mod.check("hello").decision is Decision.PASS
    sent = form(recording.requests[0])
    assert sent["signatureMethod"] == method
    assert len(sent["signature"]) == {"SHA1": 40, "SHA256": 64}[method]
    assert signature_matches(sent, SECRET_KEY)


def test_md5_is_the_default_and_not_named() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        mod.check("hello")
    assert "signatureMethod" not in form(recording.requests[0])


def test_data_id_is_generated_when_the_content_has_none() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        verdict = mod.check("hello")
        mod.check("hello")
    first, second = (form(r)["dataId"] for r in recording.requests)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second
    assert verdict.content_id is None


def test_an_int_content_id_is_sent_as_text() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        verdict = mod.check(Content.text("hello", id=42))
    assert form(recording.requests[0])["dataId"] == "42"
    assert verdict.content_id == 42


def test_an_id_longer_than_the_vendor_takes_is_replaced() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        verdict = mod.check(Content.text("hello", id="x" * 129))
    assert len(form(recording.requests[0])["dataId"]) == 32
    assert verdict.content_id == "x" * 129  # the caller's id comes back unchanged


def test_no_sender_or_receiver_sends_neither() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        mod.check("hello")
    assert not {"account", "receiveUid"} & set(form(recording.requests[0]))


@pytest.mark.parametrize(
    ("context", "what"),
    [({"sender": "s" * 129}, "sender"), ({"receiver": "r" * 65}, "receiver")],
)
def test_a_person_longer_than_the_vendor_takes_fails_before_sending(
    context: dict[str, str], what: str
) -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        error = failure(mod, "hello", **context)
    assert recording.requests == []
    assert type(error) is ProviderError
    assert what in str(error)


def test_the_scene_picks_a_business_id() -> None:
    recording = RecordingTransport(emulator())
    business_ids = {"Group": "yidun-business-group"}
    with moderator(recording, business_ids=business_ids) as mod:
        mod.check("hello", scene="Group")
        mod.check("hello", scene="C2C")
        mod.check("hello")
    sent = [form(r)["businessId"] for r in recording.requests]
    assert sent == ["yidun-business-group", BUSINESS_ID, BUSINESS_ID]


def test_check_labels_are_sent_comma_separated_and_honoured() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, check_labels=[200, 500]) as mod:
        abuse, ad = mod.check_many(["you idiot", "buy now"])
    assert form(recording.requests[0])["checkLabels"] == "200,500"
    assert abuse.decision is Decision.PASS  # 600 was not asked for
    assert ad.decision is Decision.REVIEW


def test_a_batch_is_one_batch_check_with_every_text() -> None:
    recording = RecordingTransport(emulator())
    items: list[Content | str] = [
        Content.text("hello", id="a"),
        Content.text("you idiot", id="b"),
        "buy now",
    ]
    with moderator(recording) as mod:
        verdicts = mod.check_many(items, sender="u1")
    (request,) = recording.requests
    assert request.url.path == BATCH_PATH
    sent = form(request)
    assert set(sent) == COMMON | {"texts"}
    assert signature_matches(sent, SECRET_KEY)
    entries = texts(request)
    assert [e["content"] for e in entries] == ["hello", "you idiot", "buy now"]
    assert [e["dataId"] for e in entries][:2] == ["a", "b"]
    assert all(e["account"] == "u1" for e in entries)
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.BLOCK, Decision.REVIEW]
    assert [v.content_id for v in verdicts] == ["a", "b", None]


def test_a_repeated_id_in_one_batch_gets_its_own_data_id() -> None:
    recording = RecordingTransport(emulator())
    items = [Content.text("hello", id="same"), Content.text("you idiot", id="same")]
    with moderator(recording) as mod:
        fine, rude = mod.check_many(items)
    data_ids = [e["dataId"] for e in texts(recording.requests[0])]
    assert data_ids[0] == "same"
    assert data_ids[1] != "same"
    assert (fine.decision, rude.decision) == (Decision.PASS, Decision.BLOCK)
    assert fine.content_id == rude.content_id == "same"


def test_check_many_fills_batches_of_one_hundred() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        verdicts = mod.check_many([f"text {i}" for i in range(250)])
    assert [len(texts(r)) for r in recording.requests] == [100, 100, 50]
    assert len(verdicts) == 250


def test_batch_size_is_configurable() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, batch_size=20) as mod:
        mod.check_many([f"text {i}" for i in range(45)])
    assert [len(texts(r)) for r in recording.requests] == [20, 20, 5]


async def test_auto_batching_fills_requests_of_one_hundred() -> None:
    recording = RecordingTransport(emulator())
    async with async_moderator(recording) as amod:
        verdicts = await asyncio.gather(*(amod.check(f"text {i}") for i in range(150)))
    sizes = sorted(len(texts(r)) if r.url.path == BATCH_PATH else 1 for r in recording.requests)
    assert sum(sizes) == 150
    assert max(sizes) == 100  # concurrent single checks share one full batch-check
    assert all(v.decision is Decision.PASS for v in verdicts)


def test_batch_results_are_matched_by_data_id_not_position() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        entries = texts(request)
        results = [
            antispam(dataId=e["dataId"], suggestion=2 if "idiot" in e["content"] else 0)["result"]
            for e in reversed(entries)
        ]
        return httpx.Response(200, json={"code": 200, "msg": "ok", "result": results})

    contents = [Content.text("you idiot"), Content.text("hello")]
    results = run(provider(), contents, CheckContext(), handler)
    assert [r.decision for r in results if isinstance(r, Verdict)] == [
        Decision.BLOCK,
        Decision.PASS,
    ]


@pytest.mark.parametrize("how", ["missing", "duplicate", "garbage"])
def test_a_bad_batch_item_fails_alone(how: str) -> None:
    recording = RecordingTransport(emulator())
    items: list[Content | str] = [
        Content.text("hello", id=0),
        Content.text(f"[[item:{how}]] x", id=1),
        "buy now",
    ]
    with moderator(recording) as mod:
        first, bad, last = mod.check_many(items, return_exceptions=True)
    assert isinstance(first, Verdict)
    assert isinstance(last, Verdict)
    assert (first.decision, last.decision) == (Decision.PASS, Decision.REVIEW)
    assert isinstance(bad, AllProvidersFailed)
    (error,) = bad.exceptions
    assert isinstance(error, ProtocolError)
    assert error.provider == "yidun"


def test_an_answer_for_another_data_id_is_refused() -> None:
    with moderator(answer(antispam(dataId="someone-else"))) as mod:
        error = failure(mod, "hello")
    assert isinstance(error, ProtocolError)
    assert "another dataId" in str(error)


@pytest.mark.parametrize(("region", "hosts"), sorted(REGIONS.items()))
def test_each_region_picks_its_host(region: str, hosts: tuple[str, ...]) -> None:
    prov = provider(base_url=None, region=region)
    assert prov.base_url == f"https://{hosts[0]}"
    if len(hosts) > 1:
        assert provider(base_url=None, region=region, backup_host=True).base_url == (
            f"https://{hosts[1]}"
        )


def test_the_default_host_is_hangzhou() -> None:
    assert provider(base_url=None).base_url == "https://as.dun.163.com"


def test_the_capabilities_declare_the_vendor_s_limits() -> None:
    caps = provider().capabilities
    assert caps.batch_size == 100
    # Yidun counts runes (code points) and documents no byte limit.
    assert (caps.max_text_chars, caps.max_text_bytes) == (MAX_TEXT_CHARS, None)
    assert MAX_TEXT_CHARS == 10_000
    assert {t.value for t in caps.content_types} == {"text"}
    assert caps.batch_types == caps.content_types


def test_a_long_text_is_split_under_ten_thousand_characters() -> None:
    recording = RecordingTransport(emulator())
    with Moderator(config(), transport=recording) as mod:
        verdict = mod.check("好" * 12_500 + "傻逼" + "好" * 12_498)  # 25,000 characters
    assert verdict.decision is Decision.BLOCK
    (request,) = recording.requests  # the parts share one batch-check
    contents = [e["content"] for e in texts(request)]
    # Three parts of at most 10,000 characters, not the eight that 10,000 bytes (about
    # 3,333 Chinese characters each) would take.
    assert len(contents) == 3
    assert max(len(c) for c in contents) == 10_000
