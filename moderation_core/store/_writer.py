"""The audit log's writer: one thread that takes records off the request path and
writes them in batches.

Callers append to a bounded in-memory queue (a deque: an append is atomic and costs
nanoseconds, no lock); the thread wakes every ``flush_interval`` seconds, or as soon
as a batch is full, and inserts each batch with one executemany in one transaction.
When the database does not answer, a batch goes to the journal (``_journal``) and
the thread tries again with growing pauses; once it answers, the journal is replayed
first, then the queue. A full queue sends records straight to the journal: a check
never waits for the database and no record is dropped.

Inserts are insert-or-ignore by ``check_id`` (and ``reviews.check_id``), which is
what makes a replay after a crash harmless. A batch the database refuses for its
content (not for being away) is retried one record at a time, and a record refused
alone is kept in the journal's ``rejected.jsonl``, never dropped.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from moderation_core._errors import ConfigError

from ._journal import Journal
from ._records import AuditRecord, Rows
from ._schema import checks, reviews

__all__ = ["Writer", "insert_rows"]

log = logging.getLogger("moderation_core.store")

# Pauses between attempts while the database is away: from the first, doubling.
RETRY_FIRST = 0.5
RETRY_MAX = 30.0


def _insert_ignoring(engine_or_connection: sa.Connection, table: sa.Table, key: str) -> Any:
    if engine_or_connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])


def insert_rows(connection: sa.Connection, rows: Sequence[Rows]) -> None:
    """Insert records' rows, ignoring any whose check is already there (a replay)."""
    if not rows:
        return
    connection.execute(_insert_ignoring(connection, checks, "check_id"), [c for c, _ in rows])
    wanted = [r for _, r in rows if r is not None]
    if wanted:
        connection.execute(_insert_ignoring(connection, reviews, "check_id"), wanted)


def _is_away(exc: BaseException) -> bool:
    """The database is unreachable or unusable (not this batch's fault)."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    )


@attrs.define(eq=False)
class _Barrier:
    """``flush``'s marker in the queue: set once every record before it is handled."""

    event: threading.Event = attrs.field(factory=threading.Event)
    in_database: bool = False
    replay: bool = True


