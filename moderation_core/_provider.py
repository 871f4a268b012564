"""What a provider is: capabilities, config, and a sans-IO ``flow``.

A provider never performs IO. ``flow`` is a generator that yields ``httpx.Request``
objects and receives the ``httpx.Response`` for each (token fetch, signature refresh,
retry after 401 included) and finally returns one ``Verdict`` or ``ProviderError`` per
content, in order. The core drives every flow with one step plan (``_drivers``), which
its ``_steps`` runners run blocking for ``Moderator`` or awaited for
``AsyncModerator``, so no provider writes its logic twice.
"""

from __future__ import annotations

import abc
import email.utils
import functools
import inspect
import logging
import math
import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import attrs
import cattrs
import httpx

from ._config import check_http_url, config_error, make_config_converter, structure_config
from ._errors import AuthError, ProviderError, ProviderUnavailable, RateLimited
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
    "raise_for_status",
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
    - ``max_text_chars``: per-item limit in code points for text (``len(str)``), None
      for no limit; for vendors that count characters, not bytes. Long text is split
      by whichever limit is tighter.
    """

    content_types: frozenset[ContentType] = ALL_TYPES
    batch_size: int = 1
    batch_types: frozenset[ContentType] = frozenset()
    max_text_bytes: int | None = None
    deferred_types: frozenset[ContentType] = frozenset()
    # Last, so positional construction of the fields above keeps its meaning.
    max_text_chars: int | None = None

    def accepts(self, content: Content) -> bool:
        if content.type not in self.content_types:
            return False
        if content.type is not ContentType.TEXT:
            return True
        value = content.value
        if self.max_text_chars is not None and len(value) > self.max_text_chars:
            return False
        if self.max_text_bytes is not None and len(value) * 4 > self.max_text_bytes:
            # Cheap bound first: a str of n code points is at most 4n bytes.
            return len(value.encode()) <= self.max_text_bytes
        return True


def _check_base_url(_inst: object, _attr: object, value: str | None) -> None:
    # Checked at load: httpx would otherwise refuse it at the first check, as a crash.
    check_http_url("base_url", value)


@attrs.define(kw_only=True)
class HttpProviderConfig:
    """Keys every HTTP provider accepts besides its own. Every number is finite (the
    config converter refuses inf and nan). The core gives a provider whose config is
    one of these an HTTP client, a rate limiter, retries and a circuit breaker.

    Validation: an attrs validator per field (each reported on its own), and
    ``problems()`` for checks across fields; ``advice()`` for settings that are
    allowed but unwise (logged as WARNINGs naming the provider)."""

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
    max_in_flight: int | None = attrs.field(  # None: derived from rate_limit and latency
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    breaker: BreakerSettings = attrs.field(factory=BreakerSettings)

    def problems(self) -> list[str]:
        """Problems across fields, one sentence each naming its keys; every one is
        reported in one ConfigError. Extend with ``[*super().problems(), ...]``."""
        return []

    def advice(self) -> list[str]:
        """Settings that are allowed but unwise, one sentence each; each is logged as a
        WARNING naming the provider when it is built."""
        return []


def raise_for_status(response: httpx.Response) -> None:
    """Raise the typed error for an HTTP error status, or return for any other: 401 and
    403 ``AuthError``, 429 ``RateLimited`` (``retry_after`` from its Retry-After), 408
    and 5xx ``ProviderUnavailable``, any other 4xx ``ProviderError``; ``code`` is the
    status. Never quotes the body, which may echo a credential. A provider that
    refreshes a token checks for its vendor's stale-token answer first."""
    status = response.status_code
    if status < 400:
        return
    message = f"the vendor answered HTTP {status} {response.reason_phrase}".rstrip()
    if status in (401, 403):
        raise AuthError(message, code=status)
    if status == 429:
        raise RateLimited(message, code=status, retry_after=_retry_after(response))
    if status == 408 or status >= 500:
        raise ProviderUnavailable(message, code=status)
    raise ProviderError(message, code=status)


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


ConfigT = TypeVar("ConfigT")

# A provider's config type: the config's ``type = "..."``, and its plugin entry point.
_PROVIDER_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@functools.cache
def _config_converter(provider_class: type[Any]) -> cattrs.Converter:
    # One converter per provider class, made by the core and never handed out, so no
    # plugin can change how another's config is read.
    return make_config_converter()


def _config_problems(config: object, where: str) -> None:
    """Raise one ConfigError holding every problem the config's ``problems()`` finds."""
    problems = getattr(config, "problems", None)
    found = [str(p) for p in problems()] if callable(problems) else []
    if found:
        raise config_error([f"{where}: {problem}" for problem in found])


def _log_advice(provider_class: type[Any], name: str, config: object) -> None:
    advice = getattr(config, "advice", None)
    if not callable(advice):
        return
    log = logging.getLogger(provider_class.__module__.partition(".")[0])
    for note in advice():
        log.warning("provider %s: %s", name, note)


