"""The store's gauges in ``GET /metrics`` (docs/store.md): what waits where.

    moderation_outbox_events{status="pending"|"dead"}   the webhook's outbox (database-wide)
    moderation_store_queued_records                     audit records in this process's memory
    moderation_store_journal_bytes{file="waiting"|"rejected"}
                                                        the journal folder: segments waiting
                                                        for replay; records kept aside
    moderation_store_database_up                        1 while the audit writer reaches it
    moderation_store_dropped_records                    records lost (no database, no disk,
                                                        memory full): should stay 0

Gauges, not a custom collector, so that ``serve --workers N`` (prometheus-client's
multiprocess mode) aggregates them like the other metrics: each worker refreshes its
values when it answers a scrape (the outbox's figure is the most recent reading of
any worker; the per-process ones are summed, the folder's the largest reading). The
database is read in a thread, within ``READ_TIMEOUT``: a scrape never hangs on it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

if TYPE_CHECKING:
    from moderation_core.store import Store

    from ._state import AppState

__all__ = ["READ_TIMEOUT", "StoreMetrics", "store_metrics"]

log = logging.getLogger("moderation_core.service")

READ_TIMEOUT = 2.0  # seconds a scrape waits for the outbox's counts
# The journal's file names (moderation_core/store/_journal.py): segments and the
# records kept aside, all JSON lines.
_SUFFIX = ".jsonl"
_REJECTED = "rejected"


def journal_sizes(folder: Path) -> tuple[int, int]:
    """Bytes of the folder's segments (any process's, waiting for replay) and of its
    rejected records; (0, 0) for a folder that is not there."""
    waiting = rejected = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0, 0
    for path in entries:
        if not path.name.endswith(_SUFFIX):
            continue
        try:
            size = path.stat().st_size
        except OSError:  # replayed and deleted meanwhile
            continue
        if path.name.startswith(_REJECTED):
            rejected += size
        else:
            waiting += size
    return waiting, rejected


class StoreMetrics:
    """The store's gauges in the app's registry; ``refresh()`` before each exposition."""

    def __init__(self, store: Store, registry: CollectorRegistry) -> None:
        self.store = store
        self.outbox = Gauge(
            "moderation_outbox_events",
            "Webhook events in the outbox ([serve.notify]): pending (not delivered yet) "
            "and dead (given up after 24 h), read from the database at each scrape.",
            ["status"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.queued = Gauge(
            "moderation_store_queued_records",
            "Audit records waiting in memory for the store's writer.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.journal = Gauge(
            "moderation_store_journal_bytes",
            "Bytes in the journal folder: waiting (records spilled while the database "
            "was away, replayed when it answers) and rejected (kept aside for a person).",
            ["file"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.up = Gauge(
            "moderation_store_database_up",
            "1 while the audit writer reaches the store's database, 0 while records go "
            "to the journal.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.dropped = Gauge(
            "moderation_store_dropped_records",
            "Audit records lost because neither the database, the journal nor memory "
            "took them (each is logged). Anything but 0 needs a look.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.up.set(1)

    def _read(self) -> tuple[dict[str, int], tuple[int, int]]:
        from moderation_core.store._outbox import outbox_counts  # noqa: PLC0415 - store extra

        return outbox_counts(self.store.engine), journal_sizes(self.store.journal.folder)

    async def refresh(self) -> None:
        """Read the figures (the database and the journal folder in a thread, at most
        ``READ_TIMEOUT`` seconds: on a timeout or a database error the outbox's last
        figures stay, and the rest is set)."""
        writer = self.store.writer
        self.queued.set(writer.queued)
        self.up.set(0 if writer.away else 1)
        self.dropped.set(writer.dropped)
        try:
            counts, (waiting, rejected) = await asyncio.wait_for(
                asyncio.to_thread(self._read), READ_TIMEOUT
            )
        except Exception as exc:  # a scrape answers whatever the database does
            log.debug("metrics: the outbox could not be read (%s)", type(exc).__name__)
            waiting, rejected = await asyncio.to_thread(journal_sizes, self.store.journal.folder)
        else:
            for status, count in counts.items():
                self.outbox.labels(status).set(count)
        self.journal.labels("waiting").set(waiting)
        self.journal.labels("rejected").set(rejected)


def store_metrics(state: AppState) -> StoreMetrics | None:
    """The store's gauges in the app's registry; None without a store."""
    if state.store is None:
        return None
    return StoreMetrics(state.store, state.metrics.registry)
