"""``moderation stats`` without click: read the figures of a config's store, and print
them as tables (rich, like the rest of the CLI) or as the JSON ``GET /v1/stats``
answers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from moderation_core._config import load_config

from ._stats import StoreUnreadable, parse_range, reading_engine, stats, unreadable

__all__ = ["StoreUnreadable", "print_stats", "read_stats"]


def read_stats(
    config_path: Path, *, since: str | None, until: str | None, by: str
) -> dict[str, Any]:
    """The figures ``GET /v1/stats`` answers, for ``config_path``'s store. A bad range
    is InvalidContent; no store, no database file or no tables a ConfigError."""
    start, end = parse_range(since, until)
    engine = reading_engine(load_config(config_path))
    try:
        return stats(engine, since=start, until=end, by=by)
    except sa.exc.SQLAlchemyError as exc:
        raise unreadable(engine, exc) from None
    finally:
        engine.dispose()


def print_stats(figures: Mapping[str, Any], *, as_json: bool, console: Console) -> None:
    if as_json:
        console.print_json(json.dumps(figures, ensure_ascii=False))
        return
    total = figures["total"]
    console.print(
        f"[bold]{total:,} checks[/bold] from {_time(figures['since'])} to "
        f"{_time(figures['until'])} ({figures['errors']:,} without a verdict, "
        f"{figures['pending']:,} pending)"
    )
    by = figures["by"]
    console.print(
        _table(
            f"per {by}",
            (by, "checks", "share"),
            [
                (_shown(b["key"]), f"{b['count']:,}", _percent(b["count"] / total))
                for b in figures["buckets"]
            ],
        )
    )
    console.print(
        "fallback "
        + _percent(figures["fallback_rate"])
        + " · failover "
        + _percent(figures["failover_rate"])
        + " · cache hits "
        + _percent(figures["cache_hit_rate"])
        + " · pre-filtered "
        + _percent(figures["prefilter_rate"])
        + f" · billable vendor items {figures['billable']:,}"
    )
    console.print(
        _table(
            "providers",
            ("provider", "checks", "billable", "failed over", "p50 ms", "p95 ms"),
            [
                (
                    p["provider"],
                    f"{p['count']:,}",
                    f"{p['billable']:,}",
                    f"{p['failed_over']:,}",
                    _ms(p["p50_ms"]),
                    _ms(p["p95_ms"]),
                )
                for p in figures["providers"]
            ],
        )
    )
    if figures["precision"]:
        console.print(
            _table(
                "reviewer agreement (reject = upheld, approve = overturned)",
                ("provider", "label", "decision", "reviewed", "upheld", "precision"),
                [
                    (
                        _shown(p["provider"]),
                        _shown(p["label"]),
                        p["decision"],
                        f"{p['reviewed']:,}",
                        f"{p['upheld']:,}",
                        _percent(p["precision"]),
                    )
                    for p in figures["precision"]
                ],
            )
        )


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title, header_style="bold")
    for n, column in enumerate(columns):
        table.add_column(column, justify="left" if n == 0 else "right")
    for row in rows:
        # Scenes and labels come from callers: shown as text, never as rich markup.
        table.add_row(
            *(escape("".join(c if c.isprintable() else "?" for c in cell)) for cell in row)
        )
    return table


def _time(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _shown(value: str | None) -> str:
    return "-" if value is None else value


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
