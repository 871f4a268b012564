"""The emulator behaves like the service: checks, limits, codes, rules and faults."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from moderation_core._cli import main
from moderation_core.testing import Clock
from moderation_tencent_chat import make_usersig
from moderation_tencent_chat.emulator import MEDIA_RULES, SEED_ANSWERS, TEXT_RULES, make_emulator
from tests import fake_secrets as secrets

from .helpers import BATCH_PATH, IDENTIFIER, SDKAPPID, SINGLE_PATH, emulator

NOW = 1_700_000_000


def usersig(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "sdkappid": SDKAPPID,
        "identifier": IDENTIFIER,
        "key": secrets.TENCENT_SECRET_KEY,
        "expire": 86400,
        "now": NOW,
    }
    args.update(overrides)
    return make_usersig(args.pop("sdkappid"), args.pop("identifier"), args.pop("key"), **args)


def request(
    path: str = SINGLE_PATH,
    body: Any = None,
    *,
    method: str = "POST",
    content: bytes | None = None,
    **query: Any,
) -> httpx.Request:
    params: dict[str, Any] = {
        "sdkappid": SDKAPPID,
        "identifier": IDENTIFIER,
        "usersig": usersig(),
        "random": 99999999,
        "contenttype": "json",
    }
    params.update(query)
    params = {k: v for k, v in params.items() if v is not None}
    if content is None:
        content = json.dumps(body if body is not None else text_body("hello")).encode()
    return httpx.Request(method, f"http://emu{path}", params=params, content=content)


def text_body(text: str, kind: str = "Text", scene: str = "C2C") -> dict[str, Any]:
    return {"AuditName": scene, "ContentType": kind, "Content": text}


def batch_body(*items: tuple[str, str], ids: list[int] | None = None) -> dict[str, Any]:
    ids = ids if ids is not None else list(range(len(items)))
    contents = [
        {"ContentId": i, "ContentType": kind, "Content": value}
        for i, (kind, value) in zip(ids, items, strict=True)
    ]
    return {"AuditName": "Group", "Contents": contents}


def code_of(response: httpx.Response) -> int:
    assert response.status_code == 200
    return int(response.json()["ErrorCode"])


def emu(**options: Any) -> Any:
    return emulator(clock=Clock(NOW), **options)


# -- answers -------------------------------------------------------------------------


def test_seed_single_example() -> None:
    body = emu()(request(body=text_body("abc"))).json()
    assert body == {
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "RequestId": "91fa78f3-18c8-4b20-9c56-5845df18f634",
        "Result": "Block",
        "Score": 100,
        "Label": "Polity",
        "Keywords": ["abc"],
    }


def test_seed_batch_example() -> None:
    body = batch_body(
        ("Text", "abc123"),
        ("Text", "abc1234"),
        ("Image", "https://www.simple.com/1.jpg"),
        ("Text", "tttcccc"),
    )
    results = emu()(request(BATCH_PATH, body)).json()["AuditResults"]
    assert [r["ContentId"] for r in results] == [0, 1, 2, 3]
    assert [(r["Result"], r["Label"], r["Score"]) for r in results] == [
        ("Block", "Polity", 99),
        ("Pass", "Normal", 0),
        ("Block", "Porn", 97),
        ("Pass", "Normal", 0),
    ]
    assert results[0]["Keywords"] == ["违&规&词&汇", "违规词汇"]
    assert results[2]["SubLabel"] == "SexualBehavior"
    assert all(r["ErrorCode"] == 0 for r in results)
    assert {r["RequestId"] for r in results} == {a["RequestId"] for a in SEED_ANSWERS.values()} - {
        "91fa78f3-18c8-4b20-9c56-5845df18f634"
    }


TEXT_CASES = [(rule.terms[0], rule) for rule in TEXT_RULES]
MEDIA_CASES = [(f"https://cdn.example.com/{rule.terms[0]}_1.jpg", rule) for rule in MEDIA_RULES]


@pytest.mark.parametrize(("text", "rule"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_rules(text: str, rule: Any) -> None:
    body = emu()(request(body=text_body(f"well {text.upper()} then"))).json()
    assert (body["Result"], body["Label"], body["Score"]) == (rule.result, rule.label, rule.score)
    if rule.keywords:
        assert body["Keywords"] == [text.upper()]  # as written in the text
    else:
        assert "Keywords" not in body


@pytest.mark.parametrize(("url", "rule"), MEDIA_CASES, ids=[c[0] for c in MEDIA_CASES])
def test_image_rules(url: str, rule: Any) -> None:
    body = emu()(request(body=text_body(url, "Image"))).json()
    assert (body["Result"], body["Label"]) == (rule.result, rule.label)
    assert "Keywords" not in body


def test_every_label_is_covered() -> None:
    labels = {r.label for r in TEXT_RULES} | {r.label for r in MEDIA_RULES} | {"Normal"}
    assert labels == {
        "Normal", "Polity", "Porn", "Sexy", "Abuse", "Terror", "Illegal", "Ad", "Composite"
    }  # fmt: skip


def test_clean_text_and_words_inside_urls_only_as_words() -> None:
    assert emu()(request(body=text_body("今天天气不错"))).json()["Result"] == "Pass"
    body = emu()(request(body=text_body("https://cdn.example.com/begun/shade.jpg", "Image")))
    assert body.json()["Result"] == "Pass"


@pytest.mark.parametrize("kind", ["Audio", "Video"])
def test_audio_and_video_answer_a_request_id_only(kind: str) -> None:
    emulated = emu()
    body = emulated(request(body=text_body("https://x.example/gun.mp3", kind))).json()
    assert set(body) == {"ActionStatus", "ErrorCode", "ErrorInfo", "RequestId"}
    assert emulated.pending == (body["RequestId"],)
    query, raw = emulated.result_notify(body["RequestId"], token="t", request_time=NOW)
    notify = json.loads(raw)
    assert (notify["CtxcbSuggestion"], notify["CtxcbLabel"], notify["IsRestAPI"]) == (
        "Block",
        "Terror",
        True,
    )
    assert query["RequestTime"] == str(NOW)
    with pytest.raises(ValueError, match="no pending check"):
        emulated.result_notify("nope")


def test_result_and_label_markers() -> None:
    body = emu()(request(body=text_body("x [[result:Maybe]] [[label:Spam]]"))).json()
    assert (body["Result"], body["Label"]) == ("Maybe", "Spam")


# -- checks and their codes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"usersig": usersig(key="another-key")}, 70003),
        ({"usersig": "garbage"}, 70003),
        ({"usersig": usersig(now=NOW - 86401)}, 70001),
        ({"usersig": usersig(identifier="other")}, 70013),
        ({"usersig": usersig(sdkappid=1400000001)}, 70014),
        ({"usersig": None}, 70002),
        ({"identifier": "other", "usersig": usersig(identifier="other")}, 60010),
        ({"sdkappid": None}, 60012),
        ({"sdkappid": "abc"}, 60006),
        ({"sdkappid": 1400000001}, 70020),
        ({"contenttype": "xml"}, 60025),
        ({"random": None}, 60025),
        ({"random": 2**32}, 60025),
        ({"identifier": None}, 60025),
    ],
)
def test_query_and_usersig_checks(changes: dict[str, Any], code: int) -> None:
    assert code_of(emu()(request(**changes))) == code


def test_revoked_sigs_answer_70052() -> None:
    emulated = emu(revoked_before=NOW + 1)
    assert code_of(emulated(request())) == 70052
    assert code_of(emulated(request(usersig=usersig(now=NOW + 1)))) == 0


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (request(method="GET"), 60002),
        (request("/v4/im_msg_audit/other"), 60009),
        (request(content=b""), 60003),
        (request(content=b"{not json"), 60003),
        (request(content=b"[1]"), 60003),
        (request(body={"ContentType": "Text", "Content": "a"}), 60003),
        (request(body=text_body("a", "Gif")), 60003),
        (request(body={**text_body("a"), "ExtSender": 5}), 60003),
        (request(body=text_body("a" * 8193)), 93000),
        (request(BATCH_PATH, batch_body(*[("Text", "a")] * 11)), 93008),
        (request(BATCH_PATH, batch_body(("Text", "a"), ("Text", "b"), ids=[3, 3])), 93007),
        (request(BATCH_PATH, batch_body(("Text", "a"), ("Audio", "https://x/a"))), 93005),
        (request(BATCH_PATH, {"AuditName": "Group", "Contents": []}), 60003),
        (request(BATCH_PATH, batch_body(("Text", "a" * 8193))), 93000),
    ],
)
def test_body_checks(req: httpx.Request, code: int) -> None:
    assert code_of(emu()(req)) == code


def test_8192_bytes_pass_and_ten_items_pass() -> None:
    assert code_of(emu()(request(body=text_body("好" * 2730 + "ab")))) == 0
    assert code_of(emu()(request(BATCH_PATH, batch_body(*[("Text", "a")] * 10)))) == 0


def test_rate_limit_per_second_and_endpoint() -> None:
    clock = Clock(NOW)
    emulated = emulator(clock=clock, rate_limit=3)
    assert [code_of(emulated(request())) for _ in range(4)] == [0, 0, 0, 60007]
    assert code_of(emulated(request(BATCH_PATH, batch_body(("Text", "a"))))) == 0
    clock.advance(1)
    assert code_of(emulated(request())) == 0


# -- faults --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status"),
    [("garbage", 200), ("empty", 200), ("html", 200), ("http502", 502)],
)
def test_fault_option(fault: str, status: int) -> None:
    response = emu(fault=fault)(request())
    assert response.status_code == status
    with pytest.raises(ValueError):  # noqa: PT011 - any JSON decoding error
        response.json()


def test_fault_codes_every_nth_and_at_most_n_times() -> None:
    emulated = emu(fault="93001", fault_every=2, fault_times=2)
    codes = [code_of(emulated(request())) for _ in range(6)]
    assert codes == [0, 93001, 0, 93001, 0, 0]


def test_fault_markers() -> None:
    assert code_of(emu()(request(body=text_body("x [[fault:93001]]")))) == 93001
    assert emu()(request(body=text_body("x [[fault:http503]]"))).status_code == 503
    assert code_of(emu()(request(body=text_body("x [[item:60022]]")))) == 60022


def test_per_item_timeout_in_a_batch() -> None:
    body = batch_body(("Text", "fine"), ("Text", "late [[item:93006]]"), ("Text", "idiot"))
    answer = emu()(request(BATCH_PATH, body)).json()
    assert answer["ErrorCode"] == 0
    ok, late, bad = answer["AuditResults"]
    assert ok["Result"] == "Pass"
    assert (late["ErrorCode"], late["ContentId"]) == (93006, 1)
    assert "Result" not in late
    assert bad["Result"] == "Block"


def test_slow_answers_sleep() -> None:
    slept: list[float] = []
    emulated = emulator(clock=Clock(NOW), sleep=slept.append, latency="0.25")
    emulated(request(body=text_body("x [[slow:2]]")))
    emulated(request(body=text_body("x [[slow:999]]")))
    assert slept == [0.25, 2.0, 0.25, 30.0]


# -- options, CLI, thread safety -------------------------------------------------------


def test_options_may_be_strings() -> None:
    emulated = make_emulator(
        sdkappid="1400000001", rate_limit="200", fault="none", fault_every="3", latency="0"
    )
    assert (emulated.sdkappid, emulated.rate_limit, emulated.fault, emulated.fault_every) == (
        1400000001,
        200.0,
        None,
        3,
    )
    assert make_emulator(rate_limit="off").rate_limit is None


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"rate_limit": "fast"}, ValueError),
        ({"sdkappid": "x"}, ValueError),
        ({"fault": "explode"}, ValueError),
        ({"fault_every": "0"}, ValueError),
        ({"colour": "blue"}, TypeError),
    ],
)
def test_bad_options(options: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_emulator(**options)


def test_cli_emulate_refuses_bad_options() -> None:
    result = CliRunner().invoke(main, ["emulate", "tencent_chat", "--set", "rate_limit=fast"])
    assert result.exit_code != 0
    assert "rate_limit" in result.output


def test_thread_safe() -> None:
    emulated = emulator(rate_limit=None)

    def check(i: int) -> str:
        return str(
            emulated(request(body=text_body(f"hello {i}"), usersig=live_sig)).json()["RequestId"]
        )

    live_sig = make_usersig(SDKAPPID, IDENTIFIER, secrets.TENCENT_SECRET_KEY, expire=86400)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(check, range(200)))
    assert len(set(ids)) == 200
    assert emulated.requests == 200
