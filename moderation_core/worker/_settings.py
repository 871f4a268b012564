"""The ``[worker]`` table, structured and checked before any broker is dialled.

``Config.worker`` arrives raw (like ``[policy]``): this module owns its keys, so the
core config loader does not import broker code. Every problem is reported at once,
each naming the file, the table and the key; a password in ``url`` is never shown.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs

from moderation_core._config import Config, config_error, make_config_converter, structure_config

__all__ = [
    "NATS_SCHEMES",
    "RABBIT_SCHEMES",
    "OnFailure",
    "WorkerSettings",
    "redacted_url",
    "worker_settings",
]

OnFailure = Literal["nak", "fail_mode"]

NATS_SCHEMES = ("nats", "tls")
RABBIT_SCHEMES = ("amqp", "amqps")
_SCHEMES = NATS_SCHEMES + RABBIT_SCHEMES

_URL_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")


def redacted_url(url: str) -> str:
    """The URL as a message may show it: ``nats://user:***@host:4222``."""
    return _URL_PASSWORD.sub(r"\1***@", url)


def _check_url(_inst: object, _attr: object, value: str) -> None:
    wanted = f"url must be a URL starting {', '.join(s + '://' for s in _SCHEMES)}"
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        got = f"{scheme}://" if sep else repr(redacted_url(value)[:60])
        raise ValueError(f"{wanted} (got {got})")
    if any(c.isspace() for c in value):
        raise ValueError(f"{wanted} without spaces")
    host = rest.split("/", 1)[0].rpartition("@")[2]
    if not host or host.startswith(":"):
        raise ValueError(f"{wanted} with a host (e.g. nats://127.0.0.1:4222)")


_NAME = re.compile(r"^[A-Za-z0-9_.\-:]+$")
_STREAM_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


def _check_name(_inst: object, attr: attrs.Attribute[Any], value: str) -> None:
    # One name serves both brokers: a NATS subject (dot-separated tokens, no wildcard)
    # and a RabbitMQ queue or routing key. The common ground is this character set.
    if not _NAME.match(value) or ".." in value or value.startswith(".") or value.endswith("."):
        raise ValueError(
            f"{attr.name} must be a non-empty name of letters, digits, _ - : and dots between "
            f"words (got {value[:60]!r})"
        )


def _check_stream(_inst: object, _attr: object, value: str) -> None:
    if not _STREAM_NAME.match(value):
        raise ValueError(
            f"stream must be a non-empty name of letters, digits, _ and - (got {value[:60]!r})"
        )


def _check_exchange(_inst: object, attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        _check_name(_inst, attr, value)


def _url_repr(url: str) -> str:
    return repr(redacted_url(url))


_positive_int = attrs.validators.gt(0)
_positive = attrs.validators.gt(0.0)


@attrs.define(kw_only=True)
class WorkerSettings:
    """The ``[worker]`` table (docs/worker.md). Names mean the same on both brokers:
    on RabbitMQ ``subject_in`` is the input queue, ``subject_out`` and ``dead_letter``
    routing keys (on ``exchange``, or the default exchange when it is unset)."""

    url: str = attrs.field(validator=_check_url, repr=_url_repr)
    stream: str = attrs.field(default="MODERATION", validator=_check_stream)
    subject_in: str = attrs.field(default="moderation.in", validator=_check_name)
    subject_out: str = attrs.field(default="moderation.out", validator=_check_name)
    durable: str = attrs.field(default="moderation-worker", validator=_check_name)
    dead_letter: str = attrs.field(default="moderation.dead", validator=_check_name)
    exchange: str | None = attrs.field(default=None, validator=_check_exchange)
    # How many messages one worker holds at once: all of them are checked concurrently,
    # which is what fills the Moderator's vendor batches.
    in_flight: int = attrs.field(default=256, validator=_positive_int)
    batch: int = attrs.field(default=64, validator=_positive_int)  # per fetch
    # Seconds the broker waits for an ack before redelivering. It must outlast a check
    # (the [moderation] deadline); long checks also send in-progress acks.
    ack_wait: float = attrs.field(default=60.0, validator=_positive)
    max_deliver: int = attrs.field(default=5, validator=_positive_int)
    max_message_bytes: int = attrs.field(default=262_144, validator=_positive_int)
    max_contents: int = attrs.field(default=100, validator=_positive_int)
    on_failure: OnFailure = "nak"
    nak_delay: float = attrs.field(default=5.0, validator=attrs.validators.ge(0.0))
    nak_max_delay: float = attrs.field(default=300.0, validator=attrs.validators.ge(0.0))
    # JetStream's Nats-Msg-Id window: a result published twice inside it is stored once.
    duplicate_window: float = attrs.field(default=120.0, validator=_positive)

    @property
    def broker(self) -> Literal["nats", "rabbitmq"]:
        scheme = self.url.partition("://")[0].lower()
        return "nats" if scheme in NATS_SCHEMES else "rabbitmq"

    @property
    def shown_url(self) -> str:
        return redacted_url(self.url)


_CONVERTER = make_config_converter()


def worker_settings(config: Config) -> WorkerSettings:
    """The checked ``[worker]`` table of ``config``; a ConfigError lists every problem."""
    where = config.where("worker")
    settings = structure_config(_CONVERTER, WorkerSettings, config.worker, where)
    problems: list[str] = []
    deadline = config.moderation.deadline
    if settings.ack_wait <= deadline:
        problems.append(
            f"{where}: ack_wait ({settings.ack_wait:g} s) must be longer than [moderation] "
            f"deadline ({deadline:g} s), or the broker redelivers a message still being "
            "checked; raise ack_wait or lower deadline"
        )
    if settings.on_failure == "fail_mode" and config.moderation.fail_mode == "raise":
        problems.append(
            f'{where}: on_failure = "fail_mode" publishes the [moderation] fail_mode outcome '
            'when every provider fails, but fail_mode is "raise"; set [moderation] fail_mode '
            '= "allow", "review" or "block", or on_failure = "nak"'
        )
    if settings.nak_max_delay < settings.nak_delay:
        problems.append(
            f"{where}: nak_max_delay ({settings.nak_max_delay:g} s) must be at least "
            f"nak_delay ({settings.nak_delay:g} s)"
        )
    names = {
        "subject_in": settings.subject_in,
        "subject_out": settings.subject_out,
        "dead_letter": settings.dead_letter,
    }
    if len(set(names.values())) < len(names):
        problems.append(
            f"{where}: subject_in, subject_out and dead_letter must be three different names "
            f"(got {', '.join(f'{k} = {v!r}' for k, v in names.items())})"
        )
    if problems:
        raise config_error(problems)
    return settings
