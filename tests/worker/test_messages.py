"""Message shapes: inputs read strictly and within bounds; results and dead letters."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

import moderation_core.worker._messages as messages
from moderation_core import Action, AllProvidersFailed, Content, Outcome, ProviderUnavailable
from moderation_core.worker._messages import (
    DEAD_LETTER_QUOTE_MAX,
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
        "size": 4,
        "sha256": hashlib.sha256(b"oops").hexdigest(),
        "truncated": False,
        "data": "oops",
    }
    binary = json.loads(dead_letter(b"\xff" * 10, error, deliveries=2, message_id="x"))
    assert base64.b64decode(binary["data_base64"]) == b"\xff" * 10
    assert "data" not in binary


def test_dead_letter_quotes_a_bounded_prefix_with_the_size_and_digest() -> None:
    # A 1 MB input quoted whole in base64 would be 1.33 MB: over NATS max_payload, so the
    # dead letter could never be published. Only a prefix is quoted; the digest and size
    # identify the input.
    data = b'{"id": "big", "contents": ["' + b"x" * 1_000_000 + b'"]}'
    error = OversizedMessage("the message is 1000030 bytes; at most 262144")
    letter = json.loads(dead_letter(data, error, deliveries=1, message_id=None, quote_bytes=1000))
    assert base64.b64decode(letter["data_base64"]) == data[:1000]
    assert (letter["size"], letter["truncated"]) == (len(data), True)
    assert letter["sha256"] == hashlib.sha256(data).hexdigest()
    assert "data" not in letter
    default = dead_letter(data, error, deliveries=1, message_id=None)
    assert DEAD_LETTER_QUOTE_MAX < len(default) < 1_000_000  # under max_payload
    assert len(base64.b64decode(json.loads(default)["data_base64"])) == DEAD_LETTER_QUOTE_MAX


def test_a_small_text_prefix_is_still_base64_when_truncated() -> None:
    letter = json.loads(
        dead_letter(b"abcdef", MalformedMessage("x"), deliveries=1, message_id=None, quote_bytes=3)
    )
    assert (letter["data_base64"], letter["truncated"]) == (base64.b64encode(b"abc").decode(), True)


def test_a_long_error_message_is_cut() -> None:
    letter = json.loads(
        dead_letter(b"{}", MalformedMessage("e" * 100_000), deliveries=1, message_id=None)
    )
    assert 4096 <= len(letter["error"]["message"]) < 4200


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


HOSTILE = [
    b'\xef\xbb\xbf{"id": "a", "contents": ["x"]}',
    b'{"id": "a", "contents": ["\\ud800"]}',
    b'{"id": "a", "contents": [{"type": "text", "value": "x", "id": 123456789012345678901234567}]}',
    b'{"id": "a", "contents": [{"type": "text", "value": "x", "id": 1.5}]}',
    b'{"id": "a", "contents": ["x"]} ',
    b'{"id": "a", "contents": ["x"]}x',
    b'{"id": "a", "id": "b", "contents": ["x"]}',
    b"[" * 5000,
    b'{"id": NaN}',
    b'{"id": "a", "contents": [1e400]}',
    b'{"id": "a\\u0000", "contents": ["x"]}',
    b'{"id": "a", "contents": ["x"], "scene": "\\udfff"}',
    b"\x00",
    b'{"id": "a", "contents": ["x",]}',
    b'{"id": "\xff", "contents": ["x"]}',
]


@pytest.mark.parametrize("data", HOSTILE)
def test_the_fast_json_reader_changes_no_verdict_nor_error(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read() -> str:
        try:
            return repr(parse_message(data, max_bytes=100_000, max_contents=100))
        except MalformedMessage as exc:
            return f"{type(exc).__name__}: {exc}"

    fast = read()
    monkeypatch.setattr(messages, "orjson", None)
    assert fast == read()


def test_the_fast_json_writer_falls_back_for_what_it_cannot_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hard = {"text": "\ud800", "big": 2**70, "plain": "今天"}
    fast = messages.encode(hard)
    monkeypatch.setattr(messages, "orjson", None)
    assert json.loads(fast) == json.loads(messages.encode(hard)) == hard
    easy = {"id": "m", "text": "今天", "n": [1, None, True]}
    assert json.loads(messages.encode(easy)) == easy
