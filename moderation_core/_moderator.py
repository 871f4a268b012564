"""Moderator and AsyncModerator: one API over every configured provider.

Everything that does no IO lives in ``_BaseModerator``: building providers from
config, validating contents, choosing which provider gets which content, chunking to
batch limits, fallback on errors, masking, and the finished-check hook. The router is
itself a generator (it yields lists of jobs and receives their outcomes), so the sync
class runs jobs one after another and the async class runs them concurrently, and the
routing logic exists once.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Generator, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, Self, overload

import attrs
import httpx
import pluggy

from ._config import DEFAULT_CONFIG, Config, load_config
from ._drivers import run_async, run_sync
from ._errors import (
    AllProvidersFailed,
    ConfigError,
    InvalidContent,
    ModerationError,
    ProviderError,
)
from ._masking import mask_keywords
from ._model import CheckContext, Content, ContentType, Decision, Label, Verdict, _text_content
from ._plugins import default_plugin_manager, provider_registry
from ._provider import ItemResult, Provider

__all__ = ["AsyncModerator", "Moderator"]

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | Config
CheckInput = Content | str

_FAIL_DECISIONS = {"allow": Decision.PASS, "review": Decision.REVIEW, "block": Decision.BLOCK}


@attrs.define(slots=True)
class _Job:
    """Some contents for one provider's flow, and where they sit in the caller's list."""

    provider: Provider[Any]
    indexes: list[int]
    contents: list[Content]


_Outcome = list[ItemResult] | ProviderError
_Route = Generator[list[_Job], list[_Outcome], list[Verdict | ModerationError]]


class _BaseModerator:
    def __init__(
        self,
        config: ConfigSource | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = load_config(DEFAULT_CONFIG if config is None else config)
        self._pm = plugin_manager if plugin_manager is not None else default_plugin_manager()
        self._transport = transport
        registry = provider_registry(self._pm)
        providers: list[Provider[Any]] = []
        for name in self.config.order:
            table = self.config.providers[name]
            where = self.config.where("providers", name)
            try:
                provider_class = registry.get(str(table["type"]))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            providers.append(
                provider_class.from_config(name, table, where, base_dir=self.config.base_dir)
            )
        self._providers: tuple[Provider[Any], ...] = tuple(providers)
        # Types some provider takes whatever their size: no per-item check needed.
        self._unlimited_types = frozenset(
            kind
            for p in self._providers
            for kind in p.capabilities.content_types
            if kind is not ContentType.TEXT or p.capabilities.max_text_bytes is None
        )
        self._finished_hook = self._pm.hook.check_finished

    @classmethod
    def from_config(cls, source: ConfigSource, **kwargs: Any) -> Self:
        """Build from a TOML path or a dict shaped like the TOML (see docs/config.md)."""
        return cls(source, **kwargs)

    @property
    def providers(self) -> tuple[Provider[Any], ...]:
        """The configured providers, in priority order."""
        return self._providers

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self._providers)
        return f"<{type(self).__name__} providers=[{names}] from {self.config.source}>"

    # -- everything below does no IO ------------------------------------------------

    def _prepare(self, items: Iterable[CheckInput]) -> list[Content]:
        """Contents from the caller's items, each accepted by some provider, or
        InvalidContent naming the first item that is not (before any request)."""
        items = items if isinstance(items, list | tuple) else list(items)
        try:
            contents = [
                _text_content(item) if type(item) is str else Content.coerce(item) for item in items
            ]
        except InvalidContent:
            for index, item in enumerate(items):
                try:
                    Content.coerce(item)
                except InvalidContent as exc:
                    raise InvalidContent(f"item {index}: {exc}") from None
            raise
        unlimited = self._unlimited_types
        for index, content in enumerate(contents):
            if content.type in unlimited:
                continue
            if not any(p.capabilities.accepts(content) for p in self._providers):
                raise InvalidContent(f"item {index}: {self._why_unaccepted(content)}")
        return contents

    def _why_unaccepted(self, content: Content) -> str:
        takers = [p for p in self._providers if content.type in p.capabilities.content_types]
        if not takers:
            offered = "; ".join(
                f"{p.name}: {', '.join(sorted(t.value for t in p.capabilities.content_types))}"
                for p in self._providers
            )
            return f"no configured provider accepts {content.type.value} content ({offered})"
        size = len(content.value.encode())
        limits = ", ".join(f"{p.name}: {p.capabilities.max_text_bytes}" for p in takers)
        return f"text of {size} UTF-8 bytes is over every provider's limit ({limits} bytes)"

    @staticmethod
    def _accepted(
        provider: Provider[Any], indexes: list[int], contents: list[Content]
    ) -> list[int]:
        caps = provider.capabilities
        if caps.max_text_bytes is None:
            types = caps.content_types
            return [i for i in indexes if contents[i].type in types]
        return [i for i in indexes if caps.accepts(contents[i])]

    @staticmethod
    def _jobs_for(
        provider: Provider[Any], indexes: list[int], contents: list[Content]
    ) -> list[_Job]:
        """Split one provider's contents into calls: batchable types in chunks of its
        batch size, every other content alone."""
        caps = provider.capabilities
        size = caps.batch_size
        if size > 1:
            batch_types = caps.batch_types
            batched = [i for i in indexes if contents[i].type in batch_types]
        else:
            batched = []
        jobs = []
        for start in range(0, len(batched), size):
            chunk = batched[start : start + size]
            jobs.append(_Job(provider, chunk, [contents[i] for i in chunk]))
        if len(batched) != len(indexes):
            alone = set(indexes).difference(batched)
            jobs.extend(_Job(provider, [i], [contents[i]]) for i in indexes if i in alone)
        return jobs

    def _pick(self, only: Iterable[str] | None) -> tuple[Provider[Any], ...]:
        if only is None:
            return self._providers
        wanted = set(only)
        picked = tuple(p for p in self._providers if p.name in wanted)
        missing = wanted.difference(p.name for p in picked)
        if missing:
            raise ConfigError(f"no configured provider named {', '.join(sorted(missing))}")
        return picked

    def _route(
        self,
        contents: list[Content],
        context: CheckContext,
        providers: tuple[Provider[Any], ...] | None = None,
    ) -> _Route:
        """Fallback routing: each content goes to the first provider that accepts it
        and moves on only when that provider fails (never because of a verdict)."""
        results: list[Verdict | None] = [None] * len(contents)
        errors: dict[int, list[ProviderError]] = {}
        unresolved = list(range(len(contents)))
        for provider in providers or self._providers:
            todo = self._accepted(provider, unresolved, contents)
            if not todo:
                continue
            jobs = self._jobs_for(provider, todo, contents)
            outcomes = yield jobs
            for job, outcome in zip(jobs, outcomes, strict=True):
                if isinstance(outcome, ProviderError):
                    for i in job.indexes:
                        errors.setdefault(i, []).append(outcome)
                    continue
                for i, result in zip(job.indexes, outcome, strict=True):
                    if isinstance(result, Verdict):
                        results[i] = self._finish(contents[i], result)
                    else:
                        errors.setdefault(i, []).append(result)
            unresolved = [i for i in unresolved if results[i] is None]
            if not unresolved:
                break
        final: list[Verdict | ModerationError] = []
        for i, verdict in enumerate(results):
            final.append(verdict if verdict is not None else self._all_failed(errors[i]))
        if self._finished_hook.get_hookimpls():
            for content, item in zip(contents, final, strict=True):
                if isinstance(item, Verdict):
                    self._finished_hook(content=content, verdict=item, context=context)
        return final

    @staticmethod
    def _finish(content: Content, verdict: Verdict) -> Verdict:
        if not verdict.keywords and verdict.content_id == content.id:
            return verdict
        changes: dict[str, Any] = {}
        if verdict.content_id != content.id:
            changes["content_id"] = content.id
        if verdict.keywords and verdict.masked_text is None and content.type is ContentType.TEXT:
            changes["masked_text"] = mask_keywords(content.value, verdict.keywords)
        return attrs.evolve(verdict, **changes) if changes else verdict

    def _all_failed(self, errors: list[ProviderError]) -> Verdict | ModerationError:
        tried = ", ".join(f"{e.provider}: {type(e).__name__}" for e in errors)
        failure = AllProvidersFailed(f"every provider failed ({tried})", errors)
        decision = _FAIL_DECISIONS.get(self.config.moderation.fail_mode)
        if decision is None:
            return failure
        return Verdict(
            decision=decision,
            label=Label.UNKNOWN,
            fallback=True,
            errors=tuple(errors),
        )

    @staticmethod
    def _single(results: list[Verdict | ModerationError]) -> Verdict:
        (result,) = results
        if isinstance(result, ModerationError):
            raise result
        return result

    @staticmethod
    def _many(
        results: list[Verdict | ModerationError], return_exceptions: bool
    ) -> list[Verdict | ModerationError]:
        if not return_exceptions:
            failed = [r for r in results if isinstance(r, ModerationError)]
            if failed:
                raise failed[0]
        return results


class Moderator(_BaseModerator):
    """Check contents against the configured providers, blocking.

    ``Moderator()`` with no config uses the offline local engine alone.
    """

    def __init__(
        self,
        config: ConfigSource | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(config, plugin_manager=plugin_manager, transport=transport)
        self._clients: dict[str, httpx.Client] = {}
        self._auth_locks = {p.name: threading.Lock() for p in self._providers}

    def check(
        self,
        item: CheckInput,
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
    ) -> Verdict:
        """Check one text (a str) or Content; raises AllProvidersFailed if no provider
        could answer (unless ``fail_mode`` says otherwise)."""
        context = CheckContext(scene, sender, receiver)
        return self._single(self._run(self._route(self._prepare((item,)), context), context))

    @overload
    def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[False] = ...,
    ) -> list[Verdict]: ...
    @overload
    def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[True],
    ) -> list[Verdict | ModerationError]: ...
    def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
        return_exceptions: bool = False,
    ) -> list[Verdict] | list[Verdict | ModerationError]:
        """One Verdict per input, in input order, whatever the vendors' batch limits.
        With ``return_exceptions=True`` an item no provider could check holds its error
        instead of raising it."""
        context = CheckContext(scene, sender, receiver)
        results = self._run(self._route(self._prepare(items), context), context)
        return self._many(results, return_exceptions)

    def _check_with(self, only: Iterable[str], item: CheckInput, context: CheckContext) -> Verdict:
        """``check`` restricted to the named providers (for policy's own checks, such
        as the merged context, which go to the local engine by default)."""
        providers = self._pick(only)
        return self._single(
            self._run(self._route(self._prepare((item,)), context, providers), context)
        )

    def _run(self, route: _Route, context: CheckContext) -> list[Verdict | ModerationError]:
        try:
            jobs = next(route)
            while True:
                jobs = route.send([self._run_job(job, context) for job in jobs])
        except StopIteration as done:
            final: list[Verdict | ModerationError] = done.value
            return final

    def _run_job(self, job: _Job, context: CheckContext) -> _Outcome:
        provider = job.provider
        try:
            return run_sync(
                provider,
                job.contents,
                context,
                self._client(provider) if provider.uses_http else None,
                self._auth_locks[provider.name],
            )
        except ProviderError as exc:
            return exc

    def _client(self, provider: Provider[Any]) -> httpx.Client:
        client = self._clients.get(provider.name)
        if client is None:
            transport = (
                self._transport if isinstance(self._transport, httpx.BaseTransport) else None
            )
            client = httpx.Client(timeout=provider.timeout, transport=transport)
            self._clients[provider.name] = client
        return client

    def close(self) -> None:
        """Close every HTTP connection and provider."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for provider in self._providers:
            provider.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncModerator(_BaseModerator):
    """The same API as ``Moderator``, awaitable; jobs for different providers or
    batches run concurrently."""

    def __init__(
        self,
        config: ConfigSource | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, plugin_manager=plugin_manager, transport=transport)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._auth_locks = {p.name: asyncio.Lock() for p in self._providers}

    async def check(
        self,
        item: CheckInput,
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
    ) -> Verdict:
        """Check one text (a str) or Content; raises AllProvidersFailed if no provider
        could answer (unless ``fail_mode`` says otherwise)."""
        context = CheckContext(scene, sender, receiver)
        route = self._route(self._prepare((item,)), context)
        return self._single(await self._run(route, context))

    @overload
    async def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[False] = ...,
    ) -> list[Verdict]: ...
    @overload
    async def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[True],
    ) -> list[Verdict | ModerationError]: ...
    async def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
        return_exceptions: bool = False,
    ) -> list[Verdict] | list[Verdict | ModerationError]:
        """One Verdict per input, in input order, whatever the vendors' batch limits.
        With ``return_exceptions=True`` an item no provider could check holds its error
        instead of raising it."""
        context = CheckContext(scene, sender, receiver)
        results = await self._run(self._route(self._prepare(items), context), context)
        return self._many(results, return_exceptions)

    async def _check_with(
        self, only: Iterable[str], item: CheckInput, context: CheckContext
    ) -> Verdict:
        """``check`` restricted to the named providers."""
        providers = self._pick(only)
        route = self._route(self._prepare((item,)), context, providers)
        return self._single(await self._run(route, context))

    async def _run(self, route: _Route, context: CheckContext) -> list[Verdict | ModerationError]:
        try:
            jobs = next(route)
            while True:
                if len(jobs) == 1:
                    outcomes = [await self._run_job(jobs[0], context)]
                else:
                    outcomes = list(
                        await asyncio.gather(*(self._run_job(job, context) for job in jobs))
                    )
                jobs = route.send(outcomes)
        except StopIteration as done:
            final: list[Verdict | ModerationError] = done.value
            return final

    async def _run_job(self, job: _Job, context: CheckContext) -> _Outcome:
        provider = job.provider
        try:
            return await run_async(
                provider,
                job.contents,
                context,
                self._client(provider) if provider.uses_http else None,
                self._auth_locks[provider.name],
            )
        except ProviderError as exc:
            return exc

    def _client(self, provider: Provider[Any]) -> httpx.AsyncClient:
        client = self._clients.get(provider.name)
        if client is None:
            transport = (
                self._transport if isinstance(self._transport, httpx.AsyncBaseTransport) else None
            )
            client = httpx.AsyncClient(timeout=provider.timeout, transport=transport)
            self._clients[provider.name] = client
        return client

    async def close(self) -> None:
        """Close every HTTP connection and provider."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        for provider in self._providers:
            provider.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
