"""The audit log's writer: one thread that takes records off the request path and
writes them in batches.

Callers append to a bounded in-memory queue (a deque: an append is atomic and costs
nanoseconds, no lock); the thread wakes every ``flush_interval`` seconds, or as soon
as a batch is full, and inserts each batch with one executemany in one transaction.
When the database does not answer, a batch goes to the journal (``_journal``) and
the thread tries again with growing pauses; once it answers, the journal is replayed
first, then the queue. A full queue sends records straight to the journal: a check
never waits for the database.

When the journal cannot be written either (disk full, folder gone or not a folder),
a batch goes back to the front of the queue and the writer tries both again with the
same growing pauses; ``flush`` answers False meanwhile. The queue then grows past
``queue_size`` up to a hard ceiling (``memory_ceiling``, twice ``queue_size`` unless
given); only past it, or when the store closes with records neither took, are records
dropped: counted in ``dropped`` and logged at error, never silently. Nothing a caller
does ever raises from here: a check goes on whatever the disk does.

Inserts are insert-or-ignore by ``check_id`` (and ``reviews.check_id``), which is
what makes a replay after a crash harmless. A batch the database refuses for its
content (not for being away) is retried one record at a time, and a record refused
alone is kept in the journal's ``rejected.jsonl``, never dropped.
"""

from __future__ import annotations

