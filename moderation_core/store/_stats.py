"""Statistics and rankings over the audit log (``checks``) and the review decisions
(``reviews``): what ``moderation stats``, ``GET /v1/stats``, the two rankings and the
dashboard show. Every function reads; none writes.

Each answer is a JSON-ready dict or list (the CLI's ``--json`` and the HTTP API print
it as is). Times are Unix seconds, a range is ``since <= created_at < until``.

Percentiles are nearest-rank (the value at rank ``ceil(p * n)`` of the sorted
latencies; PostgreSQL's ``percentile_disc``), computed by one window-function query
that runs unchanged on SQLite (which has no ordered-set aggregates) and PostgreSQL:
the database sorts, Python receives two rows per provider whatever the traffic, and
both databases give the same figure.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa

from moderation_core._config import Config
from moderation_core._errors import ConfigError, InvalidContent

from ._engine import shown_url
from ._open import open_engine
from ._schema import checks, reviews
from ._store import schema_revision

__all__ = [
    "BY_COLUMNS",
    "DEFAULT_SINCE",
    "MAX_RANKING",
    "Grouping",
    "StoreUnreadable",
    "hourly",
    "keyword_ranking",
    "parse_range",
    "reading_engine",
    "sender_ranking",
    "stats",
    "unreadable",
]

Grouping = Literal["decision", "label", "provider", "scene"]
BY_COLUMNS: Final[Mapping[str, sa.Column[Any]]] = {
    "decision": checks.c.decision,
    "label": checks.c.label,
    "provider": checks.c.provider,
    "scene": checks.c.scene,
}
DEFAULT_SINCE: Final = "24h"
MAX_RANKING: Final = 1000  # rows a ranking may ask for
MAX_SPAN: Final = 100 * 366 * 86400.0  # a duration longer than a century is a typo
_LAST_INSTANT: Final = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last a datetime shows
_PERCENTILES: Final = (50, 95)
_HOUR: Final = 3600
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d{1,12})([smhdw])")
_BLOCKED = sa.or_(checks.c.decision == "BLOCK", checks.c.action == "BLOCK")
_INTERCEPTED = checks.c.decision.in_(("BLOCK", "REVIEW"))
_REVIEWED_VERDICT = (reviews.c.provider, reviews.c.label, reviews.c.decision)


class StoreUnreadable(Exception):
    """The store's database did not answer; the message names it (no password)."""


def parse_range(
    since: str | None = None, until: str | None = None, *, now: float | None = None
) -> tuple[float, float]:
    """``(since, until)`` in Unix seconds from the CLI's and the API's words: each is a
    duration before now (``90s``, ``15m``, ``24h``, ``7d``, ``2w``) or an ISO 8601
    time (``2024-05-01``, ``2024-05-01T08:00:00+08:00``; no zone means UTC).
    ``since`` defaults to 24h ago and ``until`` to now. Anything else, or an empty
    range, is InvalidContent saying what is accepted."""
    current = time.time() if now is None else now
    end = current if until is None else _instant("until", until, current)
    start = _instant("since", DEFAULT_SINCE if since is None else since, current)
    if start >= end:
        raise InvalidContent(
            f"the range is empty: since ({_shown(start)}) must be before until ({_shown(end)})"
        )
    return start, end