def _class_problems(cls: type[Any]) -> list[str]:
    """What a concrete provider class must set, worded for its author."""
    problems = []
    kind = getattr(cls, "provider_type", None)
    if not isinstance(kind, str) or not _PROVIDER_TYPE.fullmatch(kind):
        problems.append(
            "provider_type must be the config's type = \"...\" (letters, digits, '_', '.', "
            f"'-'), got {kind!r}"
        )
    config_class = getattr(cls, "config_class", None)
    if not (isinstance(config_class, type) and attrs.has(config_class)):
        problems.append(f"config_class must be an attrs class, got {config_class!r}")
    if not isinstance(cls.description, str):
        problems.append(f"description must be a str, got {cls.description!r}")
    if cls.emulator_factory is not None and not callable(cls.emulator_factory):
        problems.append(f"emulator_factory must be callable or None, got {cls.emulator_factory!r}")
    params = cls.secret_query_params
    if not (isinstance(params, tuple) and all(isinstance(p, str) for p in params)):
        problems.append(f"secret_query_params must be a tuple of str, got {params!r}")
    return problems


# Names of the provider API before 1.0: a subclass setting one learns the new way.
_RENAMED = {
    "type": "type is now provider_type",
    "emulator": "emulator is now emulator_factory",
    "auth_flow": "auth_flow() is now needs_credentials() plus credentials_flow()",
    "config_converter": "config_converter is gone (the core structures each config class "
    "with a converter of its own)",
    "uses_http": "uses_http is gone (an HttpProviderConfig config means HTTP)",
}


def _no_credentials() -> AuthFlow:
    return
    yield  # a generator that yields nothing: no request needed


class Provider(abc.ABC, Generic[ConfigT]):
    """Base class of every provider, built-in or plugin (Provider API 1.0,
    docs/plugins.md).

    A concrete subclass sets ``provider_type`` (the config's ``type = "..."``) and
    ``config_class`` (an attrs class), and implements ``capabilities`` and ``flow``;
    both are checked when the class is defined. A base class meant to be subclassed
    further says so: ``class MyBase(Provider[C], abstract=True)``.
    """

    provider_type: ClassVar[str]
    config_class: ClassVar[type[Any]]
    description: ClassVar[str] = ""
    emulator_factory: ClassVar[Callable[..., Emulator] | None] = None
    # Query parameters that carry a credential (e.g. Tencent's "usersig"): the core
    # rewrites their values in httpx's log lines.
    secret_query_params: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        renamed = [change for old, change in _RENAMED.items() if old in own]
        if renamed:
            raise TypeError(
                f"provider class {cls.__qualname__}: Provider API 1.0 renamed "
                + "; ".join(renamed)
                + " (docs/changelog.md)"
            )
        factory = own.get("emulator_factory")
        if inspect.isfunction(factory):  # a plain function would bind to the instance
            cls.emulator_factory = staticmethod(factory)
        if abstract:
            return
        problems = _class_problems(cls)
        if problems:
            raise TypeError(
                f"provider class {cls.__qualname__}: "
                + "; ".join(problems)
                + " (a base class meant for further subclassing passes abstract=True)"
            )

    def __init__(self, name: str, config: ConfigT) -> None:
        _config_problems(config, f"[providers.{name}]")
        self.name = name
        self.config = config

    @classmethod
    def from_config(
        cls, name: str, table: Mapping[str, Any], where: str, *, base_dir: Path | None = None
    ) -> Self:
        """Build from the provider's config table, with every problem in one ConfigError.
        ``where`` locates the table for messages; ``base_dir`` is where relative paths
        in it start (the config file's folder)."""
        return cls(name, cls.read_config(name, table, where))

    @classmethod
    def read_config(cls, name: str, table: Mapping[str, Any], where: str) -> ConfigT:
        """The table structured into ``config_class``: unknown keys and each field's
        validator first, then the config's ``problems()``, each step's problems in one
        ConfigError; then ``advice()`` logged as WARNINGs naming the provider."""
        config: ConfigT = structure_config(_config_converter(cls), cls.config_class, table, where)
        _config_problems(config, where)
        _log_advice(cls, name, config)
        return config

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abc.abstractmethod
    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        """Yield requests, receive responses, return one result per content in order."""

    def needs_credentials(self) -> bool:
        """True when ``credentials_flow`` must run before the next check (no token
        cached, or it is about to expire). Cheap and side-effect free: the core asks
        before each check, and again under the provider's credentials lock."""
        return False

    def credentials_flow(self) -> AuthFlow:
        """Fetch a credential and cache it on the provider (yield requests, receive
        responses). The core runs it only after ``needs_credentials()`` said True, one
        at a time per provider, so concurrent checks share one fetch."""
        return _no_credentials()

    def describe(self) -> Mapping[str, Any]:
        """What ``moderation providers`` shows; never secrets."""
        caps = self.capabilities
        return {
            "name": self.name,
            "type": self.provider_type,
            "content_types": sorted(t.value for t in caps.content_types),
            "batch_size": caps.batch_size,
            "max_text_bytes": caps.max_text_bytes,
            "max_text_chars": caps.max_text_chars,
            "deferred_types": sorted(t.value for t in caps.deferred_types),
        }

    def close(self) -> None:
        """Release anything the provider holds (it holds no connections: the core does)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} type={self.provider_type!r}>"
