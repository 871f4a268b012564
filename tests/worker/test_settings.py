"""The [worker] table: defaults, every problem at once, no password shown."""

from __future__ import annotations

from typing import Any

import pytest

from moderation_core import ConfigError, ModerationError, load_config
from moderation_core.worker import BrokerError, WorkerSettings, open_broker, worker_settings


def settings(worker: dict[str, Any], **moderation: Any) -> WorkerSettings:
    return worker_settings(
        load_config(
            {
                "moderation": {"providers": ["local"], **moderation},
                "providers": {"local": {"type": "local"}},
                "worker": worker,
            }
        )
    )


def problems(worker: dict[str, Any], **moderation: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        settings(worker, **moderation)
    return str(caught.value)


def test_defaults() -> None:
    s = settings({"url": "nats://127.0.0.1:4222"})
    assert (s.stream, s.subject_in, s.subject_out, s.dead_letter, s.durable) == (
        "MODERATION",
        "moderation.in",
        "moderation.out",
        "moderation.dead",
        "moderation-worker",
    )
    assert (s.in_flight, s.batch, s.max_deliver, s.on_failure) == (256, 64, 5, "nak")
    assert (s.max_message_bytes, s.max_contents) == (262_144, 100)
    assert s.ack_wait > 30  # longer than the default [moderation] deadline
    assert s.broker == "nats"
    assert settings({"url": "amqp://guest:guest@127.0.0.1:5672/"}).broker == "rabbitmq"


def test_url_is_required_and_named() -> None:
    message = problems({})
    assert "[worker]" in message
    assert "url is required" in message


def test_every_problem_at_once() -> None:
    message = problems({"url": "nats://h", "in_flight": 0, "batch": "64", "colour": "red"})
    assert "colour" in message
    assert "in_flight" in message
    assert "batch must be a whole number" in message


def test_unknown_scheme_is_named() -> None:
    message = problems({"url": "kafka://broker:9092"})
    assert "kafka://" in message
    assert "nats://" in message
    assert "amqp://" in message


def test_password_never_shown() -> None:
    s = settings({"url": "nats://user:hunter2-secret@127.0.0.1:4222"})
    assert "hunter2" not in repr(s)
    assert "user:***@127.0.0.1" in repr(s)
    assert s.shown_url == "nats://user:***@127.0.0.1:4222"
    message = problems({"url": "nats://user:hunter2-secret@127.0.0.1:4222", "in_flight": -1})
    assert "hunter2" not in message


def test_ack_wait_must_outlast_the_check_deadline() -> None:
    message = problems({"url": "nats://h", "ack_wait": 10}, deadline=10)
    assert "ack_wait" in message
    assert "deadline" in message
    assert settings({"url": "nats://h", "ack_wait": 2}, deadline=1).ack_wait == 2


def test_on_failure_fail_mode_needs_a_fail_mode_that_answers() -> None:
    message = problems({"url": "nats://h", "on_failure": "fail_mode"})
    assert "on_failure" in message
    assert "fail_mode" in message
    s = settings({"url": "nats://h", "on_failure": "fail_mode"}, fail_mode="review")
    assert s.on_failure == "fail_mode"
    assert "must be one of nak, fail_mode" in problems({"url": "nats://h", "on_failure": "drop"})


def test_three_distinct_subjects() -> None:
    message = problems({"url": "nats://h", "subject_out": "moderation.in"})
    assert "subject_in, subject_out and dead_letter" in message


@pytest.mark.parametrize("name", ["", "a b", "x.*", "x.>", "a..b", ".a"])
def test_subject_names_are_checked(name: str) -> None:
    assert "subject_in" in problems({"url": "nats://h", "subject_in": name})


def test_stream_name_is_checked() -> None:
    assert "stream" in problems({"url": "nats://h", "stream": "A.B"})


def test_open_broker_picks_by_scheme() -> None:
    nats = open_broker(settings({"url": "nats://u:pw-123456@127.0.0.1:4222"}))
    assert type(nats).__name__ == "NatsBroker"
    assert "pw-123456" not in repr(nats)
    rabbit = open_broker(settings({"url": "amqp://guest:guest@127.0.0.1:5672/"}))
    assert type(rabbit).__name__ == "RabbitBroker"


def test_broker_error_is_a_moderation_error() -> None:
    assert issubclass(BrokerError, ModerationError)
