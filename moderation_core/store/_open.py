"""Opening a config's store database outside a moderator: what the commands that work
on the database itself share (``moderation db upgrade``, ``moderation stats``).

A moderator opens its store with ``Store.open`` (writer, journal, schema check); these
commands only need an engine, and the same answers to the same mistakes: no
``[store]`` table, a bad URL, a SQLite file that is not there when reading.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import sqlalchemy as sa

from moderation_core._config import Config
from moderation_core._errors import ConfigError

from ._engine import create_store_engine, shown_url, store_url
from ._settings import store_settings

__all__ = ["no_store", "open_engine"]


def no_store(config: Config, purpose: str = "") -> ConfigError:
    """The error for a config without the ``[store]`` a command needs (``purpose``,
    e.g. "statistics are read from the store", says why it does)."""
    why = f"{purpose}; add" if purpose else "add"
    return ConfigError(
        f"{config.source} has no [store] table: {why} one with url = "
        '"sqlite:///moderation.db" or "postgresql://..." (docs/store.md)'
    )


def open_engine(config: Config, *, create: bool = False, purpose: str = "") -> sa.Engine:
    """An engine on the database of ``config``'s ``[store]`` (the caller disposes of
    it); nothing is dialled yet.

    A ConfigError when the config has no ``[store]`` table (``purpose``, e.g.
    "statistics are read from the store", says why one is needed) or its URL is bad.
    With ``create`` the folder of a SQLite file is made (the migrations then create the
    file); without it a SQLite file that does not exist is a ConfigError: reading never
    creates an empty database."""
    settings = store_settings(config)
    if settings is None:
        raise no_store(config, purpose)
    url = store_url(settings.url, config.base_dir)
    database = url.database if url.get_backend_name() == "sqlite" else None
    if database not in (None, "", ":memory:"):
        path = Path(str(database))
        if create:
            with contextlib.suppress(OSError):  # unusable: the first connection says so
                path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise ConfigError(
                f"[store] url {shown_url(url)}: there is no database file yet "
                "(moderation serve creates it; so does moderation db upgrade)"
            )
    return create_store_engine(url)
