"""What the pages show, turned from store rows into safe markup and chart data.

Everything a page shows came from someone else: message text, sender ids, keywords,
labels a plugin made up. Text reaches HTML only through Jinja's autoescape or
``markupsafe.escape`` here, and chart data reaches the page only as JSON inside a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` written as
``\\u`` escapes, so no string can close the block or open a tag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

__all__ = [
    "MAX_SHOWN_CHARS",
    "chart_data",
    "highlight",
    "is_web_url",
    "json_for_script",
    "shown_time",
]

MAX_SHOWN_CHARS = 5000  # of one content: a reviewer reads a message, not a book
MAX_KEYWORDS = 50  # highlighted per item; the pattern stays small whatever a vendor sent
MAX_KEYWORD_CHARS = 256
_HOUR = 3600


def highlight(text: str | None, keywords: Iterable[object]) -> Markup:
    """``text`` escaped, each keyword occurrence in ``<mark>``, cut at MAX_SHOWN_CHARS."""
    if not text:
        return Markup("")
    shown = text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"
    words = sorted(
        {w[:MAX_KEYWORD_CHARS] for w in keywords if isinstance(w, str) and w.strip()},
        key=lambda w: (-len(w), w),
    )[:MAX_KEYWORDS]
    if not words:
        return escape(shown)
    # Longest first, so a keyword inside a longer one marks the longer one.
    pattern = re.compile("|".join(re.escape(w) for w in words))
    parts: list[str] = []
    last = 0
    for match in pattern.finditer(shown):
        parts.append(escape(shown[last : match.start()]))
        parts.append(Markup("<mark>%s</mark>") % match.group())
        last = match.end()
    parts.append(escape(shown[last:]))
    return Markup("").join(parts)


def is_web_url(value: str | None) -> bool:
    """Whether a media content may be shown as a link (http and https only: never a
    ``javascript:`` or ``data:`` URL a hostile sender chose)."""
    if not value:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def shown_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return ""


def json_for_script(data: object) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no
    comment opener, whatever the strings hold."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # noqa: S704 - escaped for this context just above


def _name(value: object, missing: str) -> str:
    return missing if value is None else str(value)


def chart_data(
    *,
    summary: Mapping[str, Any],
    per_hour: Sequence[Mapping[str, Any]],
    senders: Sequence[Mapping[str, Any]],
    keywords: Sequence[Mapping[str, Any]],
    since: float,
    until: float,
) -> dict[str, Any]:
    """The dashboard's six charts as Chart.js-shaped ``{labels, datasets}`` (the
    script picks colours and kinds), from ``store._stats``' answers."""
    return {
        "hourly": _hourly(per_hour, since, until),
        "latency": {
            "labels": [_name(p["provider"], "?") for p in summary["providers"]],
            "datasets": [
                {"label": "p50 (ms)", "data": [p.get("p50_ms") for p in summary["providers"]]},
                {"label": "p95 (ms)", "data": [p.get("p95_ms") for p in summary["providers"]]},
            ],
        },
        "rates": {
            "labels": ["fallback", "failover", "cache hit", "decided locally"],
            "datasets": [
                {
                    "label": "share of checks (%)",
                    "data": [
                        _percent(summary.get(key))
                        for key in (
                            "fallback_rate",
                            "failover_rate",
                            "cache_hit_rate",
                            "prefilter_rate",
                        )
                    ],
                }
            ],
        },
        "senders": {
            "labels": [_name(s["sender"], "?") for s in senders],
            "datasets": [
                {"label": "blocked", "data": [s["blocked"] for s in senders]},
                {"label": "sent to review", "data": [s["review"] for s in senders]},
            ],
        },
        "keywords": {
            "labels": [_name(k["keyword"], "?") for k in keywords],
            "datasets": [{"label": "checks", "data": [k["count"] for k in keywords]}],
        },
        "precision": {
            "labels": [
                f"{_name(p['provider'], '?')} · {_name(p['label'], '-')} · {p['decision']}"
                for p in summary["precision"]
            ],
            "datasets": [
                {
                    "label": "upheld by a reviewer (%)",
                    "data": [_percent(p.get("precision")) for p in summary["precision"]],
                },
            ],
        },
    }


def _percent(rate: object) -> float | None:
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        return round(rate * 100, 1)
    return None


def _hourly(rows: Sequence[Mapping[str, Any]], since: float, until: float) -> dict[str, Any]:
    """Every hour of the range on the x axis (empty hours too: a gap is news), one
    stacked dataset per label."""
    first = int(since // _HOUR) * _HOUR
    hours = list(range(first, int(until), _HOUR)) or [first]
    position = {hour: index for index, hour in enumerate(hours)}
    counts: dict[str, list[int]] = {}
    for row in rows:
        index = position.get(int(row["hour"]))
        if index is None:
            continue
        series = counts.setdefault(_name(row["label"], "(error)"), [0] * len(hours))
        series[index] += int(row["count"])
    return {
        "labels": [datetime.fromtimestamp(h, UTC).strftime("%m-%d %H:00") for h in hours],
        "datasets": [{"label": label, "data": data} for label, data in sorted(counts.items())],
    }
