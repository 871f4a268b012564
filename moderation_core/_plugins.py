"""Plugins: one name (``moderation_core``) for the project, the hook markers and the
entry-point group. Built-in providers register through the same hook as any third
party. The plugin manager comes from a factory; nothing is loaded at import time.

Set ``MODERATION_CORE_BLOCK_PLUGINS`` to a comma-separated list of entry-point names
to keep those plugins from loading (``*`` blocks every entry-point plugin).

A hook implementation pluggy cannot match to a hook (a misspelled name, a wrong
argument) is a ConfigError naming the plugin and the hook: at ``make_plugin_manager``
for entry points, at ``register_plugin`` for a plugin registered by hand, and again
when a ``Moderator`` reads the registry (for one registered with ``pm.register``).
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pluggy

from ._errors import ConfigError
from ._model import CheckContext, Content, Outcome, Verdict, WebhookEvent
from ._provider import Provider

__all__ = [
    "BLOCK_ENV",
    "PROJECT",
    "ProviderRegistry",
    "check_plugins",
    "default_plugin_manager",
    "hookimpl",
    "hookspec",
    "make_plugin_manager",
    "provider_registry",
    "register_plugin",
    "shared_state_hook",
]

PROJECT = "moderation_core"
BLOCK_ENV = "MODERATION_CORE_BLOCK_PLUGINS"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ProviderRegistry:
    """Provider classes by their ``provider_type`` (the config's ``type``). Handed to
    ``register_providers``."""

    def __init__(self) -> None:
        self._by_type: dict[str, type[Provider[Any]]] = {}
        self._origin: dict[str, str] = {}

    def add(self, provider_class: type[Provider[Any]], *, origin: str | None = None) -> None:
        """Register a provider class under its ``provider_type``; a second class for one
        type is a ConfigError naming both."""
        if not (isinstance(provider_class, type) and issubclass(provider_class, Provider)):
            raise TypeError(f"{provider_class!r} is not a moderation_core Provider subclass")
        kind = provider_class.provider_type
        where = origin or provider_class.__module__
        existing = self._by_type.get(kind)
        if existing is not None and existing is not provider_class:
            raise ConfigError(
                f"provider type {kind!r} is registered twice: by {self._origin[kind]} "
                f"and by {where}"
            )
        self._by_type[kind] = provider_class
        self._origin[kind] = where

    def get(self, kind: str) -> type[Provider[Any]]:
        try:
            return self._by_type[kind]
        except KeyError:
            known = ", ".join(sorted(self._by_type)) or "none"
            raise ConfigError(f"unknown provider type {kind!r}; installed types: {known}") from None

    def __contains__(self, kind: object) -> bool:
        return kind in self._by_type

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_type))

    def __len__(self) -> int:
        return len(self._by_type)


class HookSpecs:
    """The hooks a plugin may implement (all take keyword arguments)."""

    @hookspec
    def register_providers(self, registry: ProviderRegistry) -> None:
        """Add provider classes: ``registry.add(MyProvider)``."""

    @hookspec
    def check_finished(self, content: Content, verdict: Verdict, context: CheckContext) -> None:
        """Observe each finished check (audit log, metrics). Called once per content,
        after the verdict is final; must not raise."""

    @hookspec
    def shadow_disagreement(
        self, content: Content, verdict: Verdict, shadow: Verdict, context: CheckContext
    ) -> None:
        """With ``strategy = "shadow"``: a provider running in the background
        (``shadow.provider``) disagreed, in decision or label, with the one that
        decided (``verdict.provider``). Called from a background thread (Moderator) or
        task (AsyncModerator); must not raise."""

    @hookspec(firstresult=True)
    def policy_rule(
        self, content: Content, verdict: Verdict, context: CheckContext
    ) -> Outcome | None:
        """Your own policy rule, in ``evaluate``: return an ``Outcome`` to decide this
        content, or None to leave it to the ``[policy]`` rules (the first answer wins).
        Runs once per content after a provider answered, before allowed_terms,
        thresholds and actions; not for trusted or muted senders, blocked terms, nor
        when every provider failed and ``on_failure`` decides (docs/policy.md)."""

    @hookspec
    def shared_state_changed(self, healthy: bool, reason: str) -> None:
        """With ``redis_url``: Redis stopped answering (``healthy`` False; limits,
        breakers, mutes and context are per process meanwhile) or answers again
        (True). Called once per change, from the call that noticed it, with a
        secret-free ``reason``; for metrics and alerts; must not raise."""

    @hookspec
    def check_completed(self, check_id: str, verdict: Verdict, event: WebhookEvent) -> None:
        """With a ``[store]``, in ``moderation serve``: a check that answered PENDING
        (audio, video) turned final when the vendor's callback ``event`` came; ``verdict``
        is its final verdict (``verdict.check_id == check_id``). Called once, by the
        worker that completed it, after the store committed; must not raise. For what
        must not be missed, use the signed webhook (docs/store.md)."""


def make_plugin_manager(*, load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A fresh plugin manager with the hook specs, and (unless told not to) every
    plugin installed under the ``moderation_core`` entry-point group, minus any blocked
    by ``MODERATION_CORE_BLOCK_PLUGINS``."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HookSpecs)
    if load_entrypoints:
        blocked = [n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()]
        if "*" not in blocked:
            for name in blocked:
                pm.set_blocked(name)
            try:
                pm.load_setuptools_entrypoints(PROJECT)
            except pluggy.PluginValidationError as exc:  # a hook with the wrong arguments
                raise ConfigError(f"plugin {_label(exc.plugin)}: {exc}") from None
    check_plugins(pm)
    return pm


def register_plugin(pm: pluggy.PluginManager, plugin: object, name: str | None = None) -> None:
    """Register a plugin object (a module or an instance with ``@hookimpl`` methods)
    by hand, as tests do; a hook pluggy cannot match is a ConfigError and leaves the
    plugin unregistered."""
    try:
        pm.register(plugin, name)
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin {name or _label(plugin)}: {exc}") from None
    try:
        check_plugins(pm)
    except ConfigError:
        pm.unregister(plugin)
        raise


def _label(plugin: object) -> str:
    """A module by its name, anything else by its class's."""
    return str(getattr(plugin, "__name__", type(plugin).__name__))


def check_plugins(pm: pluggy.PluginManager) -> None:
    """``check_pending`` worded for the user: every implementation of a hook that does
    not exist, with the nearest real hook name, in one ConfigError."""
    known = [n for n in vars(HookSpecs) if not n.startswith("_")]
    problems = []
    for hook_name, caller in vars(pm.hook).items():
        if hook_name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            nearest = difflib.get_close_matches(hook_name, known, n=1)
            hint = f" (did you mean {nearest[0]}?)" if nearest else ""
            problems.append(f"plugin {_label(impl.plugin)}: unknown hook {hook_name!r}{hint}")
    if problems:
        raise ConfigError("; ".join(problems))


@functools.cache
def default_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, made on first use (entry-point discovery costs tens of
    milliseconds, so it happens once per process)."""
    return make_plugin_manager()


def shared_state_hook(pm: pluggy.PluginManager) -> Callable[[bool, str], None]:
    """The ``shared_state_changed`` hook as the plain callback ``SharedRedis`` takes."""
    hook = pm.hook.shared_state_changed

    def report(healthy: bool, reason: str) -> None:
        hook(healthy=healthy, reason=reason)

    return report


def provider_registry(pm: pluggy.PluginManager) -> ProviderRegistry:
    """Ask every plugin to register its providers (after checking every plugin's
    hooks exist, so one registered with a bare ``pm.register`` is checked too)."""
    check_plugins(pm)
    registry = ProviderRegistry()
    pm.hook.register_providers(registry=registry)
    return registry
