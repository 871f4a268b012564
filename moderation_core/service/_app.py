"""``create_app(config)``: the ASGI app of ``moderation serve`` (SERVICE.md)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from importlib.metadata import version
from typing import Any

import httpx
import pluggy
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation_core._async import AsyncModerator
from moderation_core._config import Config, load_config
from moderation_core._plugins import make_plugin_manager

from . import _hooks
from ._api import JsonEndpoint, check, evaluate
from ._metrics import Metrics, MetricsPlugin
from ._middleware import ServiceMiddleware
from ._notify import media_results
from ._openapi import openapi_document
from ._pages import page_routes
from ._probes import Readiness, provider_checks, redis_check
from ._problems import Problem, problem_response
from ._reviews_api import REVIEW_SCHEMAS, review_routes, reviews_openapi_paths
from ._state import AppState, service_state
from ._store_api import STORED_CHECK_SCHEMA, store_check, store_openapi_paths, store_routes
from ._store_metrics import store_metrics

__all__ = ["create_app"]

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | Config

_HTTP_PROBLEMS = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}


def create_app(
    config: ConfigSource,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The service for ``config`` (a TOML path, a dict of the same shape, or a Config).
    A bad config, ``[serve]`` table or hook table is a ConfigError here, before
    anything listens. ``plugin_manager`` and ``transport`` are the AsyncModerator's
    (tests pass a fresh manager or an ``httpx.MockTransport``)."""
    checked = load_config(config)
    pm = plugin_manager if plugin_manager is not None else make_plugin_manager()
    metrics = Metrics()
    pm.register(MetricsPlugin(metrics), name=f"service-metrics-{id(metrics)}")
    moderator = AsyncModerator(checked, plugin_manager=pm, transport=transport)
    probe_client = httpx.AsyncClient(transport=transport)
    state = AppState(
        config=checked,
        settings=checked.serve,
        moderator=moderator,
        metrics=metrics,
        readiness=Readiness(provider_checks(moderator, probe_client)),
        plugin_manager=pm,
        closers=[probe_client.aclose],
        store=moderator.store,
    )
    if state.store is not None:
        state.readiness.add("store", store_check(state.store))
    redis_url = checked.moderation.redis_url
    if redis_url is not None:
        ping, close = redis_check(redis_url)
        state.readiness.add("redis", ping)
        state.closers.append(close)
    routes = [
        Route("/v1/check", JsonEndpoint(check), methods=["POST"]),
        Route("/v1/evaluate", JsonEndpoint(evaluate), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                ServiceMiddleware,
                api_keys=checked.serve.api_keys,
                max_body_bytes=checked.serve.max_body_bytes,
                metrics=metrics,
            ),
        ],
        exception_handlers={Problem: _problem, HTTPException: _http_problem},
        lifespan=_lifespan(state),
    )
    app.state.service = state
    results = media_results(state)  # vendors' late results into the store; the webhook
    app.state.media_results = results
    app.state.store_metrics = store_metrics(state)  # the outbox and writer gauges
    app.router.routes.extend(_hooks.hook_routes(state, results.record if results else None))
    app.router.routes.extend(store_routes())  # /v1/checks/{check_id}
    app.router.routes.extend(page_routes(state))  # /login, /review, /dashboard
    app.router.routes.extend(review_routes())  # /v1/stats, /v1/rankings/*, /v1/reviews
    app.state.openapi = json.dumps(
        openapi_document(
            _hooks.hook_openapi_paths() | reviews_openapi_paths() | store_openapi_paths(),
            version("moderation-core"),
            REVIEW_SCHEMAS | {"StoredCheck": STORED_CHECK_SCHEMA},
        )
    ).encode()
    return app


def _lifespan(state: AppState) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The app's lifespan, bound to its state (not read from the app it is given: an
    outer app that mounts this one runs it with itself)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for start in state.on_start:
            await start()
        # Uvicorn lets in-flight requests finish before this resumes; then the Moderator
        # waits for its shadow checks and batches and closes its connections.
        try:
            yield
        finally:
            for close in state.before_close:
                await close()
            await state.moderator.close()
            for close in state.closers:
                await close()

    return lifespan


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)  # noqa: S101 - registered for Problem only
    return problem_response(exc.slug, exc.detail, _request_id(request), exc.headers)


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    slug = _HTTP_PROBLEMS.get(exc.status_code, "invalid-request")
    headers = dict(exc.headers or {})
    return problem_response(slug, str(exc.detail), _request_id(request), headers)


async def healthz(request: Request) -> Response:
    return Response(b'{"status": "ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    checks = await service_state(request).readiness.status()
    ready = all(problem is None for problem in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": dict(checks)}
    return Response(
        json.dumps(body).encode(), status_code=200 if ready else 503, media_type="application/json"
    )


async def metrics_endpoint(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST  # noqa: PLC0415 - beside its use

    gauges = getattr(request.app.state, "store_metrics", None)
    if gauges is not None:
        await gauges.refresh()
    return Response(service_state(request).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return Response(request.app.state.openapi, media_type="application/json")
