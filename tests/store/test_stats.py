"""Statistics, rankings and hourly counts, on SQLite and PostgreSQL alike: the same rows
give the same figures on both (percentiles included)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from moderation_core._errors import InvalidContent
from moderation_core.store._stats import (
    hourly,
    keyword_ranking,
    parse_range,
    sender_ranking,
    stats,
)

from .audit_rows import T0, insert_checks, insert_review

HOUR = 3600.0
SINCE, UNTIL = T0 - 24 * HOUR, T0 + 1


def test_counts_per_bucket_and_rates(store_engine: sa.Engine) -> None:
    insert_checks(
        store_engine,
        {"decision": "BLOCK", "label": "PORN", "scene": "C2C"},
        {"decision": "BLOCK", "label": "PORN", "scene": "Group", "cached": True},
        {"decision": "REVIEW", "label": "AD", "scene": "C2C", "billable": 2},
        {"decision": "PASS", "scene": "C2C", "provider": "huanxin", "failed_over": True},
        {
            "decision": None,
            "label": None,
            "provider": None,
            "error": "AllProvidersFailed",
            "billable": 0,
            "latency_ms": None,
        },
        {"decision": "REVIEW", "label": "OTHER", "provider": None, "fallback": True, "billable": 0},
        {
            "decision": "BLOCK",
            "label": "ABUSE",
            "provider": "prefilter",
            "prefiltered": True,
            "billable": 0,
        },
        {"decision": "PENDING", "label": "UNKNOWN", "status": "pending"},
        # outside the range: before since, and at until (the range is half-open)
        {"decision": "BLOCK", "created_at": SINCE - 1},
        {"decision": "BLOCK", "created_at": UNTIL},
    )
    by_decision = stats(store_engine, since=SINCE, until=UNTIL)
    assert by_decision["total"] == 8
    assert by_decision["errors"] == 1
    assert by_decision["pending"] == 1
    assert by_decision["buckets"] == [
        {"key": "BLOCK", "count": 3},
        {"key": "REVIEW", "count": 2},
        {"key": "PASS", "count": 1},
        {"key": "PENDING", "count": 1},
        {"key": None, "count": 1},
    ]
    assert by_decision["fallback_rate"] == 1 / 8
    assert by_decision["failover_rate"] == 1 / 8
    assert by_decision["cache_hit_rate"] == 1 / 8
    assert by_decision["prefilter_rate"] == 1 / 8
    assert by_decision["billable"] == 1 + 1 + 2 + 1 + 1
    by_label = stats(store_engine, since=SINCE, until=UNTIL, by="label")
    assert by_label["by"] == "label"
    assert by_label["buckets"][0] == {"key": "PORN", "count": 2}
    assert sum(b["count"] for b in by_label["buckets"]) == 8
    by_scene = stats(store_engine, since=SINCE, until=UNTIL, by="scene")
    assert by_scene["buckets"] == [
        {"key": None, "count": 4},
        {"key": "C2C", "count": 3},
        {"key": "Group", "count": 1},
    ]
    by_provider = stats(store_engine, since=SINCE, until=UNTIL, by="provider")
    assert by_provider["buckets"][0] == {"key": "tencent", "count": 4}


def test_percentiles_are_nearest_rank_per_provider_without_cached(
    store_engine: sa.Engine,
) -> None:
    insert_checks(
        store_engine,
        *({"provider": "tencent", "latency_ms": float(ms)} for ms in range(1, 101)),
        *({"provider": "huanxin", "latency_ms": float(ms)} for ms in (30, 10, 20)),
        {"provider": "tencent", "latency_ms": 0.1, "cached": True},
        {"provider": "huanxin", "latency_ms": None, "decision": None, "billable": 0},
        {"provider": "lonely", "latency_ms": 7.5, "billable": 3},
    )
    providers = {
        p["provider"]: p for p in stats(store_engine, since=SINCE, until=UNTIL)["providers"]
    }
    assert providers["tencent"] == {
        "provider": "tencent",
        "count": 101,
        "billable": 101,
        "failed_over": 0,
        "p50_ms": 50.0,
        "p95_ms": 95.0,
    }
    # ranks ceil(0.5 * 3) = 2 and ceil(0.95 * 3) = 3 of 10, 20, 30
    assert (providers["huanxin"]["p50_ms"], providers["huanxin"]["p95_ms"]) == (20.0, 30.0)
    assert providers["huanxin"]["count"] == 4
    assert (providers["lonely"]["p50_ms"], providers["lonely"]["p95_ms"]) == (7.5, 7.5)
    assert providers["lonely"]["billable"] == 3


def test_a_provider_seen_only_from_the_cache_has_no_latency(store_engine: sa.Engine) -> None:
    insert_checks(store_engine, {"provider": "yidun", "cached": True, "billable": 0})
    (only,) = stats(store_engine, since=SINCE, until=UNTIL)["providers"]
    assert only["p50_ms"] is None
    assert only["p95_ms"] is None


def test_an_empty_range_has_no_rates(store_engine: sa.Engine) -> None:
    figures = stats(store_engine, since=SINCE, until=UNTIL, by="scene")
    assert figures["total"] == 0
    assert figures["buckets"] == []
    assert figures["providers"] == []
    assert figures["precision"] == []
    assert figures["fallback_rate"] is None
    assert figures["cache_hit_rate"] is None
    assert figures["billable"] == 0


def test_precision_per_provider_label_and_decision(store_engine: sa.Engine) -> None:
    for status in ("rejected", "rejected", "rejected", "approved"):
        insert_review(store_engine, status=status, decided_at=T0, reviewer="ana")
    insert_review(store_engine, status="approved", decided_at=T0, decision="BLOCK", label="AD")
    insert_review(store_engine, status="rejected", decided_at=T0, provider="huanxin", label="ABUSE")
    insert_review(store_engine, status="open")  # undecided: no figure
    insert_review(store_engine, status="rejected", decided_at=SINCE - 1)  # outside the range
    precision = stats(store_engine, since=SINCE, until=UNTIL)["precision"]
    assert precision == [
        {"provider": "huanxin", "label": "ABUSE", "decision": "REVIEW", "reviewed": 1,
         "upheld": 1, "overturned": 0, "precision": 1.0},
        {"provider": "tencent", "label": "AD", "decision": "BLOCK", "reviewed": 1,
         "upheld": 0, "overturned": 1, "precision": 0.0},
        {"provider": "tencent", "label": "PORN", "decision": "REVIEW", "reviewed": 4,
         "upheld": 3, "overturned": 1, "precision": 0.75},
    ]  # fmt: skip


def test_an_unknown_grouping_is_invalid(store_engine: sa.Engine) -> None:
    with pytest.raises(InvalidContent, match="decision, label, provider, scene"):
        stats(store_engine, since=SINCE, until=UNTIL, by="sender; drop table checks")


def test_sender_ranking_counts_blocks_and_ranks_by_them(store_engine: sa.Engine) -> None:
    insert_checks(
        store_engine,
        *({"sender": "spammer", "decision": "BLOCK"} for _ in range(3)),
        {"sender": "spammer", "decision": "PASS"},
        {"sender": "spammer", "decision": "REVIEW"},
        {
            "sender": "rude",
            "decision": "REVIEW",
            "action": "BLOCK",
            "kind": "evaluate",
            "created_at": T0 - 60,
        },
        {"sender": "rude", "decision": "BLOCK", "created_at": T0 - 120},
        {"sender": "also", "decision": "BLOCK", "created_at": T0 - 5},
        {"sender": "also", "decision": "BLOCK", "created_at": T0 - 6},
        {"sender": "nice", "decision": "PASS"},
        {"sender": None, "decision": "BLOCK"},
        {"sender": "old", "decision": "BLOCK", "created_at": SINCE - 10},
    )
    ranking = sender_ranking(store_engine, since=SINCE, until=UNTIL)
    assert ranking == [
        {"sender": "spammer", "blocked": 3, "review": 1, "total": 5, "last_at": T0},
        {"sender": "also", "blocked": 2, "review": 0, "total": 2, "last_at": T0 - 5},
        {"sender": "rude", "blocked": 2, "review": 1, "total": 2, "last_at": T0 - 60},
    ]
    assert [
        r["sender"] for r in sender_ranking(store_engine, since=SINCE, until=UNTIL, limit=1)
    ] == ["spammer"]


def test_keyword_ranking_unnests_the_json_lists_of_intercepted_checks(
    store_engine: sa.Engine,
) -> None:
    insert_checks(
        store_engine,
        {"decision": "BLOCK", "keywords": ["加微信", "赌博"]},
        {"decision": "BLOCK", "keywords": ["加微信"]},
        {"decision": "REVIEW", "keywords": ["加微信", "代购"]},
        {"decision": "REVIEW", "keywords": ["代购", "代购"]},  # counted once per check
        {"decision": "PASS", "keywords": ["加微信", "pass-only"]},  # not intercepted
        {"decision": "BLOCK", "keywords": []},
        {"decision": "BLOCK", "keywords": ["old"], "created_at": SINCE - 1},
    )
    assert keyword_ranking(store_engine, since=SINCE, until=UNTIL) == [
        {"keyword": "加微信", "count": 3},
        {"keyword": "代购", "count": 2},
        {"keyword": "赌博", "count": 1},
    ]
    assert keyword_ranking(store_engine, since=SINCE, until=UNTIL, limit=2)[-1]["keyword"] == "代购"


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_a_ranking_limit_out_of_range_is_invalid(store_engine: sa.Engine, limit: int) -> None:
    with pytest.raises(InvalidContent, match="limit"):
        sender_ranking(store_engine, since=SINCE, until=UNTIL, limit=limit)
    with pytest.raises(InvalidContent, match="limit"):
        keyword_ranking(store_engine, since=SINCE, until=UNTIL, limit=limit)


def test_hourly_counts_per_hour_decision_and_label(store_engine: sa.Engine) -> None:
    hour = (T0 // HOUR) * HOUR
    insert_checks(
        store_engine,
        {"created_at": hour, "decision": "BLOCK", "label": "PORN"},
        {"created_at": hour + HOUR - 0.5, "decision": "BLOCK", "label": "PORN"},
        {"created_at": hour + 1, "decision": "PASS", "label": "NORMAL"},
        {"created_at": hour + HOUR, "decision": "BLOCK", "label": "PORN"},
        {"created_at": hour - 2 * HOUR + 0.9, "decision": None, "label": None},
    )
    assert hourly(store_engine, hour - 5 * HOUR, hour + 2 * HOUR) == [
        {"hour": int(hour - 2 * HOUR), "decision": None, "label": None, "count": 1},
        {"hour": int(hour), "decision": "BLOCK", "label": "PORN", "count": 2},
        {"hour": int(hour), "decision": "PASS", "label": "NORMAL", "count": 1},
        {"hour": int(hour + HOUR), "decision": "BLOCK", "label": "PORN", "count": 1},
    ]


# parse_range needs no database


NOW = 1_714_550_400.0  # 2024-05-01T08:00:00Z


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (None, None, (NOW - 86400, NOW)),
        ("90s", None, (NOW - 90, NOW)),
        ("15m", "5m", (NOW - 900, NOW - 300)),
        (" 7d ", None, (NOW - 7 * 86400, NOW)),
        ("2w", None, (NOW - 14 * 86400, NOW)),
        ("2024-05-01", None, (NOW - 8 * 3600, NOW)),
        ("2024-05-01T07:00:00+08:00", "2024-05-01T08:00:00", (NOW - 9 * 3600, NOW)),
    ],
)
def test_parse_range_reads_durations_and_iso_times(
    since: str | None, until: str | None, expected: tuple[float, float]
) -> None:
    assert parse_range(since, until, now=NOW) == expected


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("banana", None, "neither a duration"),
        ("-5h", None, "neither a duration"),
        ("5h", "-1h", "neither a duration"),
        ("24H", None, "neither a duration"),
        ("1.5h", None, "neither a duration"),
        ("0h", None, "empty"),
        ("1h", "2h", "empty"),
        ("2024-05-02", "2024-05-01", "empty"),
        ("999999999999d", None, "century"),
        ("", None, "neither a duration"),
        ("x" * 10_000, None, "neither a duration"),
    ],
)
def test_parse_range_refuses_a_bad_or_empty_range(
    since: str, until: str | None, message: str
) -> None:
    with pytest.raises(InvalidContent, match=message) as caught:
        parse_range(since, until, now=NOW)
    assert len(str(caught.value)) < 300


@given(since=st.text(max_size=60), until=st.one_of(st.none(), st.text(max_size=60)))
def test_parse_range_of_any_text_is_a_range_or_invalid(since: str, until: str | None) -> None:
    try:
        start, end = parse_range(since, until, now=NOW)
    except InvalidContent:
        return
    assert 0.0 <= start < end


def test_parse_range_at_the_ends_of_time() -> None:
    last = 253_402_300_799.0  # 9999-12-31T23:59:59Z
    assert parse_range("1h", "9999-12-31T23:59:59-23:59", now=NOW) == (NOW - 3600, last)
    assert parse_range("0001-01-01", None, now=NOW) == (0.0, NOW)
    for since, until in [
        ("9999-12-31T23:59:59-23:59", None),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+02:00"),
    ]:
        with pytest.raises(InvalidContent, match="empty"):
            parse_range(since, until, now=NOW)
