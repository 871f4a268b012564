"""Content.from_custom: Tencent's custom message methods one (preset keys) and two
(fixed field paths), the whole payload otherwise, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from moderation_core import ConfigError, Content, ContentType, InvalidContent


def test_method_one_a_single_preset_pair() -> None:
    payload = {
        "key1": "value1",
        "message": "hello",
        "IMAuditContentType": "Text",
        "IMAuditContent": "hi",
    }
    assert Content.from_custom(payload) == [Content.text("hi")]


def test_method_one_accepts_json_text_as_the_console_receives_it() -> None:
    data = json.dumps(
        {"IMAuditContentType": "Image", "IMAuditContent": "https://example.qq.com/1.jpg"}
    )
    assert Content.from_custom(data) == [Content.image("https://example.qq.com/1.jpg")]


def test_method_one_several_contents() -> None:
    payload = {
        "IMAuditContents": [
            {"IMAuditContentType": "Text", "IMAuditContent": "aaaa"},
            {"IMAuditContentType": "Image", "IMAuditContent": "https://example.qq.com/1.jpg"},
            {"IMAuditContentType": "Audio", "IMAuditContent": "https://example.qq.com/1.mp3"},
            {"IMAuditContentType": "video", "IMAuditContent": "https://example.qq.com/1.mp4"},
        ]
    }
    contents = Content.from_custom(payload)
    assert [c.type for c in contents] == [
        ContentType.TEXT,
        ContentType.IMAGE,
        ContentType.AUDIO,
        ContentType.VIDEO,
    ]
    assert contents[0].value == "aaaa"


def test_method_one_reads_first_level_keys_only() -> None:
    payload = {"data": {"IMAuditContentType": "Text", "IMAuditContent": "nested"}}
    (whole,) = Content.from_custom(payload)
    assert whole.value == json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {
                "IMAuditContents": [
                    {"IMAuditContentType": "Text", "IMAuditContent": f"t{i}"} for i in range(11)
                ]
            },
            "IMAuditContents has 11 entries; at most 10",
        ),
        ({"IMAuditContents": []}, "IMAuditContents must be a non-empty list"),
        ({"IMAuditContents": "aaaa"}, "IMAuditContents must be a non-empty list"),
        ({"IMAuditContents": ["aaaa"]}, "IMAuditContents[0] must be an object, got str"),
        ({"IMAuditContentType": "Text"}, "the payload has no IMAuditContent"),
        ({"IMAuditContent": "hi"}, "the payload has no IMAuditContentType"),
        (
            {"IMAuditContentType": "Sticker", "IMAuditContent": "x"},
            "must be Text, Image, Audio or Video, got 'Sticker'",
        ),
        (
            {"IMAuditContentType": "Text", "IMAuditContent": 5},
            "IMAuditContent must be a string, got int",
        ),
        ({"IMAuditContentType": "Text", "IMAuditContent": "  "}, "text is empty"),
        (
            {
                "IMAuditContents": [
                    {"IMAuditContentType": "Image", "IMAuditContent": "file:///x.jpg"}
                ]
            },
            "IMAuditContents[0]: image must be an http(s) URL",
        ),
    ],
)
def test_method_one_bad_payloads_say_what_is_wrong(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidContent) as caught:
        Content.from_custom(payload)
    assert message in str(caught.value)


def test_method_one_ten_contents_are_fine() -> None:
    payload = {
        "IMAuditContents": [
            {"IMAuditContentType": "Text", "IMAuditContent": f"t{i}"} for i in range(10)
        ]
    }
    assert len(Content.from_custom(payload)) == 10


def test_method_two_fixed_fields_as_objects_and_as_json_strings() -> None:
    fields = "data.content|content"
    as_object = {"data": {"content": "123"}, "avatar": "http://xxxxx"}
    as_string = {"data": json.dumps({"content": "456"}), "avatar": "http://xxxxx"}
    top_level = json.dumps({"content": "789", "avatar": "http://xxxxx"})
    assert Content.from_custom(as_object, fields) == [Content.text("123")]
    assert Content.from_custom(as_string, fields) == [Content.text("456")]
    assert Content.from_custom(top_level, fields) == [Content.text("789")]


def test_method_two_takes_the_first_alternative_found() -> None:
    payload = {"content": "second", "data": {"content": "first"}}
    assert Content.from_custom(payload, "data.content|content") == [Content.text("first")]
    assert Content.from_custom(payload, "content|data.content") == [Content.text("second")]


def test_method_two_ignores_preset_keys_and_falls_back_to_the_whole_payload() -> None:
    payload = {"IMAuditContentType": "Text", "IMAuditContent": "preset", "other": 1}
    (whole,) = Content.from_custom(payload, "data.content")
    assert whole.value == '{"IMAuditContentType":"Text","IMAuditContent":"preset","other":1}'


def test_method_two_checks_text_only() -> None:
    with pytest.raises(
        InvalidContent,
        match=r"field data\.content holds dict; fixed fields are checked as text only",
    ):
        Content.from_custom({"data": {"content": {"x": 1}}}, "data.content")
    with pytest.raises(InvalidContent, match="field content: text is empty"):
        Content.from_custom({"content": ""}, "content")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("a|b|c|d", "has 4 alternatives; at most 3"),
        ("a.b.c", "has 3 levels; at most 2"),
        ("a" * 61, "is 61 characters; at most 60"),
        ("data.|content", "has an empty key"),
        ("data||content", "has an empty key"),
        ("", "must be a non-empty string"),
    ],
)
def test_bad_field_specs_are_config_errors(fields: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Content.from_custom({"content": "x"}, fields)
    assert message in str(caught.value)


def test_anything_else_is_checked_as_text_whole() -> None:
    assert Content.from_custom("just words, not JSON") == [Content.text("just words, not JSON")]
    assert Content.from_custom("[1, 2]") == [Content.text("[1, 2]")]
    assert Content.from_custom({"msg": "你好"}) == [Content.text('{"msg":"你好"}')]
    assert Content.from_custom(b'{"msg": "hi"}') == [Content.text('{"msg": "hi"}')]


@pytest.mark.parametrize(
    ("data", "message"),
    [(42, "must be a dict or a JSON string, got int"), ("  ", "empty"), (b"\xff", "not UTF-8")],
)
def test_payloads_of_the_wrong_kind_are_invalid(data: Any, message: str) -> None:
    with pytest.raises(InvalidContent, match=message):
        Content.from_custom(data)
