"""What ``moderation db upgrade`` and ``moderation db purge`` do, without click: the
CLI (``moderation_core._cli``) only prints and maps errors to exit codes."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from moderation_core._config import Config, load_config
from moderation_core._errors import ConfigError

from ._engine import shown_url, upgrade
from ._open import no_store, open_engine
from ._settings import StoreSettings, store_settings
from ._store import Store, head_revision, schema_revision

__all__ = ["DatabaseUnreachable", "purge_database", "upgrade_database"]


class DatabaseUnreachable(Exception):
    """The database did not answer; the message names it (no password) and why."""


def _config(config_path: Path | None) -> Config:
    if config_path is None:
        raise ConfigError("give the config with the [store] table: --config moderation.toml")
    return load_config(config_path)


def _settings(config_path: Path | None) -> tuple[StoreSettings, Path]:
    config = _config(config_path)
    settings = store_settings(config)
    if settings is None:
        raise no_store(config)
    return settings, config.base_dir


def upgrade_database(config_path: Path | None) -> str:
    """Bring the ``[store]`` database's schema to this version's; a line saying what
    was done."""
    engine = open_engine(_config(config_path), create=True)
    url = engine.url
    try:
        with engine.connect() as connection:
            before = schema_revision(connection)
        upgrade(engine)
    except sa.exc.OperationalError as exc:
        raise DatabaseUnreachable(
            f"the store's database {shown_url(url)} does not answer ({type(exc).__name__}); "
            "check [store] url and that the server is running"
        ) from None
    finally:
        engine.dispose()
    head = head_revision()
    if before == head:
        return f"{shown_url(url)}: the schema is up to date (revision {head})"
    return f"{shown_url(url)}: upgraded the schema from revision {before or 'none'} to {head}"


def purge_database(config_path: Path | None) -> dict[str, int]:
    """Delete what ``[store] retention`` says is old, now; rows deleted per table."""
    settings, base_dir = _settings(config_path)
    if settings.retention is None:
        raise ConfigError(
            '[store] has no retention: set one (e.g. retention = "30d") to purge old records'
        )
    store = Store.open(settings, base_dir=base_dir)
    try:
        return store.purge()
    except sa.exc.OperationalError as exc:
        raise DatabaseUnreachable(
            f"the store's database {shown_url(store.engine.url)} does not answer "
            f"({type(exc).__name__})"
        ) from None
    finally:
        store.close()
