"""``Store``: the durable store of one process - the engine, the audit log's writer and
journal, reading a check back, readiness and retention.

``Store.open(settings)`` checks the schema (upgrading it when ``auto_upgrade``, the
default on SQLite; on PostgreSQL a schema behind this version is a ConfigError saying
to run ``moderation db upgrade``) and starts the writer. A database that does not
answer at open is not an error: records wait in the journal until it does, and the
schema is checked then. Moderation never stops for the store.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from moderation_core._errors import ConfigError, StoreUnavailable

from ._engine import _MIGRATIONS, create_store_engine, shown_url, store_url, upgrade_connection
from ._journal import Journal
from ._records import AuditRecord, StoredCheck
from ._schema import callbacks, checks, outbox, reviews
from ._settings import StoreSettings
from ._writer import Writer

__all__ = [
    "SchemaBehind",
    "Store",
    "StoreUnavailable",
    "check_schema",
    "head_revision",
    "schema_revision",
]

log = logging.getLogger("moderation_core.store")

Clock = Callable[[], float]

# How often the writer purges by ``retention``, in seconds of the store's clock.
PURGE_EVERY = 3600.0


class SchemaBehind(ConfigError):
    """The database's schema is older than this version's: run ``moderation db upgrade``."""


@functools.cache
def head_revision() -> str:
    """The newest migration this version ships."""
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415 - beside its use

    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None  # noqa: S101 - the package ships its migrations
    return head


def schema_revision(connection: sa.Connection) -> str | None:
    """The database's migration revision; None for an empty database."""
    return MigrationContext.configure(connection).get_current_revision()


def check_schema(settings: StoreSettings, connection: sa.Connection) -> None:
    """Bring the schema up to date when ``auto_upgrade`` says so (None: on SQLite),
    else SchemaBehind when it is older than this version's."""
    current = schema_revision(connection)
    head = head_revision()
    if current == head:
        return
    auto = settings.auto_upgrade
    if auto is None:
        auto = connection.dialect.name == "sqlite"
    if not auto:
        raise SchemaBehind(
            f"the store's database ({shown_url(connection.engine.url)}) has schema revision "
            f"{current or 'none'} and this version needs {head}: run "
            "`moderation db upgrade --config <your config>` once, then start again "
            "(or set [store] auto_upgrade = true)"
        )
    log.info("store: upgrading the schema from %s to %s", current or "none", head)
    upgrade_connection(connection)


