"""The ``[store]`` table, structured and checked before any database is dialled.

``Config.store`` arrives raw (like ``[policy]``): this module owns its keys, so the core
config loader imports no database code. Every problem is reported at once, each naming
the file, the table and the key; a password in ``url`` is never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from moderation_core._config import Config, config_error, make_config_converter, structure_config
from moderation_core._errors import ConfigError
from moderation_core._policy.config import format_duration, parse_duration

from ._engine import shown_url

__all__ = ["DEFAULT_URL", "StoreSettings", "store_settings"]

# ``[store]`` with no url: one SQLite file beside the config, the embedded default.
DEFAULT_URL = "sqlite:///moderation.db"
DEFAULT_JOURNAL = "moderation-journal"


def _url_repr(url: str) -> str:
    return repr(shown_url(url))


def _retention_repr(seconds: float | None) -> str:
    return "None" if seconds is None else repr(format_duration(seconds))


_positive_int = attrs.validators.gt(0)
_positive = attrs.validators.gt(0.0)


@attrs.frozen(kw_only=True)
class StoreSettings:
    """The ``[store]`` table (docs/store.md).

    - ``url``: ``sqlite:///path`` (relative to the config's folder) or ``postgresql://...``.
    - ``keep_content``: keep message text in the audit log. Off by default: it is
      personal data; the log keeps a hash (and the masked text on review items).
    - ``retention``: seconds (written ``"30d"``) after which records are purged;
      None keeps them forever.
    - ``journal``: the folder where records wait while the database is unreachable.
    - ``batch_size``, ``flush_interval``: the writer writes up to ``batch_size``
      records at once, at least every ``flush_interval`` seconds.
    - ``queue_size``: records waiting in memory; past it they go to the journal.
    - ``auto_upgrade``: bring the schema up to date at open; None means "on SQLite
      only" (PostgreSQL is shared: ``moderation db upgrade`` upgrades it, once).
    """

    url: str = attrs.field(default=DEFAULT_URL, repr=_url_repr)
    keep_content: bool = False
    retention: float | None = attrs.field(default=None, repr=_retention_repr)
    journal: str = DEFAULT_JOURNAL
    batch_size: int = attrs.field(default=500, validator=_positive_int)
    flush_interval: float = attrs.field(default=0.5, validator=_positive)
    queue_size: int = attrs.field(default=10_000, validator=_positive_int)
    auto_upgrade: bool | None = None

    def journal_dir(self, base_dir: Path | None) -> Path:
        """The journal folder, a relative one read from ``base_dir`` (the config's)."""
        path = Path(self.journal)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return path


_CONVERTER = make_config_converter()


def store_settings(config: Config) -> StoreSettings | None:
    """The checked ``[store]`` table of ``config``, or None when the config has none;
    a ConfigError lists every problem."""
    table: Mapping[str, Any] = config.store
    if not table:
        return None
    where = config.where("store")
    problems: list[str] = []
    raw = dict(table)
    retention = raw.pop("retention", None)
    seconds: float | None = None
    if retention is not None:
        try:
            seconds = parse_duration(retention)
        except ValueError as exc:
            problems.append(f"{where}: retention: {exc}")
    try:
        settings = structure_config(_CONVERTER, StoreSettings, raw, where)
    except ConfigError as exc:
        raise config_error([*problems, *exc.problems]) from None
    if problems:
        raise config_error(problems)
    return attrs.evolve(settings, retention=seconds)
