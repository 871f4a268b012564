"""Opening the database behind ``[store] url`` and bringing its schema up to date.

``sqlite:///path`` (relative paths from the config file's folder) and
``postgresql://...`` (driven by psycopg 3); any other scheme is a ConfigError naming
it. A URL's password is never shown: ``shown_url`` is what logs and errors print.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import URL, make_url

from moderation_core._errors import ConfigError

__all__ = [
    "create_store_engine",
    "shown_url",
    "store_url",
    "upgrade",
    "upgrade_connection",
]

_MIGRATIONS = Path(__file__).parent / "migrations"
_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}


def store_url(url: str, base_dir: Path | None = None) -> URL:
    """The SQLAlchemy URL for a ``[store] url``: a known scheme with our driver, a
    relative SQLite path resolved against ``base_dir``."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise ConfigError(
            f"[store] url {_shown_text(url)!r} is not a database URL "
            "(sqlite:///path or postgresql://user@host/db)"
        ) from None
    scheme = parsed.drivername.split("+", 1)[0]
    if scheme not in _DRIVERS:
        raise ConfigError(
            f"[store] url has the unknown scheme {parsed.drivername!r}; "
            "use sqlite:///path or postgresql://user@host/db"
        )
    parsed = parsed.set(drivername=_DRIVERS[scheme])
    if scheme == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute() and base_dir is not None:
            parsed = parsed.set(database=str(base_dir / path))
    return parsed


def shown_url(url: URL | str) -> str:
    """The URL with any password hidden, for logs and error messages."""
    if isinstance(url, str):
        return _shown_text(url)
    return url.render_as_string(hide_password=True)


def _shown_text(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "<unreadable URL>"


def create_store_engine(url: URL, **options: object) -> sa.Engine:
    """An engine for the store: SQLite in WAL mode with a busy timeout (several
    threads and processes share one file), PostgreSQL with pre-ping (a restarted
    server costs one failed checkout, not one failed write)."""
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **options)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, **options)


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (``moderation db upgrade``; ``serve`` runs
    it on SQLite at start)."""
    with engine.begin() as connection:
        upgrade_connection(connection, revision)


def upgrade_connection(connection: sa.Connection, revision: str = "head") -> None:
    """``upgrade`` inside a transaction the caller holds (the store's schema check)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
