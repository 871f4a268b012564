"""Message shapes: inputs read strictly and within bounds; results and dead letters."""

from __future__ import annotations

import base64
import json

import pytest

from moderation_core import Action, AllProvidersFailed, Content, Outcome, ProviderUnavailable
from moderation_core.worker._messages import (
    MalformedMessage,
    OversizedMessage,
    dead_letter,
    dead_letter_id,
    parse_message,
    result_message,
)


def parse(data: bytes | str, *, max_bytes: int = 1000, max_contents: int = 3) -> object:
    raw = data.encode() if isinstance(data, str) else data
    return parse_message(raw, max_bytes=max_bytes, max_contents=max_contents)


def test_a_full_message() -> None:
    message = parse_message(
        json.dumps(
            {
                "id": "m-1",
                "contents": ["hi", {"type": "image", "value": "https://x.test/a.png", "id": 7}],
                "scene": "Group",
                "sender": "u1",
                "receiver": "g1",
            }
        ).encode(),
        max_bytes=1000,
        max_contents=3,
    )
    assert message.id == "m-1"
    assert message.contents == ("hi", Content.image("https://x.test/a.png", id=7))
    assert (message.scene, message.sender, message.receiver) == ("Group", "u1", "g1")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xff\xfe", "not UTF-8"),
        ("not json", "not JSON"),
        ("NaN", "not JSON"),
        ("[1]", "must be a JSON object"),
        ('{"contents": ["x"]}', "id is required"),
        ('{"id": 5, "contents": ["x"]}', "id must be a string"),
        ('{"id": "", "contents": ["x"]}', "id must be 1 to"),
        ('{"id": "a\\r\\nX-Evil: 1", "contents": ["x"]}', "no control characters"),
        ('{"id": "a"}', "contents is required"),
        ('{"id": "a", "contents": "x"}', "contents must be a list"),
        ('{"id": "a", "contents": []}', "contents is empty"),
        ('{"id": "a", "contents": [1]}', "contents[0] must be a string or an object"),
        ('{"id": "a", "contents": [{"type": "pdf", "value": "x"}]}', "contents[0].type"),
        ('{"id": "a", "contents": [{"type": "image", "value": "ftp://x"}]}', "contents[0]"),
        ('{"id": "a", "contents": ["x"], "extra": 1}', "unknown field(s): extra"),
        ('{"id": "a", "contents": ["x"], "scene": 3}', "scene must be a string"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ],
)
def test_malformed_messages_say_what_is_wrong(data: bytes | str, says: str) -> None:
    with pytest.raises(MalformedMessage) as caught:
        parse(data, max_bytes=1_000_000)
    assert says in str(caught.value)


def test_the_id_is_kept_when_the_rest_is_wrong() -> None:
    with pytest.raises(MalformedMessage) as caught:
        parse('{"id": "keep-me", "contents": 1}')
    assert caught.value.message_id == "keep-me"


def test_oversized_by_bytes_before_reading_json() -> None:
    with pytest.raises(OversizedMessage) as caught:
        parse(b"x" * 1001)  # not JSON either: the size is checked first
    assert "max_message_bytes" in str(caught.value)


def test_oversized_by_item_count() -> None:
    with pytest.raises(OversizedMessage) as caught:
        parse('{"id": "many", "contents": ["a", "b", "c", "d"]}')
    assert "max_contents" in str(caught.value)
    assert caught.value.message_id == "many"


def test_result_is_the_outcome_json() -> None:
    outcome = Outcome(Action.ALLOW, "hi", "local decided PASS", None)
    data = json.loads(result_message("m-1", outcome))
    assert data == {"id": "m-1", "outcome": outcome.to_dict()}


def test_dead_letter_quotes_small_text_and_encodes_the_rest() -> None:
    error = MalformedMessage("the message is not JSON")
    small = json.loads(dead_letter(b"oops", error, deliveries=1, message_id=None))
    assert small == {
        "id": None,
        "error": {"type": "MalformedMessage", "message": "the message is not JSON"},
        "deliveries": 1,
        "data": "oops",
    }
    binary = json.loads(dead_letter(b"\xff" * 10, error, deliveries=2, message_id="x"))
    assert base64.b64decode(binary["data_base64"]) == b"\xff" * 10
    assert "data" not in binary


def test_dead_letter_of_every_provider_failing() -> None:
    failed = AllProvidersFailed(
        "every provider failed (a: ProviderUnavailable)",
        [ProviderUnavailable("down", provider="a")],
    )
    letter = json.loads(dead_letter(b"{}", failed, deliveries=5, message_id="m"))
    assert letter["error"] == {
        "type": "AllProvidersFailed",
        "message": "every provider failed (a: ProviderUnavailable)",
    }


def test_dead_letter_id_follows_the_bytes() -> None:
    assert dead_letter_id(b"a") == dead_letter_id(b"a") != dead_letter_id(b"b")
