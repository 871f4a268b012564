"""Extension point for the IM pre-send hooks: ``/v1/hooks/NAME`` for each
``[serve.hooks.NAME]`` table.

``create_app`` calls ``hook_routes(state)`` once and mounts what it returns beside the
API; ``hook_openapi_paths()`` adds their OpenAPI path items to ``/openapi.json``. Routes
under ``/v1/hooks/`` are exempt from API keys (the platforms sign their callbacks), get
the ``max_body_bytes`` limit, ``X-Request-Id``, the access log and request metrics like
every route. A bad hook table is a ConfigError, which ``create_app`` lets through.

Which platforms exist is not written here: each platform's package registers its
adapter through the ``register_presend_hooks`` plugin hook (``_hooks_runner``), and
only the adapters of configured tables are built.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pluggy
from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation_core._config import Config, config_error, make_config_converter, structure_config
from moderation_core._errors import ConfigError
from moderation_core._plugins import default_plugin_manager
from moderation_core._replay import MemoryReplayCache, RedisReplayCache, ReplayCache

from ._hooks_runner import (
    HookEnvironment,
    HookForbidden,
    HookRunner,
    HookUnavailable,
    PreSendHook,
    ResultSink,
    presend_registry,
)
from ._metrics import Metrics
from ._problems import PROBLEM_MEDIA_TYPE, problem_response
from ._state import AppState

__all__ = [
    "HookMetrics",
    "build_hook_runners",
    "hook_openapi_paths",
    "hook_routes",
    "hook_settings",
]

# A hook answer is on the platform's send path: its buckets are finer than the API's.
_REDIS_TIMEOUT = 0.5  # seconds; on a timeout the cache answers from memory for a while
_HOOK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 1.5, 2, 5)


class HookMetrics:
    """The hooks' counters, in the app's registry (a ``HookObserver``)."""

    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.answers = Counter(
            "moderation_hook_answers",
            "Pre-send hook answers, by hook, answer (deliver, rewrite, reject, discard, "
            "ack, ignored, duplicate, orphaned, unreadable, forbidden, unavailable) and "
            "cause (policy, timeout, failed, invalid, empty, none).",
            ["hook", "answer", "cause"],
            registry=registry,
        )
        self.duration = Histogram(
            "moderation_hook_duration_seconds",
            "Time from reading a hook callback to its answer, by hook.",
            ["hook"],
            buckets=_HOOK_BUCKETS,
            registry=registry,
        )
        self.late_results = Counter(
            "moderation_hook_late_results",
            "Evaluations that finished after their hook's budget ran out (the platform "
            "already had the on_timeout answer), by hook and outcome.",
            ["hook", "outcome"],
            registry=registry,
        )

    def answered(self, hook: str, kind: str, cause: str, seconds: float) -> None:
        self.answers.labels(hook, kind, cause).inc()
        self.duration.labels(hook).observe(seconds)

    def late(self, hook: str, outcome: str, seconds: float) -> None:
        self.late_results.labels(hook, outcome).inc()


def hook_settings(
    config: Config, pm: pluggy.PluginManager
) -> dict[str, tuple[type[PreSendHook], Any]]:
    """Each ``[serve.hooks.NAME]`` table checked against its platform's adapter: the
    adapter class and the structured settings, by name; every problem in one
    ConfigError (``moderation config check`` can call this: no moderator needed)."""
    tables = config.serve.hooks
    if not tables:
        return {}
    registry = presend_registry(pm)
    converter = make_config_converter()
    checked: dict[str, tuple[type[PreSendHook], Any]] = {}
    problems: list[str] = []
    for name, table in tables.items():
        where = config.where("serve", "hooks", name)
        try:
            hook_class = registry.get(name, where)
            settings = structure_config(converter, hook_class.settings_class, table, where)
        except ConfigError as exc:
            problems.extend(getattr(exc, "problems", None) or (str(exc),))
            continue
        checked[name] = (hook_class, settings)
    if problems:
        raise config_error(problems)
    return checked


def build_hook_runners(
    state: AppState, observer: HookMetrics | None = None, results: ResultSink | None = None
) -> dict[str, HookRunner]:
    """A runner for each ``[serve.hooks.NAME]`` table (see ``hook_settings``);
    ``results`` records the vendors' moderation results (with a store)."""
    moderator = state.moderator
    # The app's own plugin manager, the one its moderator was built with.
    tables = hook_settings(state.config, state.plugin_manager)
    checked = frozenset(
        kind for provider in moderator.providers for kind in provider.capabilities.content_types
    )
    environment = HookEnvironment(checks=checked.__contains__)
    runners: dict[str, HookRunner] = {}
    for name, (hook_class, settings) in tables.items():
        replay = _replay_cache(state, hook_class.replay_ttl)
        hook = hook_class(settings, environment)
        runners[name] = HookRunner(hook, moderator, replay, observer=observer, results=results)
    return runners


