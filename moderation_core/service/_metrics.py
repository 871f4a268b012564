"""Prometheus metrics of one app, in a registry of its own (two apps in one process,
as in tests, never share counters).

Checks are counted from the ``check_finished`` hook and Redis health from
``shared_state_changed``, so checks made by any endpoint (the hooks included) count.
Under ``serve --workers N`` prometheus-client's multiprocess mode sums the workers.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from moderation_core._errors import AllProvidersFailed
from moderation_core._model import CheckContext, Content, Verdict
from moderation_core._plugins import hookimpl

__all__ = ["MULTIPROCESS_ENV", "Metrics", "MetricsPlugin"]

# prometheus-client's own switch: values go to files there, one set per worker process.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Loopback answers in a millisecond; a vendor behind several retries in seconds.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The app's counters; ``exposition()`` is the body of ``GET /metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "moderation_http_requests",
            "HTTP requests answered, by endpoint (route template) and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "moderation_http_request_duration_seconds",
            "Time from receiving a request to the end of its answer, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.checks = Counter(
            "moderation_checks",
            "Contents checked, by the verdict's decision and the provider that answered.",
            ["decision", "provider"],
            registry=self.registry,
        )
        self.provider_failures = Counter(
            "moderation_provider_failures",
            "Provider errors met while checking, by provider and error class.",
            ["provider", "error"],
            registry=self.registry,
        )
        self.shared_state_healthy = Gauge(
            "moderation_shared_state_healthy",
            "1 while Redis (redis_url) answers; 0 while limits, breakers, mutes and context "
            "are per process. 1 without redis_url.",
            registry=self.registry,
            multiprocess_mode="livemin",  # across workers: 0 when any of them lost Redis
        )
        self.shared_state_outages = Counter(
            "moderation_shared_state_outages",
            "Redis outages noticed (each falls back to in-process state for a while).",
            registry=self.registry,
        )
        self.shared_state_healthy.set(1)
        self._children: dict[tuple[object, ...], Any] = {}
        # (endpoint, status) -> its request counter's and latency histogram's children.
        self._request_children: dict[tuple[str, int], tuple[Any, Any]] = {}
        # (decision name, provider) -> its check counter's child.
        self._check_children: dict[tuple[str, str | None], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: prometheus-client looks a child up
        under a lock on every call, and the label sets here are few."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        children = self._request_children.get((endpoint, status))
        if children is None:
            children = self._request_children[endpoint, status] = (
                self.child(self.requests, endpoint, str(status)),
                self.child(self.latency, endpoint),
            )
        requests, latency = children
        requests.inc()
        latency.observe(seconds)

    def count_check(self, verdict: Verdict) -> None:
        """One content checked, by the verdict's decision and provider."""
        key = (verdict.decision._name_, verdict.provider)
        counter = self._check_children.get(key)
        if counter is None:
            counter = self._check_children[key] = self.child(self.checks, key[0], str(key[1]))
        counter.inc()

    def count_failures(self, results: list[Any]) -> None:
        """Provider errors behind results no provider could answer (the check_finished
        hook sees only verdicts)."""
        for result in results:
            if isinstance(result, AllProvidersFailed):
                for error in result.exceptions:
                    self.provider_failures.labels(str(error.provider), type(error).__name__).inc()

    def exposition(self) -> bytes:
        """This app's metrics; under ``serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR``
        set) every worker's, summed, whichever worker answers the scrape."""
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            # prometheus-client leaves this constructor unannotated.
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class MetricsPlugin:
    """Registered in the app's plugin manager: feeds ``Metrics`` from the core's hooks."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    @hookimpl
    def check_finished(self, content: Content, verdict: Verdict, context: CheckContext) -> None:
        metrics = self.metrics
        metrics.count_check(verdict)
        for error in verdict.errors:  # failovers and fail_mode verdicts say who failed
            failures = metrics.provider_failures
            metrics.child(failures, str(error.provider), type(error).__name__).inc()

    @hookimpl
    def shared_state_changed(self, healthy: bool, reason: str) -> None:
        self.metrics.shared_state_healthy.set(1 if healthy else 0)
        if not healthy:
            self.metrics.shared_state_outages.inc()