import collections
import contextlib
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
# Records kept in memory while neither the database nor the journal takes them, as a
# multiple of ``queue_size`` (``memory_ceiling`` unset).
CEILING_FACTOR = 2


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
        memory_ceiling: int | None = None,
    ) -> None:
        """``ready(connection)`` runs before the first write after every outage (the
        schema check); ``periodic()`` runs every wake-up (retention purges);
        ``reachable`` is whether the database answered (and ``ready`` passed) at open;
        ``memory_ceiling``: records kept in memory, at most, while neither the database
        nor the journal takes them (default: twice ``queue_size``)."""
        self._engine = engine
        self._journal = journal
        self._keep_content = keep_content
        self._batch_size = batch_size
        self._interval = flush_interval
        self._queue_size = queue_size
        self._ceiling = max(memory_ceiling or CEILING_FACTOR * queue_size, queue_size)
        self._ready = ready
        self._periodic = periodic
        self._queue: collections.deque[AuditRecord | _Barrier] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._away = False
        self._next_try = 0.0
        self._pause = RETRY_FIRST
        # The journal's own outage: when its disk refused, and when to try it again.
        self._faults = threading.Lock()  # the callers' threads and the writer's meet here
        self._journal_down = False
        self._journal_next_try = 0.0
        self._journal_pause = RETRY_FIRST
        self._dropped = 0
        self._drop_logged = False
        if not reachable:
            self._went_away(None)
        # The batch being written: a record leaves the queue only once in here, and
        # leaves here once written, so ``waiting`` always finds a record not yet stored.
        self._inflight: list[AuditRecord] = []
        self._thread = threading.Thread(target=self._run, name="moderation-store", daemon=True)
        self._thread.start()

    # -- the callers' side ----------------------------------------------------------

    def record(self, record: AuditRecord) -> None:
        """Queue ``record``; never blocks, never raises (the check goes on)."""
        queue = self._queue
        if len(queue) >= self._queue_size:
            # The database is slow or away: to disk now rather than block or drop.
            if self._spill(record):
                return
            if len(queue) >= self._ceiling:
                self._drop(
                    1,
                    f"memory is full ({self._ceiling} records wait) and neither the "
                    f"database nor the journal in {self._journal.folder} takes records",
                )
                return
        queue.append(record)
        if len(queue) >= self._batch_size:
            self._wake.set()

    def _spill(self, record: AuditRecord) -> bool:
        """``record`` into the journal from the caller's thread; False when the journal
        is down (the record then stays in memory, up to the ceiling)."""
        if self._journal_down and time.monotonic() < self._journal_next_try:
            return False
        try:
            self._journal.append([record.rows(keep_content=self._keep_content)], sync=False)
        except Exception as exc:  # the disk's trouble must not become the check's
            self._journal_failed(exc)
            return False
        self._journal_back("the journal")
        self._wake.set()
        return True

    def flush(self, timeout: float | None = None, *, replay: bool = True) -> bool:
        """Wait until every record recorded so far is in the database (True) or, when
        it is away or ``timeout`` passes, at least in the journal (False; also False
        while the journal cannot be written either and they wait in memory)."""
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

    @property
    def degraded(self) -> bool:
        """True while neither the database nor the journal takes records: they wait
        in memory (``flush`` answers False)."""
        return self._journal_down

    @property
    def dropped(self) -> int:
        """Records lost because neither the database nor the journal took them and
        memory was full (or the store closed): each one was logged."""
        return self._dropped

    @property
    def queued(self) -> int:
        """Records waiting in memory for the database or the journal (``/metrics``)."""
        return self._records_queued() + len(self._inflight)

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
            except Exception:  # the thread must outlive anything
                self._hold(self._inflight)
                log.exception(
                    "store writer: unexpected error; the batch went back to the queue "
                    "(%d records in memory)",
                    self._records_queued(),
                )
            if self._stopping and self._finished():
                return

    def _finished(self) -> bool:
        """At close: done once the queue is empty; records neither the database nor
        the journal took by then are dropped, loudly."""
        if self._queue and not self._journal_down:
            return False
        held = self._records_queued()
        self._queue.clear()
        if held:
            self._drop(
                held,
                f"the store closed before the database or the journal in "
                f"{self._journal.folder} took them",
            )
        with contextlib.suppress(OSError):
            self._journal.sync()
        return True

    def _records_queued(self) -> int:
        return sum(1 for item in list(self._queue) if isinstance(item, AuditRecord))

    def _round(self) -> None:
        try:
            self._journal.sync()
        except OSError as exc:
            log.error(
                "store: the journal in %s could not be synced (%s): records the callers "
                "spilled to it since the last sync may not survive a crash of this machine",
                self._journal.folder,
                type(exc).__name__,
            )
        batch = self._inflight = []
        queue = self._queue
        urgent = self._urgent()
        while queue:
            item = queue[0]
            if isinstance(item, _Barrier):
                if item.event.is_set():  # answered already (records it waited for were held)
                    queue.popleft()
                    continue
                if not self._write(batch, urgent=urgent):
                    return
                batch = self._inflight = []
                item.in_database = self._settle(force=item.replay)
                queue.popleft()
                item.event.set()
                continue
            batch.append(item)  # before it leaves the queue: ``waiting`` sees it throughout
            queue.popleft()
            if len(batch) >= self._batch_size:
                if not self._write(batch, urgent=urgent):
                    return
                batch = self._inflight = []
        if not self._write(batch, urgent=urgent):
            return
        self._inflight = []
        self._settle(force=False)
        if self._periodic is not None and not self._away:
            try:
                self._periodic()
            except Exception as exc:  # e.g. the database went away mid-purge
                log.warning("store: periodic task failed (%s)", type(exc).__name__)

    def _urgent(self) -> bool:
        """Whether this round tries the database and the journal whatever their pauses:
        the store is closing, or a ``flush`` waits (its caller wants the records in)."""
        if self._stopping:
            return True
        if not (self._away or self._journal_down):
            return False  # nothing is paused
        return any(
            isinstance(item, _Barrier) and item.replay and not item.event.is_set()
            for item in list(self._queue)
        )

    def _write(self, batch: list[AuditRecord], *, urgent: bool = False) -> bool:
        """``batch`` into the database, else the journal; False when neither took it:
        it is back at the front of the queue, and every ``flush`` waiting is answered
        False. ``urgent``: try both now, whatever their pauses."""
        if not batch:
            return True
        rows = self._rows(batch)
        if self._away or self._journal.has_own:
            self._settle(force=urgent)  # the database back (when due) and the journal replayed
        if not (self._away or self._journal.has_own):
            try:
                self._insert(rows)
            except Exception as exc:
                self._went_away(exc)
            else:
                self._journal_back("the database")
                return True
        # The database is away, or records wait in the journal: these go behind them.
        if self._journal_down and not urgent and time.monotonic() < self._journal_next_try:
            self._hold(batch)
            return False
        try:
            self._journal.append(rows)
        except Exception as exc:
            self._journal_failed(exc)
            self._hold(batch)
            return False
        self._journal_back("the journal")
        return True

    def _rows(self, batch: list[AuditRecord]) -> list[Rows]:
        rows: list[Rows] = []
        for record in batch:
            try:
                rows.append(record.rows(keep_content=self._keep_content))
            except Exception as exc:  # no row can be made of it: it can never be stored
                log.error(
                    "store: record %s cannot be made into rows (%s)",
                    record.check_id,
                    type(exc).__name__,
                )
                self._drop(1, "no row could be made of it")
        return rows

    def _hold(self, batch: list[AuditRecord]) -> None:
        """Put ``batch`` back at the front of the queue, in order, and answer every
        ``flush`` waiting: False, its records are not stored."""
        self._queue.extendleft(reversed(batch))
        self._inflight = []
        for item in list(self._queue):
            if isinstance(item, _Barrier) and not item.event.is_set():
                item.in_database = False
                item.event.set()

    def _journal_failed(self, exc: BaseException) -> None:
        with self._faults:
            if self._journal_down:
                self._journal_pause = min(self._journal_pause * 2, RETRY_MAX)
            else:
                self._journal_down = True
                self._journal_pause = RETRY_FIRST
                log.error(
                    "store: the journal in %s cannot be written (%s) while the database "
                    "is away: records wait in memory (up to %d; past that they are "
                    "dropped and counted) until one of them takes them",
                    self._journal.folder,
                    type(exc).__name__,
                    self._ceiling,
                )
            self._journal_next_try = time.monotonic() + self._journal_pause

    def _journal_back(self, where: str) -> None:
        """Records are stored again (``where``): the outage of both is over; the
        journal is tried afresh the next time it is needed."""
        if not self._journal_down:
            return
        with self._faults:
            if not self._journal_down:
                return
            self._journal_down = False
            self._journal_pause = RETRY_FIRST
            self._journal_next_try = 0.0
            self._drop_logged = False
            log.warning(
                "store: records are stored again, in %s (%d dropped in all)",
                where,
                self._dropped,
            )

    def _drop(self, count: int, why: str) -> None:
        """The last resort: ``count`` records lost, counted and logged (at error the
        first time in an outage, with the running count after)."""
        with self._faults:
            self._dropped += count
            first = not self._drop_logged
            self._drop_logged = True
        if first:
            log.error(
                "store: %d audit record(s) DROPPED: %s (%d dropped in all, counted in "
                "Writer.dropped)",
                count,
                why,
                self._dropped,
            )
        else:
            log.debug("store: %d more audit record(s) dropped (%d in all)", count, self._dropped)

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