def _replay_cache(state: AppState, ttl: float) -> ReplayCache:
    """In Redis when ``redis_url`` is set (every worker remembers what any one saw),
    with the core's short timeouts: a replay check must not eat a hook's budget."""
    redis_url = state.config.moderation.redis_url
    if redis_url is None:
        return MemoryReplayCache(ttl)
    import redis  # noqa: PLC0415 - only with redis_url

    client = redis.Redis.from_url(
        redis_url, socket_connect_timeout=_REDIS_TIMEOUT, socket_timeout=_REDIS_TIMEOUT
    )

    async def close() -> None:
        client.close()

    state.closers.append(close)
    return RedisReplayCache(client, ttl)


def hook_routes(state: AppState, results: ResultSink | None = None) -> list[BaseRoute]:
    metrics = HookMetrics(state.metrics) if state.settings.hooks else None
    runners = build_hook_runners(state, metrics, results)
    routes: list[BaseRoute] = []
    for name, runner in runners.items():
        routes.append(Route(f"/v1/hooks/{name}", _endpoint(runner, metrics), methods=["POST"]))
        state.before_close.append(runner.aclose)
    return routes


def _endpoint(
    runner: HookRunner, metrics: HookMetrics | None
) -> Callable[[Request], Awaitable[Response]]:
    async def hook(request: Request) -> Response:
        body = await request.body()
        try:
            reply = await runner.handle(runner.request(dict(request.query_params), body))
        except HookForbidden as exc:
            if metrics is not None:  # counted, but kept out of the answer-time histogram
                metrics.answers.labels(runner.name, "forbidden", "none").inc()
            return _forbidden(str(exc), getattr(request.state, "request_id", None))
        except HookUnavailable as exc:
            if metrics is not None:
                metrics.answers.labels(runner.name, "unavailable", "none").inc()
            request_id = getattr(request.state, "request_id", None)
            return problem_response("store-unavailable", str(exc), request_id)
        # Characters as they are (Easemob counts characters, and bounds the answer).
        content = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":"))
        return Response(content.encode(), media_type="application/json")

    return hook


def _forbidden(detail: str, request_id: str | None) -> Response:
    return problem_response("forbidden", detail, request_id)


def hook_openapi_paths() -> dict[str, Any]:
    """A path item for each installed platform adapter (configured or not: the
    document describes what this installation can serve)."""
    registry = presend_registry(default_plugin_manager())
    return {f"/v1/hooks/{name}": _path_item(name) for name in registry}


def _path_item(name: str) -> dict[str, Any]:
    answer = {"type": "object", "description": "The platform's own answer shape."}
    return {
        "post": {
            "summary": f"The {name} platform's callbacks (when [serve.hooks.{name}] is configured)",
            "description": "Signed by the platform instead of an API key; see docs/service.md, "
            '"IM pre-send hooks".',
            "security": [],
            "parameters": [
                {
                    "name": "CallbackCommand",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {
                    "description": "Always, once verified: the platform's answer",
                    "content": {"application/json": {"schema": answer}},
                },
                "403": {
                    "description": "The callback failed verification (app id, signature, "
                    "time window, replay); no policy ran",
                    "content": {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                },
                "503": {
                    "description": "A vendor's moderation result could not be recorded "
                    "(the store does not answer); send it again later",
                    "content": {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                },
                "413": {
                    "description": "The body is larger than max_body_bytes",
                    "content": {
                        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                },
            },
        }
    }