class Writer:
    """The thread and its queue. ``record`` never blocks; ``flush`` waits for what was
    recorded before it; ``close`` flushes and stops the thread."""

    def __init__(
        self,
        engine: sa.Engine,
        journal: Journal,
        *,
        keep_content: bool,
        batch_size: int,
        flush_interval: float,
        queue_size: int,
        ready: Callable[[sa.Connection], None] | None = None,
        periodic: Callable[[], None] | None = None,
        reachable: bool = True,
    ) -> None:
        """``ready(connection)`` runs before the first write after every outage (the
        schema check); ``periodic()`` runs every wake-up (retention purges);
        ``reachable`` is whether the database answered (and ``ready`` passed) at open."""
        self._engine = engine
        self._journal = journal
        self._keep_content = keep_content
        self._batch_size = batch_size
        self._interval = flush_interval
        self._queue_size = queue_size
        self._ready = ready
        self._periodic = periodic
        self._queue: collections.deque[AuditRecord | _Barrier] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._away = False
        self._next_try = 0.0
        self._pause = RETRY_FIRST
        if not reachable:
            self._went_away(None)
        # The batch being written: a record leaves the queue only once in here, and
        # leaves here once written, so ``waiting`` always finds a record not yet stored.
        self._inflight: list[AuditRecord] = []
        self._thread = threading.Thread(target=self._run, name="moderation-store", daemon=True)
        self._thread.start()

    # -- the callers' side ----------------------------------------------------------

    def record(self, record: AuditRecord) -> None:
        queue = self._queue
        if len(queue) >= self._queue_size:
            # The database is slow or away: to disk now rather than block or drop.
            self._journal.append([record.rows(keep_content=self._keep_content)], sync=False)
            self._wake.set()
            return
        queue.append(record)
        if len(queue) >= self._batch_size:
            self._wake.set()

    def flush(self, timeout: float | None = None, *, replay: bool = True) -> bool:
        """Wait until every record recorded so far is in the database (True) or, when
        it is away or ``timeout`` passes, at least in the journal (False)."""
        if not self._thread.is_alive():
            return False
        barrier = _Barrier(replay=replay)
        self._queue.append(barrier)
        self._wake.set()
        if not barrier.event.wait(timeout):
            return False
        return barrier.in_database

    def close(self, timeout: float | None = None) -> bool:
        """Flush (no pauses: the database gets one more try) and stop the thread."""
        done = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        return done

    @property
    def away(self) -> bool:
        """True while the last attempt to reach the database failed."""
        return self._away

    def waiting(self, check_id: str) -> AuditRecord | None:
        """The record with this id if it is still on its way to the database."""
        for pending in (list(self._queue), self._inflight):
            for item in pending:
                if isinstance(item, AuditRecord) and item.check_id == check_id:
                    return item
        return None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._round()
            except Exception:  # the thread must outlive anything; records stay queued
                log.exception("store writer: unexpected error (records stay queued)")
            if self._stopping and not self._queue:
                self._journal.sync()
                return

    def _round(self) -> None:
        self._journal.sync()
        batch = self._inflight = []
        queue = self._queue
        while queue:
            item = queue[0]
            if isinstance(item, _Barrier):
                self._write(batch)
                batch = self._inflight = []
                item.in_database = self._settle(force=item.replay)
                queue.popleft()
                item.event.set()
                continue
            batch.append(item)  # before it leaves the queue: ``waiting`` sees it throughout
            queue.popleft()
            if len(batch) >= self._batch_size:
                self._write(batch)
                batch = self._inflight = []
        self._write(batch)
        self._inflight = []
        self._settle(force=False)
        if self._periodic is not None and not self._away:
            try:
                self._periodic()
            except Exception as exc:  # e.g. the database went away mid-purge
                log.warning("store: periodic task failed (%s)", type(exc).__name__)

    def _write(self, batch: list[AuditRecord]) -> None:
        if not batch:
            return
        keep = self._keep_content
        rows = [record.rows(keep_content=keep) for record in batch]
        if self._away or self._journal.has_own:
            self._settle(force=False)  # the database back (when due) and the journal replayed
        if self._away or self._journal.has_own:
            # The database is away, or records wait in the journal: these go behind them.
            self._journal.append(rows)
            return
        try:
            self._insert(rows)
        except Exception as exc:
            self._journal.append(rows)
            self._went_away(exc)

    def _settle(self, *, force: bool) -> bool:
        """Replay the journal if due (``force``: now, whatever the pause); True when
        nothing of this store waits in it."""
        if not force and self._away and time.monotonic() < self._next_try:
            return False
        if not (self._away or self._journal.has_own or force):
            return True
        try:
            self._replay()
        except Exception as exc:
            self._went_away(exc)
            return False
        return not self._journal.has_own

    def _replay(self) -> None:
        if self._away:
            with self._engine.begin() as connection:
                if self._ready is not None:
                    self._ready(connection)
            self._back()
        for segment in self._journal.take():
            batch: list[Rows] = []
            for rows in segment.lines():
                if rows is None:
                    continue
                batch.append(rows)
                if len(batch) >= self._batch_size:
                    self._insert(batch)
                    batch = []
            self._insert(batch)
            for raw in segment.raw_lines():
                if _damaged(raw):
                    self._journal.reject(raw, "a damaged journal line")
            self._journal.done(segment)

    def _insert(self, rows: list[Rows]) -> None:
        if not rows:
            return
        try:
            with self._engine.begin() as connection:
                insert_rows(connection, rows)
        except Exception as exc:
            if _is_away(exc) or not self._reachable():
                raise
            self._insert_one_by_one(rows)

    def _insert_one_by_one(self, rows: list[Rows]) -> None:
        for one in rows:
            try:
                with self._engine.begin() as connection:
                    insert_rows(connection, [one])
            except Exception as exc:
                if _is_away(exc) or not self._reachable():
                    raise
                self._journal.reject(one, f"{type(exc).__name__} from the database")

    def _reachable(self) -> bool:
        try:
            with self._engine.connect() as connection:
                connection.execute(sa.select(checks.c.check_id).limit(0))
        except Exception:
            return False
        return True

    def _went_away(self, exc: BaseException | None) -> None:
        if not self._away:
            if isinstance(exc, ConfigError):  # the schema is behind: say what to do
                log.error("store: %s; records go to the journal meanwhile", exc)
            elif exc is not None:
                log.warning(
                    "store: the database is unreachable (%s); records go to the journal "
                    "in %s until it answers",
                    type(exc).__name__,
                    self._journal.folder,
                )
            self._pause = RETRY_FIRST
        else:
            self._pause = min(self._pause * 2, RETRY_MAX)
        self._away = True
        self._next_try = time.monotonic() + self._pause

    def _back(self) -> None:
        log.info("store: the database answers again; replaying the journal")
        self._away = False
        self._next_try = 0.0
        self._pause = RETRY_FIRST


def _damaged(raw: bytes) -> bool:
    import json  # noqa: PLC0415 - only on replay

    if not raw.endswith(b"\n"):
        return True
    try:
        data = json.loads(raw)
    except ValueError:
        return True
    return not (isinstance(data, dict) and "c" in data and "r" in data)