def _instant(name: str, text: str, now: float) -> float:
    word = text.strip()
    match = _DURATION.fullmatch(word)
    if match is not None:
        span = int(match[1]) * _UNITS[match[2]]
        if span > MAX_SPAN:
            raise InvalidContent(f"{name}={word!r} reaches back more than a century")
        return max(0.0, now - span)
    try:
        moment = datetime.fromisoformat(word)
    except ValueError:
        raise InvalidContent(
            f"{name}={text[:40]!r} is neither a duration (a whole number and s, m, h, d "
            "or w, e.g. 24h) nor an ISO 8601 time (e.g. 2024-05-01T08:00:00+08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(0.0, moment.timestamp()), _LAST_INSTANT)


def _shown(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="seconds")


def _in_range(column: sa.ColumnElement[Any], since: float, until: float) -> sa.ColumnElement[bool]:
    return sa.and_(column >= since, column < until)


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    """How many rows meet ``condition``: portable (no FILTER clause, no bool-to-int
    cast), and 0 rather than NULL on no rows once coalesced."""
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def stats(engine: sa.Engine, *, since: float, until: float, by: str = "decision") -> dict[str, Any]:
    """The figures for checks recorded in ``[since, until)``, counted per ``by``.

    ``total`` counts checks and evaluates; ``errors`` those that got no verdict;
    ``buckets`` the count per value of ``by`` (null: none recorded), largest first;
    the rates are shares of ``total`` (null when there is nothing to divide);
    ``billable`` the vendor items paid for; ``providers`` per provider its checks,
    billable items and p50/p95 latency of the checks it answered (cached verdicts
    left out: they cost no vendor time); ``precision`` per provider, label and
    decision under review, how often a person upheld it (reject) or overturned it
    (approve), for reviews decided in the range."""
    column = _grouping(by)
    in_range = _in_range(checks.c.created_at, since, until)
    with engine.connect() as connection:
        totals = connection.execute(
            sa.select(
                sa.func.count().label("total"),
                _count_if(checks.c.decision.is_(None)).label("errors"),
                _count_if(checks.c.status == "pending").label("pending"),
                _count_if(checks.c.fallback).label("fallback"),
                _count_if(checks.c.failed_over).label("failed_over"),
                _count_if(checks.c.cached).label("cached"),
                _count_if(checks.c.prefiltered).label("prefiltered"),
                sa.func.coalesce(sa.func.sum(checks.c.billable), 0).label("billable"),
            ).where(in_range)
        ).one()
        buckets = connection.execute(
            sa.select(column.label("key"), sa.func.count().label("n"))
            .where(in_range)
            .group_by(column)
            .order_by(sa.func.count().desc(), column.asc().nulls_last())
        ).all()
        providers = _providers(connection, in_range)
        precision = _precision(connection, since, until)
    total = int(totals.total)
    return {
        "since": since,
        "until": until,
        "by": by,
        "total": total,
        "errors": int(totals.errors),
        "pending": int(totals.pending),
        "buckets": [{"key": row.key, "count": int(row.n)} for row in buckets],
        "fallback_rate": _rate(int(totals.fallback), total),
        "failover_rate": _rate(int(totals.failed_over), total),
        "cache_hit_rate": _rate(int(totals.cached), total),
        "prefilter_rate": _rate(int(totals.prefiltered), total),
        "billable": int(totals.billable),
        "providers": providers,
        "precision": precision,
    }


def _grouping(by: str) -> sa.Column[Any]:
    try:
        return BY_COLUMNS[by]
    except KeyError:
        raise InvalidContent(
            f"by={by[:40]!r} is not a grouping; use one of {', '.join(BY_COLUMNS)}"
        ) from None


def _providers(connection: sa.Connection, in_range: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
    rows = connection.execute(
        sa.select(
            checks.c.provider,
            sa.func.count().label("n"),
            sa.func.coalesce(sa.func.sum(checks.c.billable), 0).label("billable"),
            _count_if(checks.c.failed_over).label("failed_over"),
        )
        .where(in_range, checks.c.provider.is_not(None))
        .group_by(checks.c.provider)
        .order_by(sa.func.count().desc(), checks.c.provider)
    ).all()
    latencies = _latency_percentiles(connection, in_range)
    return [
        {
            "provider": row.provider,
            "count": int(row.n),
            "billable": int(row.billable),
            "failed_over": int(row.failed_over),
            **{f"p{p}_ms": latencies.get(row.provider, {}).get(p) for p in _PERCENTILES},
        }
        for row in rows
    ]


def _latency_percentiles(
    connection: sa.Connection, in_range: sa.ColumnElement[bool]
) -> dict[str, dict[int, float]]:
    """provider -> {50: p50, 95: p95} in milliseconds (nearest rank, see the module)."""
    ranked = (
        sa.select(
            checks.c.provider,
            checks.c.latency_ms,
            sa.func.row_number()
            .over(partition_by=checks.c.provider, order_by=checks.c.latency_ms)
            .label("rank"),
            sa.func.count().over(partition_by=checks.c.provider).label("n"),
        )
        .where(
            in_range,
            checks.c.provider.is_not(None),
            checks.c.latency_ms.is_not(None),
            sa.not_(checks.c.cached),
        )
        .subquery()
    )
    # ceil(p * n / 100) in integer arithmetic, the same on both databases.
    ranks = {p: (ranked.c.n * p + 99) // 100 for p in _PERCENTILES}
    rows = connection.execute(
        sa.select(ranked.c.provider, ranked.c.latency_ms, ranked.c.rank, ranked.c.n).where(
            sa.or_(*(ranked.c.rank == rank for rank in ranks.values()))
        )
    ).all()
    found: dict[str, dict[int, float]] = {}
    for row in rows:
        for p in _PERCENTILES:
            if row.rank == (row.n * p + 99) // 100:
                found.setdefault(row.provider, {})[p] = float(row.latency_ms)
    return found


def _precision(connection: sa.Connection, since: float, until: float) -> list[dict[str, Any]]:
    rejected = _count_if(reviews.c.status == "rejected")
    approved = _count_if(reviews.c.status == "approved")
    rows = connection.execute(
        sa.select(
            reviews.c.provider,
            reviews.c.label,
            reviews.c.decision,
            rejected.label("upheld"),
            approved.label("overturned"),
        )
        .where(
            reviews.c.status.in_(("approved", "rejected")),
            _in_range(reviews.c.decided_at, since, until),
        )
        .group_by(*_REVIEWED_VERDICT)
        .order_by(
            *(
                c.asc().nulls_last()
                for c in (reviews.c.provider, reviews.c.label, reviews.c.decision)
            )
        )
    ).all()
    answer = []
    for row in rows:
        upheld, overturned = int(row.upheld), int(row.overturned)
        answer.append(
            {
                "provider": row.provider,
                "label": row.label,
                "decision": row.decision,
                "reviewed": upheld + overturned,
                "upheld": upheld,
                "overturned": overturned,
                "precision": _rate(upheld, upheld + overturned),
            }
        )
    return answer


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_RANKING:
        raise InvalidContent(f"limit={limit} is out of range; use 1 to {MAX_RANKING}")
    return limit


def sender_ranking(
    engine: sa.Engine, *, since: float, until: float, limit: int = 20
) -> list[dict[str, Any]]:
    """The most blocked senders (the vendor consoles' violator ranking): per sender
    with at least one block in the range, how many of its checks were blocked (the
    verdict's decision or the policy's action was BLOCK), sent to review, and in all,
    and when it last sent; most blocked first."""
    blocked = _count_if(_BLOCKED)
    rows = _rows(
        engine,
        sa.select(
            checks.c.sender,
            blocked.label("blocked"),
            _count_if(checks.c.decision == "REVIEW").label("review"),
            sa.func.count().label("total"),
            sa.func.max(checks.c.created_at).label("last_at"),
        )
        .where(_in_range(checks.c.created_at, since, until), checks.c.sender.is_not(None))
        .group_by(checks.c.sender)
        .having(blocked > 0)
        .order_by(blocked.desc(), checks.c.sender)
        .limit(_limit(limit)),
    )
    return [
        {
            "sender": row.sender,
            "blocked": int(row.blocked),
            "review": int(row.review),
            "total": int(row.total),
            "last_at": float(row.last_at),
        }
        for row in rows
    ]


def keyword_ranking(
    engine: sa.Engine, *, since: float, until: float, limit: int = 20
) -> list[dict[str, Any]]:
    """The most intercepted keywords: per keyword of BLOCK and REVIEW verdicts in the
    range, how many checks it was found in; most frequent first.

    ``keywords`` is a JSON list, unnested by the database's own table function
    (``json_each`` in SQLite, ``json_array_elements_text`` in PostgreSQL), so only the
    ranking leaves the database."""
    if engine.dialect.name == "postgresql":
        unnest = sa.func.json_array_elements_text(checks.c.keywords)
    else:
        unnest = sa.func.json_each(checks.c.keywords)
    keyword = unnest.table_valued("value").alias("keyword")
    count = sa.func.count(sa.distinct(checks.c.check_id))
    rows = _rows(
        engine,
        sa.select(keyword.c.value.label("keyword"), count.label("n"))
        .select_from(checks.join(keyword, sa.true()))
        .where(_in_range(checks.c.created_at, since, until), _INTERCEPTED)
        .group_by(keyword.c.value)
        .order_by(count.desc(), keyword.c.value)
        .limit(_limit(limit)),
    )
    return [{"keyword": str(row.keyword), "count": int(row.n)} for row in rows]


def hourly(engine: sa.Engine, since: float, until: float | None = None) -> list[dict[str, Any]]:
    """Checks per hour, decision and label in ``[since, until)`` (until: now), for
    charts: ``hour`` is the hour's first second (UTC), hours without checks are absent."""
    end = time.time() if until is None else until
    # floor(at / 3600): PostgreSQL rounds a float cast to integer, SQLite truncates
    # (the same as floor for the positive times stored) and may lack floor().
    at = checks.c.created_at / _HOUR
    if engine.dialect.name == "postgresql":
        hour: sa.ColumnElement[Any] = sa.func.floor(at)
    else:
        hour = sa.cast(at, sa.Integer)
    rows = _rows(
        engine,
        sa.select(hour.label("hour"), checks.c.decision, checks.c.label, sa.func.count().label("n"))
        .where(_in_range(checks.c.created_at, since, end))
        .group_by(hour, checks.c.decision, checks.c.label)
        .order_by(hour, checks.c.decision.asc().nulls_last(), checks.c.label.asc().nulls_last()),
    )
    return [
        {
            "hour": int(row.hour) * _HOUR,
            "decision": row.decision,
            "label": row.label,
            "count": int(row.n),
        }
        for row in rows
    ]


def _rows(engine: sa.Engine, query: sa.Select[Any]) -> list[sa.Row[Any]]:
    with engine.connect() as connection:
        return list(connection.execute(query).all())


def reading_engine(config: Config) -> sa.Engine:
    """An engine on ``config``'s store for reading figures (``moderation stats``): a
    ConfigError when there is no ``[store]``, no SQLite file (reading must not create
    an empty one), or no store tables in the database."""
    engine = open_engine(config, purpose="statistics are read from the store")
    try:
        with engine.connect() as connection:
            revision = schema_revision(connection)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise unreadable(engine, exc) from None
    if revision is None:
        engine.dispose()
        raise ConfigError(
            f"[store] url {shown_url(engine.url)} has no store tables: run "
            "moderation db upgrade --config <your config>"
        )
    return engine


def unreadable(engine: sa.Engine, error: Exception) -> StoreUnreadable:
    # The type only: a driver's message may quote the URL and its password.
    return StoreUnreadable(
        f"the store's database {shown_url(engine.url)} did not answer "
        f"({type(error).__name__}); check [store] url and that the server is running"
    )
