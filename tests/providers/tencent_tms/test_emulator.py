"""The emulator checks what the API gateway checks (the TC3 signature over the declared
SignedHeaders, a 5-minute window, the headers, exactly application/json, the body and
its limits), answers from its rules and the official examples, and injects faults."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from moderation_core.testing import Clock
from moderation_tencent_tms import sign
from moderation_tencent_tms.emulator import TencentTmsEmulator

from .helpers import REGION, SECRET_ID, SECRET_KEY, emulator

NOW = 1_700_000_000


def signed(
    body: Any,
    *,
    action: str = "TextModeration",
    timestamp: int = NOW,
    secret_key: str = SECRET_KEY,
    secret_id: str = SECRET_ID,
    service: str | None = None,
    content_type: str = "application/json",
    extra: dict[str, str] | None = None,
    signed_headers: tuple[str, ...] = ("content-type", "host"),
    drop: tuple[str, ...] = (),
    method: str = "POST",
    path: str = "/",
) -> httpx.Request:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "Content-Type": content_type,
        "Host": "tms.test",
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": "2020-12-29",
        "X-TC-Region": REGION,
        **(extra or {}),
    }
    lowered = {k.lower(): v for k, v in headers.items()}
    headers["Authorization"] = sign(
        secret_id=secret_id,
        secret_key=secret_key,
        service=service or ("ims" if action == "ImageModeration" else "tms"),
        timestamp=timestamp,
        method=method,
        path=path,
        headers=lowered,
        payload=payload,
        signed_headers=signed_headers,
    )
    for name in drop:
        headers.pop(name)
    return httpx.Request(method, f"http://tms.test{path}", content=payload, headers=headers)


def text(value: str, **fields: Any) -> dict[str, Any]:
    return {"Content": base64.b64encode(value.encode()).decode(), **fields}


def emu(**options: Any) -> TencentTmsEmulator:
    return emulator(clock=Clock(now=NOW), sleep=lambda _s: None, **options)


def answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"  # exactly: the SDK needs it
    result: dict[str, Any] = json.loads(response.content)["Response"]
    assert result["RequestId"]
    return result


def code(response: httpx.Response) -> str:
    return str(answer(response)["Error"]["Code"])


def test_a_signed_request_is_answered() -> None:
    result = answer(emu()(signed(text("hello"))))
    assert (result["Suggestion"], result["Label"], result["Score"]) == ("Pass", "Normal", 0)


def test_x_tc_action_may_be_signed_too() -> None:
    request = signed(text("hello"), signed_headers=("content-type", "host", "x-tc-action"))
    assert answer(emu()(request))["Suggestion"] == "Pass"


def test_a_header_outside_the_declared_list_is_not_checked() -> None:
    request = signed(text("hello"), extra={"X-TC-Language": "en-US"})
    request.headers["X-TC-Language"] = "zh-CN"  # not signed: may change
    assert answer(emu()(request))["Suggestion"] == "Pass"


def test_a_signed_header_changed_after_signing_fails() -> None:
    request = signed(text("hello"), signed_headers=("content-type", "host", "x-tc-action"))
    request.headers["X-TC-Action"] = "ImageModeration"
    assert code(emu()(request)) == "AuthFailure.SignatureFailure"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"secret_key": "wrong"}, "AuthFailure.SignatureFailure"),
        ({"secret_id": "AKIDnobody"}, "AuthFailure.SecretIdNotFound"),
        ({"service": "cvm"}, "AuthFailure.SignatureFailure"),
        ({"signed_headers": ("host",)}, "AuthFailure.InvalidAuthorization"),
        (
            {
                "signed_headers": ("content-type", "host", "x-tc-gone"),
                "extra": {"X-TC-Gone": "1"},
                "drop": ("X-TC-Gone",),
            },
            "AuthFailure.InvalidAuthorization",
        ),
        ({"drop": ("Authorization",)}, "AuthFailure.InvalidAuthorization"),
        ({"drop": ("X-TC-Action",)}, "MissingParameter"),
        ({"drop": ("X-TC-Version",)}, "MissingParameter"),
        ({"drop": ("X-TC-Region",)}, "MissingParameter"),
        ({"action": "DescribeInstances"}, "InvalidAction"),
        ({"extra": {"X-TC-Version": "2017-03-12"}}, "NoSuchVersion"),
        ({"content_type": "application/json; charset=utf-8"}, "InvalidParameter"),
        ({"content_type": "text/plain"}, "InvalidParameter"),
        ({"method": "GET"}, "UnsupportedOperation"),
    ],
)
def test_refusals(change: dict[str, Any], expected: str) -> None:
    assert code(emu()(signed(text("hello"), **change))) == expected


def test_a_body_changed_after_signing_fails() -> None:
    request = signed(text("hello"))
    tampered = httpx.Request(
        "POST", request.url, headers=request.headers, content=json.dumps(text("hellO")).encode()
    )
    assert code(emu()(tampered)) == "AuthFailure.SignatureFailure"


def test_the_date_must_be_the_timestamps_utc_day() -> None:
    request = signed(text("hello"))
    auth = request.headers["Authorization"].replace("2023-11-14", "2023-11-15")
    request.headers["Authorization"] = auth
    assert code(emu()(request)) == "AuthFailure.SignatureFailure"


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_five_minute_skew_window(offset: int, ok: bool) -> None:
    response = emu()(signed(text("hello"), timestamp=NOW + offset))
    if ok:
        assert answer(response)["Suggestion"] == "Pass"
    else:
        assert code(response) == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize("stamp", ["", "abc", "-5", "1" * 13])
def test_bad_timestamps(stamp: str) -> None:
    request = signed(text("hello"))
    request.headers["X-TC-Timestamp"] = stamp
    assert code(emu()(request)) == "InvalidParameter"


def test_other_paths_are_404() -> None:
    response = emu()(signed(text("hello"), path="/v2"))
    assert response.status_code == 404


def test_region_list_and_token() -> None:
    assert (
        code(
            emu(regions="ap-singapore,eu-frankfurt")(
                signed(text("hi"), extra={"X-TC-Region": "ap-guangzhou"})
            )
        )
        == "UnsupportedRegion"
    )
    assert (
        code(emu()(signed(text("hi"), extra={"X-TC-Region": "Singapore!"}))) == "UnsupportedRegion"
    )
    assert code(emu(token="tok-123456")(signed(text("hi")))) == "AuthFailure.TokenFailure"
    request = signed(text("hi"), extra={"X-TC-Token": "tok-123456"})
    assert answer(emu(token="tok-123456")(request))["Suggestion"] == "Pass"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", "InvalidParameter"),
        (b"[]", "InvalidParameter"),
        ({}, "MissingParameter"),
        ({"Content": 5}, "InvalidParameterValue.ErrTextContentType"),
        ({"Content": "***"}, "InvalidParameterValue.ErrTextContentType"),
        (
            {"Content": base64.b64encode(b"\xff\xfe").decode()},
            "InvalidParameterValue.ErrFileContent",
        ),
        ({"Content": ""}, "InvalidParameterValue.InvalidContent"),
        (text("a" * 10_001), "InvalidParameterValue.ErrTextContentLen"),
        (text("hi", Extra="x"), "UnknownParameter"),
        (text("hi", BizType="ab"), "InvalidParameterValue.InvalidBizType"),
        (text("hi", BizType=5), "InvalidParameterValue.InvalidBizType"),
        (text("hi", DataId="a b"), "InvalidParameter.ParameterError"),
        (text("hi", User="u1"), "InvalidParameter.ParameterError"),
        (text("hi", User={"UserId": 5}), "InvalidParameter.ParameterError"),
        (text("hi", Type="VIDEO"), "InvalidParameterValue.ErrType"),
    ],
)
def test_text_body_checks(body: Any, expected: str) -> None:
    assert code(emu()(signed(body))) == expected


def test_the_text_limit_counts_characters_not_bytes() -> None:
    assert answer(emu()(signed(text("字" * 10_000))))["Suggestion"] == "Pass"


def test_unpadded_base64_is_taken_as_the_official_example_sends_it() -> None:
    result = answer(emu()(signed({"Content": "5LusCg", "BizType": "bigotest"})))
    assert result["RequestId"] == "7f54771f-9b67-4b55-9ac9-77b1a0f4dc37"


def test_biz_types_restrict_policies() -> None:
    strict = emu(biz_types="Group,C2C")
    assert answer(strict(signed(text("hi", BizType="Group"))))["BizType"] == "Group"
    assert (
        code(strict(signed(text("hi", BizType="Other")))) == "InvalidParameterValue.InvalidBizType"
    )


def image(**fields: Any) -> httpx.Request:
    return signed(fields, action="ImageModeration")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "InvalidParameterValue.EmptyImageContent"),
        (
            {"FileUrl": "https://a/x.png", "FileContent": "aGVsbG8="},
            "InvalidParameterValue.InvalidContent",
        ),
        ({"FileUrl": "ftp://a/x.png"}, "InvalidParameterValue.InvalidContent"),
        ({"FileContent": "***"}, "InvalidParameter.InvalidImageContent"),
        ({"FileContent": base64.b64encode(b"tiny").decode()}, "InvalidParameter.ImageDataTooSmall"),
        ({"FileUrl": "https://a/x.png", "DataId": "a b"}, "InvalidParameterValue.InvalidDataId"),
        ({"FileUrl": "https://a/x.png", "Interval": 1, "Nope": 1}, "UnknownParameter"),
    ],
)
def test_image_body_checks(fields: dict[str, Any], expected: str) -> None:
    assert code(emu()(image(**fields))) == expected


def test_image_answers_by_url_words_and_by_file_bytes() -> None:
    result = answer(emu()(image(FileUrl="https://cdn.example.com/gun_1.png")))
    assert (result["Suggestion"], result["Label"], result["LabelResults"][0]["Label"]) == (
        "Block",
        "Terror",
        "Terror",
    )
    data = base64.b64encode(b"\x89PNG....bikini photo bytes").decode()
    assert answer(emu()(image(FileContent=data)))["Label"] == "Sexy"


def test_the_official_image_example() -> None:
    result = answer(emu()(image(FileUrl="https://xxx.jpg", BizType="test_1001", DataId="1213")))
    assert result["RequestId"] == "a61237dd-c2a0-43e7-a3da-d27022d39ba7"
    assert result["ObjectResults"][0]["Scene"] == "QrCode"


def test_keywords_as_written_and_markers() -> None:
    result = answer(emu()(signed(text("You IDIOT"))))
    assert result["Keywords"] == ["IDIOT"]
    assert result["DetailResults"][0]["Label"] == "Abuse"
    changed = answer(emu()(signed(text("hello [[suggestion:Review]] [[label:Custom]]"))))
    assert (changed["Suggestion"], changed["Label"]) == ("Review", "Custom")


@pytest.mark.parametrize(
    ("fault", "status", "check"),
    [
        ("garbage", 200, lambda c: c.startswith(b"\x00")),
        ("empty", 200, lambda c: c == b""),
        ("html", 200, lambda c: c.startswith(b"<html>")),
        ("null", 200, lambda c: c == b"null"),
        ("nested", 200, lambda c: c.startswith(b"[[[[")),
        ("huge", 200, lambda c: len(c) > 2_000_000),
        ("missing", 200, lambda c: b"Suggestion" not in c),
        ("wrongtype", 200, lambda c: b'"Score": "0"' in c),
        ("noresponse", 200, lambda c: b"Response" not in c),
        ("http502", 502, lambda c: True),
        ("http429", 429, lambda c: True),
    ],
)
def test_named_faults(fault: str, status: int, check: Any) -> None:
    response = emu()(signed(text(f"x [[fault:{fault}]]")))
    assert response.status_code == status
    assert check(response.content)
    if fault == "http429":
        assert response.headers["Retry-After"] == "2"


def test_a_vendor_code_fault_and_an_unknown_fault() -> None:
    assert code(emu()(signed(text("x [[fault:AuthFailure.SignatureExpire]]")))) == (
        "AuthFailure.SignatureExpire"
    )
    with pytest.raises(ValueError, match="unknown fault"):
        emu(fault="explode")


def test_fault_every_and_fault_times() -> None:
    flaky = emu(fault="InternalError", fault_every=2, fault_times=1)
    codes = [answer(flaky(signed(text("hi")))).get("Error", {}).get("Code") for _ in range(5)]
    assert codes == [None, "InternalError", None, None, None]


def test_rate_limit_per_action_per_second() -> None:
    clock = Clock(now=NOW)
    limited = emulator(clock=clock, rate_limit=2, image_rate_limit=1)
    results = [answer(limited(signed(text("hi")))).get("Error", {}).get("Code") for _ in range(3)]
    assert results == [None, None, "RequestLimitExceeded"]
    assert "Error" not in answer(limited(image(FileUrl="https://a/b.png")))
    assert code(limited(image(FileUrl="https://a/b.png"))) == "RequestLimitExceeded"
    clock.advance(1)
    assert "Error" not in answer(limited(signed(text("hi"), timestamp=NOW + 1)))


def test_slow_marker_and_latency_sleep_through_the_injected_sleep() -> None:
    slept: list[float] = []
    slow = emulator(clock=Clock(now=NOW), sleep=slept.append, latency="0.25")
    answer(slow(signed(text("x [[slow:1.5]]"))))
    answer(slow(signed(text("x [[slow:999]]"))))
    assert slept == [0.25, 1.5, 0.25, 30.0]


def test_make_emulator_reads_strings_and_refuses_unknown_options() -> None:
    built = emulator(rate_limit="5", fault_every="3", fault_times="none", skew="60", biz_types="")
    assert (built.rate_limits["TextModeration"], built.fault_every, built.fault_times) == (
        5.0,
        3,
        None,
    )
    assert (built.skew, built.biz_types) == (60.0, None)
    with pytest.raises(TypeError, match="unknown Tencent TMS emulator option 'colour'"):
        emulator(colour="red")
    assert SECRET_KEY not in repr(built)
