"""moderation_core.wire: the strict converter, bounded JSON reading and scrubbed vendor
text that the built-in providers share."""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import pytest

from moderation_core import ProtocolError
from moderation_core.wire import (
    camel,
    pascal,
    read_json,
    read_json_object,
    retry_after,
    strict_converter,
    structure_answer,
    vendor_text,
)


@attrs.frozen
class Hit:
    sub_label: str | None = None


@attrs.frozen
class Answer:
    request_id: str
    score: float | None = None
    count: int = 0
    flagged: bool = False
    hits: list[Hit] = attrs.Factory(list)


@attrs.frozen
class Request:
    audit_name: str
    ext_sender: str | None = None


def read(value: object, **options: Any) -> Answer:
    converter = strict_converter(structure={Answer: camel, Hit: camel}, **options)
    return structure_answer(converter, value, Answer, prefix="unexpected answer from Acme")


def test_the_documented_shape_is_read_with_renames() -> None:
    answer = read({"requestId": "r", "score": 1, "count": 2, "hits": [{"subLabel": "x"}]})
    assert answer == Answer(request_id="r", score=1.0, count=2, hits=[Hit(sub_label="x")])


@pytest.mark.parametrize(
    "body",
    [
        {"requestId": 5},
        {"requestId": "r", "score": "0.9"},
        {"requestId": "r", "score": float("nan")},
        {"requestId": "r", "count": "2"},
        {"requestId": "r", "count": 2.5},
        {"requestId": "r", "count": True},
        {"requestId": "r", "flagged": 1},
        {"requestId": "r", "hits": "abc"},
        {"requestId": "r", "hits": {"subLabel": "x"}},
        {"requestId": "r", "hits": ["x"]},
        {"requestId": "r", "hits": None},
        "requestId",
        ["requestId"],
    ],
)
def test_anything_else_is_a_protocol_error_without_the_value(body: object) -> None:
    with pytest.raises(ProtocolError) as caught:
        read(body)
    assert str(caught.value).startswith("unexpected answer from Acme")
    assert "0.9" not in str(caught.value)


def test_lists_may_be_bounded_and_null() -> None:
    hits = [{"subLabel": str(n)} for n in range(3)]
    with pytest.raises(ProtocolError, match=r"answer\.hits"):
        read({"requestId": "r", "hits": hits}, max_items=2)
    assert read({"requestId": "r", "hits": None}, null_lists=True).hits == []


def test_non_finite_floats_may_be_allowed() -> None:
    assert read({"requestId": "r", "score": float("inf")}, finite_floats=False).score == float(
        "inf"
    )


def test_a_hook_registered_afterwards_is_the_one_fields_use() -> None:
    converter = strict_converter(structure={Answer: camel})

    def bounded(value: object, _type: type) -> int:
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError("expected 0-100")
        return value

    converter.register_structure_hook(int, bounded)
    with pytest.raises(ProtocolError, match=r"answer\.count"):
        structure_answer(converter, {"requestId": "r", "count": 101}, Answer, prefix="Acme")


def test_each_converter_is_new() -> None:
    assert strict_converter() is not strict_converter()


def test_unstructure_renames_and_leaves_defaults_out() -> None:
    converter = strict_converter(unstructure={Request: pascal})
    assert converter.unstructure(Request(audit_name="a")) == {"AuditName": "a"}
    assert converter.unstructure(Request(audit_name="a", ext_sender="u")) == {
        "AuditName": "a",
        "ExtSender": "u",
    }


def test_a_mapping_renames_only_the_fields_it_names() -> None:
    converter = strict_converter(structure={Answer: {"request_id": "id"}, Hit: camel})
    assert converter.structure({"id": "r", "count": 1}, Answer) == Answer(request_id="r", count=1)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"x" * 101, "101 bytes, more than the 100"),
        (b"<html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 50 + b"]" * 50, "JSON array, not an object"),
        (b"null", "JSON null, not an object"),
    ],
)
def test_a_body_is_read_bounded(content: bytes, says: str) -> None:
    with pytest.raises(ProtocolError, match=says) as caught:
        read_json_object(httpx.Response(200, content=content), vendor="Acme", max_bytes=100)
    assert str(caught.value).startswith("Acme answered")


def test_json_nested_too_deep_is_a_protocol_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ProtocolError, match="nested too deeply"):
        read_json(httpx.Response(200, content=deep), vendor="Acme", max_bytes=1 << 20)


def test_vendor_text_masks_every_spelling_folds_and_cuts() -> None:
    secret = "Ab/c d+e"
    said = f"sig={secret} q=Ab%2Fc%20d%2Be f=Ab%2fc+d%2Be g=AB/C D+E\n\nnext line"
    text = vendor_text(said, ["", secret])
    assert text == "sig=*** q=*** f=*** g=*** next line"
    assert vendor_text("x" * 500) == "x" * 197 + "..."
    assert vendor_text("x" * 50, limit=10) == "x" * 7 + "..."
    assert vendor_text(None) == ""


def test_retry_after_reads_milliseconds_seconds_and_dates() -> None:
    now = 1_700_000_000.0
    assert retry_after(httpx.Headers({"retry-after-ms": "1500"}), now) == 1.5
    assert retry_after(httpx.Headers({"retry-after": "3"}), now) == 3.0
    date = "Tue, 14 Nov 2023 22:13:30 GMT"  # now + 10 s
    assert retry_after(httpx.Headers({"retry-after": date}), now) == 10.0
    assert retry_after(httpx.Headers({"x-ms": "2000"}), now, ms_headers=("x-ms",)) == 2.0
    for bad in ("nan", "-1", "inf", "soon"):
        assert retry_after(httpx.Headers({"retry-after": bad}), now) is None
    assert retry_after(httpx.Headers(), now) is None