class Store:
    """The store of one process (docs/store.md). Thread-safe; ``record`` never blocks.

    ``engine`` is SQLAlchemy's, for the modules that build on the store (media
    results, outbox, stats, reviews); ``clock`` gives the Unix seconds every row is
    stamped with (``time.time``; tests pass one they move by hand).
    """

    def __init__(
        self,
        settings: StoreSettings,
        engine: sa.Engine,
        *,
        journal_dir: Path,
        clock: Clock = time.time,
        reachable: bool = True,
    ) -> None:
        """Use ``Store.open``; this takes an engine already checked (``reachable``:
        whether it answered then)."""
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.journal = Journal(journal_dir)
        self._last_purge: float | None = None
        self.writer = Writer(
            engine,
            self.journal,
            keep_content=settings.keep_content,
            batch_size=settings.batch_size,
            flush_interval=settings.flush_interval,
            queue_size=settings.queue_size,
            ready=functools.partial(check_schema, settings),
            periodic=self._purge_when_due if settings.retention is not None else None,
            reachable=reachable,
        )
        self._closed = False

    @classmethod
    def open(
        cls,
        settings: StoreSettings,
        *,
        base_dir: Path | None = None,
        clock: Clock = time.time,
    ) -> Store:
        """Open the store of ``settings`` (relative paths read from ``base_dir``, the
        config's folder): a ConfigError for a bad URL or a schema behind this version
        (PostgreSQL without ``auto_upgrade``)."""
        url = store_url(settings.url, base_dir)
        options: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            # A connection per use: a database file that went away (or came back) is
            # seen at the next write, not hidden behind a pooled handle.
            options["poolclass"] = sa.pool.NullPool
            if url.database not in (None, "", ":memory:"):
                with contextlib.suppress(OSError):  # unusable: seen as the database away
                    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_store_engine(url, **options)
        reachable = True
        try:
            with engine.begin() as connection:
                check_schema(settings, connection)
        except SchemaBehind:
            engine.dispose()
            raise
        except sa.exc.SQLAlchemyError as exc:
            reachable = False
            log.warning(
                "store: %s does not answer (%s); records wait in the journal until it does",
                shown_url(url),
                type(exc).__name__,
            )
        journal_dir = settings.journal_dir(base_dir)
        return cls(settings, engine, journal_dir=journal_dir, clock=clock, reachable=reachable)

    # -- the audit log -------------------------------------------------------------

    def record(self, record: AuditRecord) -> None:
        """Queue one record for the writer; never waits for the database."""
        self.writer.record(record)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record so far is in the database (True); False when it is
        away (they are in the journal) or ``timeout`` seconds passed."""
        return self.writer.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush and stop the writer; what the database could not take stays in the
        journal for the next store. True when everything reached the database."""
        if self._closed:
            return True
        self._closed = True
        done = self.writer.close(timeout)
        self.journal.close()
        self.engine.dispose()
        return done

    # -- reading -------------------------------------------------------------------

    def result(self, check_id: str) -> StoredCheck | None:
        """The check with this id (pending or final), None when unknown. A check still
        on its way to the database is found too. StoreUnavailable when the database
        does not answer."""
        if "\x00" in check_id:  # no check id holds one; PostgreSQL would refuse the query
            return None
        waiting = self.writer.waiting(check_id)
        if waiting is not None:
            check, _ = waiting.rows(keep_content=self.settings.keep_content)
            return StoredCheck.from_row(check)
        try:
            with self.engine.connect() as connection:
                row = (
                    connection.execute(sa.select(checks).where(checks.c.check_id == check_id))
                    .mappings()
                    .first()
                )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"the store's database does not answer ({type(exc).__name__})"
            ) from None
        return None if row is None else StoredCheck.from_row(row)

    def ping(self) -> str | None:
        """None when the database answers with this version's schema, else why not
        (no secret in it): the store's readiness check."""
        try:
            with self.engine.connect() as connection:
                current = schema_revision(connection)
        except sa.exc.SQLAlchemyError as exc:
            return f"the database does not answer ({type(exc).__name__})"
        if current != head_revision():
            return f"schema revision {current or 'none'}, needs {head_revision()}"
        return None

    # -- retention -----------------------------------------------------------------

    def purge(self, now: float | None = None) -> dict[str, int]:
        """Delete what ``retention`` says is old: checks (except those under open
        review), callbacks, delivered or dead outbox events, decided reviews. The
        number of rows deleted per table; nothing without a retention."""
        retention = self.settings.retention
        if retention is None:
            return {}
        cutoff = (self.clock() if now is None else now) - retention
        open_reviews = sa.select(reviews.c.check_id).where(reviews.c.status == "open")
        statements = {
            "reviews": sa.delete(reviews).where(
                reviews.c.status != "open", reviews.c.decided_at < cutoff
            ),
            "checks": sa.delete(checks).where(
                checks.c.created_at < cutoff, checks.c.check_id.not_in(open_reviews)
            ),
            "callbacks": sa.delete(callbacks).where(callbacks.c.received_at < cutoff),
            "outbox": sa.delete(outbox).where(
                outbox.c.status.in_(("delivered", "dead")), outbox.c.created_at < cutoff
            ),
        }
        deleted: dict[str, int] = {}
        with self.engine.begin() as connection:
            for name, statement in statements.items():
                deleted[name] = connection.execute(statement).rowcount
        self._last_purge = self.clock()
        return deleted

    def _purge_when_due(self) -> None:
        now = self.clock()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        deleted = self.purge(now)
        if any(deleted.values()):
            log.info("store: retention purged %s", deleted)

    def __repr__(self) -> str:
        return f"<Store {shown_url(self.engine.url)}>"
