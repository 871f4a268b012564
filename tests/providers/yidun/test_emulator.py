"""The Yidun emulator checks what the service checks (signature in each method,
timestamp window, nonce, required parameters, credentials, limits), reproduces the
official example as the official demo sends and reads it, has a content rule for every
label code, and misbehaves on request."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from moderation_core import Decision, Label, Moderator
from moderation_core.testing import Clock, serve
from moderation_yidun import LABELS, sign
from moderation_yidun.emulator import (
    DEMO_BUSINESS_ID,
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    OFFICIAL_BATCH,
    OFFICIAL_SINGLE,
    TEXT_RULES,
    YidunEmulator,
    make_emulator,
)

from .helpers import BUSINESS_ID, NOW, SECRET_ID, SECRET_KEY, emulator, moderator

SINGLE = "http://yidun.test/v5/text/check"
BATCH = "http://yidun.test/v5/text/batch-check"


def params(**overrides: Any) -> dict[str, str]:
    base = {
        "secretId": SECRET_ID,
        "businessId": BUSINESS_ID,
        "version": "v5.2",
        "timestamp": str(int(NOW * 1000)),
        "nonce": f"{random.getrandbits(64):016x}",
        "dataId": "d-1",
        "content": "hello",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def post(
    vendor: YidunEmulator,
    form: Mapping[str, str],
    *,
    url: str = SINGLE,
    key: str = SECRET_KEY,
    signed: bool = True,
) -> dict[str, Any]:
    data = dict(form)
    if signed:
        data["signature"] = sign(data, key)
    response = vendor(httpx.Request("POST", url, data=data))
    assert response.status_code == 200
    body: dict[str, Any] = json.loads(response.content)
    return body


def at_now(**options: Any) -> YidunEmulator:
    return emulator(clock=Clock(NOW), **options)


# -- the official example, as the official Python demo sends and reads it -------------------


def demo_check(base_url: str, path: str, business: dict[str, Any]) -> dict[str, Any]:
    """yidun/antispam-python-demo's ``check`` and ``gen_signature``, step for step:
    str() of every value, sorted names, MD5, a random int nonce, urlencode."""
    request_params = dict(business)
    request_params["secretId"] = DEMO_SECRET_ID
    request_params["businessId"] = DEMO_BUSINESS_ID
    request_params["version"] = "v5.2"
    request_params["timestamp"] = int(time.time() * 1000)
    request_params["nonce"] = int(random.random() * 100000000)
    buff = "".join(str(k) + str(request_params[k]) for k in sorted(request_params))
    request_params["signature"] = hashlib.md5((buff + DEMO_SECRET_KEY).encode()).hexdigest()  # noqa: S324
    request = urllib.request.Request(  # noqa: S310 - our loopback server
        base_url + path,
        data=urlencode(request_params).encode("utf8"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our loopback server
        body: dict[str, Any] = json.loads(response.read())
    return body


def test_the_official_single_example_as_the_demo_sends_and_reads_it() -> None:
    with serve(make_emulator()) as base_url:
        ret = demo_check(base_url, "/v5/text/check", dict(OFFICIAL_SINGLE))
    assert (ret["code"], ret["msg"]) == (200, "ok")
    antispam = ret["result"]["antispam"]
    # Every field the demo reads, with the example's answer: a pass.
    for field in ("taskId", "dataId", "suggestion", "suggestionLevel", "resultType",
                  "censorType", "strategyVersions", "isRelatedHit", "labels"):  # fmt: skip
        assert field in antispam, field
    assert antispam["dataId"] == OFFICIAL_SINGLE["dataId"]
    assert antispam["taskId"] == "1c33f3d895945bfb92cbd34e7cd1606f"
    assert (antispam["suggestion"], antispam["labels"], antispam["resultType"]) == (0, [], 1)


def test_the_official_batch_example_as_the_demo_sends_and_reads_it() -> None:
    texts = [dict(text) for text in OFFICIAL_BATCH]
    business = {"texts": json.dumps(texts), "checkLabels": "200, 500"}  # the demo's spacing
    with serve(make_emulator()) as base_url:
        ret = demo_check(base_url, "/v5/text/batch-check", business)
    assert (ret["code"], ret["msg"]) == (200, "ok")
    task_ids = {r["antispam"]["dataId"]: r["antispam"]["taskId"] for r in ret["result"]}
    assert task_ids == {
        "ebfcad1c-dba1-490c-b4de-e784c2691761": "972b213fd41b51ba86dfb3f85a83daa7",
        "ebfcad1c-dba1-490c-b4de-e784c2691768": "34953b2bf3e358c48cc61deef8d8b4fe",
    }
    for result in ret["result"]:
        antispam = result["antispam"]
        for field in ("suggestion", "resultType", "censorType", "labels"):
            assert field in antispam, field
        assert antispam["suggestion"] == 0


def test_the_official_examples_answer_the_same_every_time() -> None:
    vendor = at_now()
    first = post(vendor, params(**OFFICIAL_SINGLE))
    again = post(vendor, params(**OFFICIAL_SINGLE))
    assert first == again


# -- the signature ------------------------------------------------------------------------


@pytest.mark.parametrize("method", [None, "MD5", "md5", "SHA1", "SHA256"])
def test_each_signature_method_is_checked(method: str | None) -> None:
    vendor = at_now()
    form = params(signatureMethod=method)
    assert post(vendor, form)["code"] == 200
    assert post(vendor, params(signatureMethod=method), key="wrong")["code"] == 410


@pytest.mark.skipif("sm3" not in hashlib.algorithms_available, reason="no SM3 in this OpenSSL")
def test_sm3_is_accepted_when_python_has_it() -> None:
    assert post(at_now(), params(signatureMethod="SM3"))["code"] == 200


def test_a_signature_over_other_values_is_refused() -> None:
    vendor = at_now()
    form = params()
    form["signature"] = sign(form, SECRET_KEY)
    form["content"] = "changed after signing"
    assert post(vendor, form, signed=False)["code"] == 410


def test_an_unknown_signature_method_is_a_param_error() -> None:
    form = params(signatureMethod="CRC32", signature="00")
    assert post(at_now(), form, signed=False)["code"] == 405


def test_the_text_table_answers_its_own_codes() -> None:
    vendor = at_now(codes="text")
    assert post(vendor, params(), key="wrong")["code"] == 5508
    assert post(vendor, params(timestamp=str(int(NOW * 1000) - 3_600_000)))["code"] == 5501
    assert post(vendor, params(businessId="nope"))["code"] == 5506
    assert post(vendor, params(version=None))["code"] == 5502
    reused = params()
    assert post(vendor, reused)["code"] == 200
    assert post(vendor, reused)["code"] == 5505


# -- timestamp, nonce, credentials, required parameters ----------------------------------------


@pytest.mark.parametrize(
    ("offset_ms", "code"),
    [(0, 200), (300_000, 200), (-300_000, 200), (300_001, 420), (-300_001, 420)],
)
def test_the_timestamp_window(offset_ms: int, code: int) -> None:
    form = params(timestamp=str(int(NOW * 1000) + offset_ms))
    assert post(at_now(), form)["code"] == code


def test_a_timestamp_in_seconds_is_expired() -> None:
    assert post(at_now(), params(timestamp=str(int(NOW))))["code"] == 420


@pytest.mark.parametrize("timestamp", ["soon", "-5", "1.7e12", "9" * 40])
def test_a_timestamp_that_is_not_milliseconds_is_a_param_error(timestamp: str) -> None:
    assert post(at_now(), params(timestamp=timestamp))["code"] == 405


def test_the_window_is_an_option() -> None:
    form = params(timestamp=str(int(NOW * 1000) - 20_000))
    assert post(at_now(window=10), form)["code"] == 420


def test_a_reused_nonce_is_a_replay() -> None:
    vendor = at_now()
    form = params(nonce="n-1")
    assert post(vendor, form)["code"] == 200
    assert post(vendor, params(nonce="n-1", content="other"))["code"] == 430
    assert post(vendor, params(nonce="n-2"))["code"] == 200


def test_a_nonce_is_forgotten_once_its_timestamps_would_be_refused() -> None:
    clock = Clock(NOW)
    vendor = emulator(clock=clock)
    assert post(vendor, params(nonce="n-1"))["code"] == 200
    clock.advance(601)
    later = str(int(clock.now * 1000))
    assert post(vendor, params(nonce="n-2", timestamp=later))["code"] == 200  # prunes n-1
    assert post(vendor, params(nonce="n-1", timestamp=later))["code"] == 200


def test_a_nonce_longer_than_32_is_refused() -> None:
    assert post(at_now(), params(nonce="n" * 33))["code"] == 430


@pytest.mark.parametrize("missing", ["secretId", "businessId", "version", "timestamp", "nonce"])
def test_each_common_parameter_is_required(missing: str) -> None:
    assert post(at_now(), params(**{missing: None}))["code"] == 405


def test_the_signature_is_required() -> None:
    assert post(at_now(), params(), signed=False)["code"] == 405


@pytest.mark.parametrize("missing", ["dataId", "content"])
def test_data_id_and_content_are_required(missing: str) -> None:
    assert post(at_now(), params(**{missing: None}))["code"] == 405


def test_a_wrong_secret_id_or_business_id_is_refused() -> None:
    vendor = at_now()
    assert post(vendor, params(secretId="someone"))["code"] == 401
    assert post(vendor, params(businessId="someone"))["code"] == 401


@pytest.mark.parametrize("version", ["v3.1", "5.2", "v5.2x", ""])
def test_only_a_v5_version_is_taken(version: str) -> None:
    assert post(at_now(), params(version=version or None))["code"] == 405


# -- limits -------------------------------------------------------------------------------


def test_content_is_at_most_ten_thousand_characters() -> None:
    vendor = at_now()
    assert post(vendor, params(content="好" * 10_000))["code"] == 200
    assert post(vendor, params(content="好" * 10_001))["code"] == 405


@pytest.mark.parametrize(
    ("field", "limit"), [("dataId", 128), ("account", 128), ("receiveUid", 64)]
)
def test_field_limits(field: str, limit: int) -> None:
    vendor = at_now()
    assert post(vendor, params(**{field: "x" * limit}))["code"] == 200
    assert post(vendor, params(**{field: "x" * (limit + 1)}))["code"] == 405


def batch(*contents: str) -> dict[str, str]:
    entries = [{"dataId": f"d-{i}", "content": c} for i, c in enumerate(contents)]
    return params(dataId=None, content=None, texts=json.dumps(entries, ensure_ascii=False))


def test_a_batch_takes_one_to_one_hundred_texts() -> None:
    vendor = at_now()
    full = post(vendor, batch(*["hello"] * 100), url=BATCH)
    assert len(full["result"]) == 100
    assert post(vendor, batch(*["hello"] * 101), url=BATCH)["code"] == 405
    assert post(vendor, batch(), url=BATCH)["code"] == 405


@pytest.mark.parametrize(
    "texts", ["not json", "{}", '"text"', "[1]", '[{"dataId":"a"}]', "[" * 5000]
)
def test_a_malformed_texts_is_a_param_error(texts: str) -> None:
    form = params(dataId=None, content=None, texts=texts)
    assert post(at_now(), form, url=BATCH)["code"] == 405


def test_a_data_id_repeated_in_a_batch_is_a_param_error() -> None:
    entries = [{"dataId": "same", "content": "a"}, {"dataId": "same", "content": "b"}]
    form = params(dataId=None, content=None, texts=json.dumps(entries))
    assert post(at_now(), form, url=BATCH)["code"] == 405


def test_the_batch_answer_holds_every_text_in_another_order() -> None:
    body = post(at_now(), batch("hello", "you idiot", "buy now"), url=BATCH)
    by_id = {r["antispam"]["dataId"]: r["antispam"]["suggestion"] for r in body["result"]}
    assert by_id == {"d-0": 0, "d-1": 2, "d-2": 1}
    assert [r["antispam"]["dataId"] for r in body["result"]] != ["d-0", "d-1", "d-2"]


def test_check_labels_limit_what_is_checked() -> None:
    vendor = at_now()
    assert (
        post(vendor, params(content="you idiot", checkLabels="200, 500"))["result"]["antispam"][
            "suggestion"
        ]
        == 0
    )
    assert (
        post(vendor, params(content="you idiot", checkLabels="600"))["result"]["antispam"]["label"]
        == 600
    )
    assert post(vendor, params(checkLabels="porn"))["code"] == 405


def test_the_body_must_be_a_form() -> None:
    request = httpx.Request("POST", SINGLE, json=params())
    assert json.loads(at_now()(request).content)["code"] == 405


def test_a_parameter_given_twice_is_refused() -> None:
    form = params()
    form["signature"] = sign(form, SECRET_KEY)
    content = urlencode(form) + "&content=again"
    request = httpx.Request(
        "POST",
        SINGLE,
        content=content,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert json.loads(at_now()(request).content)["code"] == 405


def test_only_post_and_known_paths() -> None:
    vendor = at_now()
    assert json.loads(vendor(httpx.Request("GET", SINGLE)).content)["code"] == 400
    assert (
        json.loads(vendor(httpx.Request("POST", "http://yidun.test/v9/x")).content)["code"] == 404
    )


# -- content rules ------------------------------------------------------------------------


@pytest.mark.parametrize("rule", TEXT_RULES, ids=lambda r: f"{r.label}-{r.terms[0]}")
def test_every_rule_answers_its_label(rule: Any) -> None:
    body = post(at_now(), params(content=f"x {rule.terms[-1]} y"))
    antispam = body["result"]["antispam"]
    assert (antispam["label"], antispam["suggestion"]) == (rule.label, rule.suggestion)
    (entry,) = antispam["labels"]
    assert entry["rate"] == rule.rate
    words = [k["word"] for s in entry["subLabels"] for k in s["details"].get("keywords", [])]
    assert words == ([rule.terms[-1]] if rule.keywords else [])


def test_every_label_code_of_the_crosswalk_has_a_rule() -> None:
    assert {code for code in LABELS if code} <= {rule.label for rule in TEXT_RULES}


def test_the_emulator_and_the_provider_agree_on_each_rule() -> None:
    with moderator(emulator()) as mod:
        verdicts = mod.check_many([f"x {rule.terms[0]}" for rule in TEXT_RULES])
    for rule, verdict in zip(TEXT_RULES, verdicts, strict=True):
        assert verdict.label is LABELS[rule.label][0]
        assert verdict.decision is (Decision.BLOCK if rule.suggestion == 2 else Decision.REVIEW)
        assert verdict.score == round(rule.rate * 100)


# -- faults and markers -------------------------------------------------------------------


def test_markers_set_the_suggestion_and_label() -> None:
    antispam = post(at_now(), params(content="[[suggestion:2]][[label:500]] hi"))["result"][
        "antispam"
    ]
    assert (antispam["suggestion"], antispam["label"]) == (2, 500)


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("garbage", lambda r: r.content.startswith(b"\x00")),
        ("empty", lambda r: r.content == b""),
        ("html", lambda r: b"<html>" in r.content),
        ("nested", lambda r: r.content.endswith(b"[[[[")),
        ("http502", lambda r: r.status_code == 502),
        ("411", lambda r: json.loads(r.content)["code"] == 411),
    ],
)
def test_fault_markers(fault: str, check: Any) -> None:
    form = params(content=f"[[fault:{fault}]] hello")
    form["signature"] = sign(form, SECRET_KEY)
    assert check(at_now()(httpx.Request("POST", SINGLE, data=form)))


def test_the_slow_marker_sleeps_through_the_injected_sleep() -> None:
    slept: list[float] = []
    vendor = at_now(sleep=slept.append)
    post(vendor, params(content="[[slow:2.5]] hi"))
    post(vendor, params(content="[[slow:9999]] hi"))
    assert slept == [2.5, 30.0]


def test_fault_every_and_fault_times() -> None:
    vendor = at_now(fault="503", fault_every=2, fault_times=1)
    codes = [post(vendor, params())["code"] for _ in range(6)]
    assert codes == [200, 503, 200, 200, 200, 200]


def test_latency_sleeps_before_each_answer() -> None:
    slept: list[float] = []
    post(at_now(latency=0.2, sleep=slept.append), params())
    assert slept == [0.2]


def test_an_item_marker_alone_answers_without_a_result() -> None:
    assert post(at_now(), params(content="[[item:missing]] x"))["result"] == {}


def test_options_from_the_command_line_are_strings() -> None:
    vendor = make_emulator(
        secret_id="id", secret_key="key", business_ids="a, b", codes="text", window="60",
        rate_limit="5", quota="none", latency="0", fault="none", fault_every="3",
        fault_times="2",
    )  # fmt: skip
    assert vendor.business_ids == {"a", "b"}
    assert (vendor.codes, vendor.window, vendor.rate_limit, vendor.quota) == ("text", 60, 5, None)
    assert (vendor.fault, vendor.fault_every, vendor.fault_times) == (None, 3, 2)


@pytest.mark.parametrize(
    "options",
    [{"colour": "red"}, {"fault": "explode"}, {"codes": "other"}, {"fault_every": "0"},
     {"rate_limit": "fast"}],
)  # fmt: skip
def test_bad_options_are_refused(options: dict[str, str]) -> None:
    with pytest.raises((TypeError, ValueError)):
        make_emulator(**options)


def test_the_repr_shows_no_key() -> None:
    assert SECRET_KEY not in repr(emulator())


# -- served by the CLI --------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    child = subprocess.Popen(
        [sys.executable, "-m", "moderation_core", "emulate", "yidun", "--port", str(port),
         "--set", f"secret_id={SECRET_ID}", "--set", f"secret_key={SECRET_KEY}",
         "--set", f"business_ids={BUSINESS_ID}"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        assert "listening on" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=10)


def test_moderation_emulate_yidun_serves_it(served: str) -> None:
    table = {"type": "yidun", "secret_id": SECRET_ID, "secret_key": SECRET_KEY,
             "business_id": BUSINESS_ID, "base_url": served}  # fmt: skip
    with Moderator({"providers": {"yidun": table}}) as mod:
        clean, rude = mod.check_many(["hello there", "you idiot"])
        single = mod.check("加我微信")
    assert clean.decision is Decision.PASS
    assert (rude.decision, rude.label) == (Decision.BLOCK, Label.ABUSE)
    assert (single.decision, single.label) == (Decision.REVIEW, Label.AD)
