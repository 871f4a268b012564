"""Answers mapped to Verdicts: the seed examples verbatim, the label crosswalk, unknown
values, batches answered out of order or incompletely, and the requests sent."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from moderation_core import (
    AllProvidersFailed,
    Content,
    Decision,
    Label,
    ProtocolError,
    ProviderUnavailable,
    Verdict,
)
from moderation_core.testing import RecordingTransport

from .helpers import (
    BATCH_PATH,
    IDENTIFIER,
    SDKAPPID,
    SEED_CONTEXT,
    SINGLE_PATH,
    answers,
    moderator,
    sent_json,
)

# Seed 001 (content_moderation), request and answer as printed.
SEED_SINGLE_REQUEST = {
    "AuditName": "C2C",
    "ContentType": "Text",
    "Content": "abc",
    "ExtSender": "sender_xx",
    "ExtReceiver": "receiver_yy",
}
SEED_SINGLE_ANSWER = {
    "ActionStatus": "OK",
    "ErrorCode": 0,
    "ErrorInfo": "",
    "RequestId": "91fa78f3-18c8-4b20-9c56-5845df18f634",
    "Result": "Block",
    "Score": 100,
    "Label": "Polity",
    "Keywords": ["abc"],
}
# Seed 000 / 002 (batch_content_moderation); the two differ only in item 0's keywords.
SEED_BATCH_REQUEST = json.loads(
    '{"AuditName":"Group","Contents":[{"ContentId":0,"ContentType":"Text","Content":"abc123"},'
    '{"ContentId":1,"ContentType":"Text","Content":"abc1234"},{"ContentId":2,"ContentType":'
    '"Image","Content":"https://www.simple.com/1.jpg"},{"ContentId":3,"ContentType":"Text",'
    '"Content":"tttcccc"}],"ExtSender":"sender_xx","ExtReceiver":"receiver_yy"}'
)
SEED_BATCH_ANSWER_002 = json.loads(
    '{"ActionStatus": "OK","ErrorCode": 0,"ErrorInfo": "","AuditResults": [{"ErrorCode": 0,'
    '"ErrorInfo": "","ContentId": 0,"Result": "Block","Score": 99,"Label": "Polity","SubLabel":'
    ' "ChinesePresident","Keywords": ["abc","mnt"],"RequestId": "c442f95e-35b9-47d7-8e01-'
    '3f9d644965fd"},{"ErrorCode": 0,"ErrorInfo": "","ContentId": 1,"Result": "Pass","Score": 0,'
    '"Label": "Normal","SubLabel": "","RequestId": "bf422ad2-cb2e-40cb-9b81-5936305c7b41"},'
    '{"ErrorCode": 0,"ErrorInfo": "","ContentId": 2,"Result": "Block","Score": 97,"Label": '
    '"Porn","SubLabel": "SexualBehavior","RequestId": "1ad85364-2bc1-454e-86bf-bbf1cc41fdff"},'
    '{"ErrorCode": 0,"ErrorInfo": "","ContentId": 3,"Result": "Pass","Score": 0,"Label": '
    '"Normal","SubLabel": "","RequestId": "ff7dad79-cb0c-4bea-aa99-1815b4de7591"}]}'
)
SEED_BATCH_ANSWER_000: dict[str, Any] = json.loads(json.dumps(SEED_BATCH_ANSWER_002))
SEED_BATCH_ANSWER_000["AuditResults"][0]["Keywords"] = ["违&规&词&汇", "违规词汇"]
SEED_BATCH_CONTENTS: list[Content | str] = [
    "abc123",
    "abc1234",
    Content.image("https://www.simple.com/1.jpg"),
    "tttcccc",
]


def test_seed_single_example() -> None:
    handler = answers(SEED_SINGLE_ANSWER)
    with moderator(handler) as mod:
        verdict = mod.check("abc", scene="C2C", **SEED_CONTEXT)
    (request,) = handler.requests
    assert request.method == "POST"
    assert request.url.path == SINGLE_PATH
    assert sent_json(request) == SEED_SINGLE_REQUEST
    assert verdict == Verdict(
        decision=Decision.BLOCK,
        label=Label.POLITICS,
        score=100,
        keywords=("abc",),
        masked_text="***",
        provider="tencent",
        vendor_label="Polity",
        request_id="91fa78f3-18c8-4b20-9c56-5845df18f634",
    )
    assert verdict.raw == SEED_SINGLE_ANSWER


@pytest.mark.parametrize(
    ("answer", "keywords", "masked"),
    [
        (SEED_BATCH_ANSWER_000, ("违&规&词&汇", "违规词汇"), "abc123"),
        (SEED_BATCH_ANSWER_002, ("abc", "mnt"), "***123"),
    ],
    ids=["seed-000", "seed-002"],
)
def test_seed_batch_example(answer: dict[str, Any], keywords: tuple[str, ...], masked: str) -> None:
    handler = answers(answer)
    with moderator(handler) as mod:
        verdicts = mod.check_many(SEED_BATCH_CONTENTS, scene="Group", **SEED_CONTEXT)
    (request,) = handler.requests
    assert request.url.path == BATCH_PATH
    assert sent_json(request) == SEED_BATCH_REQUEST
    polity, clean, porn, clean2 = verdicts
    assert (polity.decision, polity.label, polity.sublabel, polity.score) == (
        Decision.BLOCK,
        Label.POLITICS,
        "ChinesePresident",
        99,
    )
    assert polity.keywords == keywords
    assert polity.masked_text == masked
    assert polity.request_id == "c442f95e-35b9-47d7-8e01-3f9d644965fd"
    assert (clean.decision, clean.label, clean.sublabel, clean.score) == (
        Decision.PASS,
        Label.NORMAL,
        None,  # "" in the answer
        0,
    )
    assert (porn.decision, porn.label, porn.sublabel, porn.vendor_label) == (
        Decision.BLOCK,
        Label.PORN,
        "SexualBehavior",
        "Porn",
    )
    assert porn.masked_text is None
    assert clean2.request_id == "ff7dad79-cb0c-4bea-aa99-1815b4de7591"
    assert [v.raw for v in verdicts] == answer["AuditResults"]


def test_query_carries_identity_and_a_fresh_random() -> None:
    handler = answers(SEED_SINGLE_ANSWER, SEED_SINGLE_ANSWER)
    with moderator(handler) as mod:
        mod.check("abc")
        mod.check("abc")
    first, second = (r.url.params for r in handler.requests)
    assert list(first.keys()) == ["sdkappid", "identifier", "usersig", "random", "contenttype"]
    assert (first["sdkappid"], first["identifier"], first["contenttype"]) == (
        str(SDKAPPID),
        IDENTIFIER,
        "json",
    )
    assert 0 <= int(first["random"]) < 2**32
    assert first["random"] != second["random"]
    assert first["usersig"] == second["usersig"]  # cached


LABELS = [
    ("Normal", "Pass", Label.NORMAL),
    ("Polity", "Block", Label.POLITICS),
    ("Porn", "Block", Label.PORN),
    ("Sexy", "Review", Label.SEXY),
    ("Abuse", "Block", Label.ABUSE),
    ("Terror", "Block", Label.VIOLENCE),
    ("Illegal", "Block", Label.ILLEGAL),
    ("Ad", "Review", Label.AD),
    ("Composite", "Block", Label.OTHER),
    ("SomethingNew", "Review", Label.OTHER),
]


@pytest.mark.parametrize(("vendor", "result", "label"), LABELS)
def test_label_crosswalk(vendor: str, result: str, label: Label) -> None:
    body = {**SEED_SINGLE_ANSWER, "Label": vendor, "Result": result, "Keywords": []}
    with moderator(answers(body)) as mod:
        verdict = mod.check("text")
    assert verdict.label is label
    assert verdict.vendor_label == vendor


@pytest.mark.parametrize(
    ("result", "decision"),
    [
        ("Pass", Decision.PASS),
        ("Review", Decision.REVIEW),
        ("Block", Decision.BLOCK),
        ("block", Decision.BLOCK),
        ("Normal", Decision.REVIEW),
        ("Maybe", Decision.REVIEW),
    ],
)
def test_unknown_result_is_review_never_pass(result: str, decision: Decision) -> None:
    body = {**SEED_SINGLE_ANSWER, "Result": result}
    with moderator(answers(body)) as mod:
        assert mod.check("text").decision is decision


def test_missing_label_is_normal_on_pass_and_other_on_a_finding() -> None:
    passed = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "Result": "Pass"}
    blocked = {**passed, "Result": "Block"}
    with moderator(answers(passed, blocked)) as mod:
        assert mod.check("a").label is Label.NORMAL
        assert mod.check("b").label is Label.OTHER


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_audio_and_video_are_pending_with_the_request_id(kind: str) -> None:
    body = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "RequestId": "rid-1"}
    handler = answers(body)
    content = getattr(Content, kind)("https://cdn.example.com/clip", id="m-7")
    with moderator(handler) as mod:
        verdict = mod.check(content, scene="Group")
    assert (verdict.decision, verdict.label, verdict.request_id, verdict.content_id) == (
        Decision.PENDING,
        Label.UNKNOWN,
        "rid-1",
        "m-7",
    )
    assert sent_json(handler.requests[0])["ContentType"] == kind.capitalize()


def test_audio_is_pending_even_when_a_placeholder_result_comes_back() -> None:
    body = {**SEED_SINGLE_ANSWER, "Result": "Pass", "Score": 0, "Label": "Normal"}
    with moderator(answers(body)) as mod:
        assert mod.check(Content.audio("https://x.example/a.mp3")).decision is Decision.PENDING


def test_image_without_result_went_asynchronous() -> None:
    body = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "RequestId": "rid-img"}
    with moderator(answers(body)) as mod:
        verdict = mod.check(Content.image("https://x.example/big.png"))
    assert (verdict.decision, verdict.request_id) == (Decision.PENDING, "rid-img")


def test_text_without_result_is_a_protocol_error() -> None:
    body = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "RequestId": "r"}
    with moderator(answers(body)) as mod, pytest.raises(AllProvidersFailed) as caught:
        mod.check("text")
    assert isinstance(caught.value.exceptions[0], ProtocolError)


def _batch_answer(*items: dict[str, Any]) -> dict[str, Any]:
    return {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "AuditResults": list(items)}


def _item(content_id: Any, result: str = "Pass", **extra: Any) -> dict[str, Any]:
    return {
        "ErrorCode": 0,
        "ErrorInfo": "",
        "ContentId": content_id,
        "Result": result,
        "Score": 0,
        "Label": "Normal",
        "SubLabel": "",
        "RequestId": f"r{content_id}",
        **extra,
    }


def test_batch_results_are_matched_by_content_id_not_position() -> None:
    body = _batch_answer(_item(2, "Block", Label="Ad"), _item(0), _item(1, "Review"))
    with moderator(answers(body)) as mod:
        verdicts = mod.check_many([Content.text("a", id="x"), "b", Content.text("c", id=9)])
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.REVIEW, Decision.BLOCK]
    assert [v.request_id for v in verdicts] == ["r0", "r1", "r2"]
    assert [v.content_id for v in verdicts] == ["x", None, 9]


def test_missing_and_duplicate_content_ids_fail_only_those_items() -> None:
    body = _batch_answer(_item(0), _item(2), _item(2, "Block"), _item(7), "junk")  # type: ignore[arg-type]
    with moderator(answers(body)) as mod:
        first, missing, duplicated = mod.check_many(["a", "b", "c"], return_exceptions=True)
    assert isinstance(first, Verdict)
    assert first.decision is Decision.PASS
    for item, how in ((missing, "no result"), (duplicated, "2 results")):
        assert isinstance(item, AllProvidersFailed)
        (error,) = item.exceptions
        assert isinstance(error, ProtocolError)
        assert how in str(error)


def test_per_item_error_fails_that_item_alone() -> None:
    timeout = {"ErrorCode": 93006, "ErrorInfo": "timeout", "ContentId": 1}
    body = _batch_answer(_item(0), timeout, _item(2, "Block"))
    with moderator(answers(body)) as mod:
        ok, failed, blocked = mod.check_many(["a", "b", "c"], return_exceptions=True)
    assert isinstance(ok, Verdict)
    assert isinstance(blocked, Verdict)
    assert blocked.decision is Decision.BLOCK
    assert isinstance(failed, AllProvidersFailed)
    (error,) = failed.exceptions
    assert isinstance(error, ProviderUnavailable)
    assert (error.code, error.provider) == (93006, "tencent")


def test_item_with_a_wrong_type_is_a_protocol_error_for_that_item() -> None:
    body = _batch_answer(_item(0, Score="high"), _item(1))
    with moderator(answers(body)) as mod:
        bad, good = mod.check_many(["a", "b"], return_exceptions=True)
    assert isinstance(bad, AllProvidersFailed)
    assert isinstance(bad.exceptions[0], ProtocolError)
    assert isinstance(good, Verdict)


def test_batch_without_audit_results_fails_the_batch() -> None:
    body = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
    with moderator(answers(body)) as mod:
        results = mod.check_many(["a", "b"], return_exceptions=True)
    for result in results:
        assert isinstance(result, AllProvidersFailed)
        assert isinstance(result.exceptions[0], ProtocolError)


def test_scene_defaults_to_audit_name_and_context_fields_are_omitted_when_none() -> None:
    handler = answers(SEED_SINGLE_ANSWER, SEED_SINGLE_ANSWER)
    with moderator(handler, audit_name="1400187352_24_eb06pA") as mod:
        mod.check("abc")
        mod.check("abc", scene="UserInfo", sender="u1")
    first, second = (sent_json(r) for r in handler.requests)
    assert first == {"AuditName": "1400187352_24_eb06pA", "ContentType": "Text", "Content": "abc"}
    assert second == {
        "AuditName": "UserInfo",
        "ContentType": "Text",
        "Content": "abc",
        "ExtSender": "u1",
    }


def test_twelve_texts_go_out_as_batches_of_ten_and_two() -> None:
    def handler_fn(request: httpx.Request) -> httpx.Response:
        body = sent_json(request)
        if "Contents" in body:
            return httpx.Response(
                200, json=_batch_answer(*(_item(c["ContentId"]) for c in body["Contents"]))
            )
        return httpx.Response(200, json={**SEED_SINGLE_ANSWER, "Result": "Pass"})

    handler = RecordingTransport(handler_fn)
    with moderator(handler) as mod:
        verdicts = mod.check_many([f"t{i}" for i in range(12)])
    assert len(verdicts) == 12
    assert handler.paths() == [BATCH_PATH, BATCH_PATH]
    assert [len(sent_json(r)["Contents"]) for r in handler.requests] == [10, 2]
    assert [c["ContentId"] for c in sent_json(handler.requests[1])["Contents"]] == [0, 1]
