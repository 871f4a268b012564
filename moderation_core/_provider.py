"""What a provider is: capabilities, config, and a sans-IO ``flow``.

A provider never performs IO. ``flow`` is a generator that yields ``httpx.Request``
objects and receives the ``httpx.Response`` for each (token fetch, signature refresh,
retry after 401 included) and finally returns one ``Verdict`` or ``ProviderError`` per
content, in order. The core drives every flow with exactly one sync and one async
loop (``_drivers``), so no provider writes its logic twice.
"""

from __future__ import annotations

import abc
import builtins
import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import attrs
import cattrs
import httpx

from ._config import check_http_url, make_config_converter, structure_config
from ._errors import ProviderError
from ._model import CheckContext, Content, ContentType, Verdict
from ._resilience import BreakerSettings

__all__ = [
    "AuthFlow",
    "Capabilities",
    "Emulator",
    "Flow",
    "HttpProviderConfig",
    "ItemResult",
    "Provider",
    "StaleCredentials",
]

ItemResult = Verdict | ProviderError
Flow = Generator[httpx.Request, httpx.Response, list[ItemResult]]
AuthFlow = Generator[httpx.Request, httpx.Response, None]


class StaleCredentials(Exception):
    """Raised by a check flow when the vendor refused a credential the provider had
    cached (an expired app token). The provider forgets the credential first; the
    driver then fetches a new one through ``auth_flow`` and runs the check once more."""

    def __init__(self, message: str, *, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code


Emulator = Callable[[httpx.Request], httpx.Response]

ALL_TYPES = frozenset(ContentType)


@attrs.frozen
class Capabilities:
    """What a provider accepts, so the router can route without asking it.

    - ``content_types``: the types it can check at all.
    - ``batch_size``: at most this many contents in one ``flow`` call.
    - ``batch_types``: the types that may share a call with others; any other type is
      sent alone (e.g. Tencent's batch endpoint takes only Text and Image).
    - ``max_text_bytes``: per-item limit in UTF-8 bytes for text, None for no limit.
    - ``deferred_types``: types whose result arrives later by webhook (Verdict PENDING).
    """

    content_types: frozenset[ContentType] = ALL_TYPES
    batch_size: int = 1
    batch_types: frozenset[ContentType] = frozenset()
    max_text_bytes: int | None = None
    deferred_types: frozenset[ContentType] = frozenset()

    def accepts(self, content: Content) -> bool:
        if content.type not in self.content_types:
            return False
        if self.max_text_bytes is not None and content.type is ContentType.TEXT:
            # Cheap bound first: a str of n code points is at most 4n bytes.
            value = content.value
            if len(value) * 4 > self.max_text_bytes:
                return len(value.encode()) <= self.max_text_bytes
        return True


def _check_base_url(_inst: object, _attr: object, value: str | None) -> None:
    # Checked at load: httpx would otherwise refuse it at the first check, as a crash.
    check_http_url("base_url", value)


@attrs.define(kw_only=True)
class HttpProviderConfig:
    """Keys every HTTP provider accepts besides its own. Every number is finite (the
    config converter refuses inf and nan).

    A config class may define ``advice() -> Iterable[str]``: settings that are allowed
    but unwise; ``Provider.from_config`` logs each as a WARNING naming the provider."""

    type: str
    base_url: str | None = attrs.field(default=None, validator=_check_base_url)
    timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    rate_limit: float | None = attrs.field(  # 0 or None: no limit
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    retries: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    rate_burst: int | None = attrs.field(  # back-to-back requests; None: 2
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    max_wait: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    max_in_flight: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    breaker: BreakerSettings = attrs.field(factory=BreakerSettings)


ConfigT = TypeVar("ConfigT")


def _log_advice(provider_class: builtins.type[Any], name: str, config: object) -> None:
    advice = getattr(config, "advice", None)
    if not callable(advice):
        return
    log = logging.getLogger(provider_class.__module__.partition(".")[0])
    for note in advice():
        log.warning("provider %s: %s", name, note)


class Provider(abc.ABC, Generic[ConfigT]):
    """Base class of every provider, built-in or plugin.

    Subclasses set ``type`` (the config's ``type = "..."``), ``config_class`` (an attrs
    class structured from the provider's config table with unknown keys refused) and
    implement ``flow``. ``emulator`` optionally names a factory of a fake vendor, which
    ``moderation emulate TYPE`` serves over HTTP.
    """

    type: ClassVar[str]
    config_class: ClassVar[builtins.type[Any]]
    description: ClassVar[str] = ""
    emulator: ClassVar[Callable[..., Emulator] | None] = None
    # Query parameters that carry a credential (e.g. Tencent's "usersig"): the core
    # rewrites their values in httpx's log lines.
    secret_query_params: ClassVar[tuple[str, ...]] = ()

    config_converter: ClassVar[cattrs.Converter] = make_config_converter()

    def __init__(self, name: str, config: ConfigT) -> None:
        self.name = name
        self.config = config

    @classmethod
    def from_config(
        cls, name: str, table: Mapping[str, Any], where: str, *, base_dir: Path | None = None
    ) -> Self:
        """Build from the provider's config table; unknown keys are a ConfigError.
        ``where`` locates the table for messages; ``base_dir`` is where relative paths
        in it start (the config file's folder)."""
        config = structure_config(cls.config_converter, cls.config_class, table, where)
        _log_advice(cls, name, config)
        return cls(name, config)

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abc.abstractmethod
    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        """Yield requests, receive responses, return one result per content in order."""

    def auth_flow(self) -> AuthFlow | None:
        """A flow that fetches and stores a credential, or None when the cached one is
        good. Called before each check; the driver runs it under a per-provider lock
        and asks again inside the lock, so concurrent checks share one fetch."""
        return None

    @property
    def uses_http(self) -> bool:
        """False for providers that never yield a request (no HTTP client is made)."""
        return True

    @property
    def base_url(self) -> str | None:
        """Where requests go, for the HTTP client; None lets each request carry its own."""
        return None

    @property
    def timeout(self) -> float:
        return float(getattr(self.config, "timeout", 10.0))

    def describe(self) -> Mapping[str, Any]:
        """What ``moderation providers`` shows; never secrets."""
        caps = self.capabilities
        return {
            "name": self.name,
            "type": self.type,
            "content_types": sorted(t.value for t in caps.content_types),
            "batch_size": caps.batch_size,
            "max_text_bytes": caps.max_text_bytes,
            "deferred_types": sorted(t.value for t in caps.deferred_types),
        }

    def close(self) -> None:
        """Release anything the provider holds (it holds no connections: the core does)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} type={self.type!r}>"
