"""Statistics, rankings and the review queue over HTTP (docs/review.md, docs/store.md):

    GET  /v1/stats               counts, latency percentiles, rates, reviewer precision
    GET  /v1/rankings/senders    the most blocked senders
    GET  /v1/rankings/keywords   the most intercepted keywords
    GET  /v1/reviews             the queue (status=open by default), a page at a time
    GET  /v1/reviews/{id}        one item
    POST /v1/reviews/{id}        a person's decision: approve | reject

All need the API key and a ``[store]``: without one they answer a 404 problem saying
so (the routes exist, the resource does not). Query parameters are read strictly: an
unknown or repeated one is a 400, like a bad value. The database work is blocking
SQLAlchemy, run in the thread pool so the event loop keeps serving checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moderation_core._errors import InvalidContent
from moderation_core.store._reviews import (
    MAX_PAGE,
    STATUSES,
    ReviewClosed,
    ReviewNotFound,
    ReviewQueue,
)
from moderation_core.store._stats import (
    BY_COLUMNS,
    MAX_RANKING,
    keyword_ranking,
    parse_range,
    sender_ranking,
    stats,
)

from ._api import decode_json, encode_json
from ._notify import outbox_written
from ._problems import Problem
from ._state import service_state

if TYPE_CHECKING:
    from moderation_core.store._store import Store

__all__ = ["REVIEW_SCHEMAS", "review_routes", "reviews_openapi_paths"]

_T = TypeVar("_T")
_DECISION_KEYS: Final = frozenset({"decision", "reviewer", "note"})
_RANKING_DEFAULT: Final = 20
_PAGE_DEFAULT: Final = 50


def review_routes() -> list[BaseRoute]:
    return [
        Route("/v1/stats", stats_endpoint, methods=["GET"]),
        Route("/v1/rankings/senders", senders_endpoint, methods=["GET"]),
        Route("/v1/rankings/keywords", keywords_endpoint, methods=["GET"]),
        Route("/v1/reviews", reviews_endpoint, methods=["GET"]),
        Route("/v1/reviews/{review_id:int}", review_endpoint, methods=["GET", "POST"]),
    ]


# -- the endpoints -----------------------------------------------------------------------


async def stats_endpoint(request: Request) -> Response:
    store = _store(request)
    query = _query(request, {"since", "until", "by"})
    since, until = _range(query, store.clock())
    by = query.get("by", "decision")
    return _json(await _run(stats, store.engine, since=since, until=until, by=by))


async def senders_endpoint(request: Request) -> Response:
    return await _ranking(request, "senders", sender_ranking)


async def keywords_endpoint(request: Request) -> Response:
    return await _ranking(request, "keywords", keyword_ranking)


async def _ranking(
    request: Request, name: str, ranking: Callable[..., list[dict[str, Any]]]
) -> Response:
    store = _store(request)
    query = _query(request, {"since", "until", "limit"})
    since, until = _range(query, store.clock())
    limit = _integer(query, "limit", _RANKING_DEFAULT)
    rows = await _run(ranking, store.engine, since=since, until=until, limit=limit)
    return _json({"since": since, "until": until, name: rows})


async def reviews_endpoint(request: Request) -> Response:
    store = _store(request)
    query = _query(request, {"status", "limit", "after"})
    limit = _integer(query, "limit", _PAGE_DEFAULT)
    after = _integer(query, "after", None)
    queue = ReviewQueue(store.engine, clock=store.clock)
    items = await _run(queue.list, query.get("status", "open"), limit=limit, after=after)
    following = items[-1].id if len(items) == limit else None
    return _json({"items": [item.to_dict() for item in items], "next": following})


async def review_endpoint(request: Request) -> Response:
    store = _store(request)
    review_id: int = request.path_params["review_id"]
    queue = ReviewQueue(store.engine, clock=store.clock)
    _query(request, set())
    if request.method == "GET":
        item = await _run(queue.get, review_id)
    else:
        body = _decision_body(decode_json(await request.body()))
        item = await _run(queue.decide, review_id, **body)
        outbox_written(service_state(request))  # review.decided: send it now
    return _json(item.to_dict())


# -- reading the request -----------------------------------------------------------------


def _store(request: Request) -> Store:
    store = service_state(request).store
    if store is None:
        raise Problem(
            "not-found",
            "no store configured: statistics, rankings and reviews need a [store] table "
            "(docs/store.md)",
        )
    return store


def _query(request: Request, allowed: set[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise Problem(
                "invalid-request", f"unknown query parameter {key[:40]!r} (known: {known})"
            )
        if key in seen:
            raise Problem("invalid-request", f"query parameter {key} is given twice")
        seen[key] = value
    return seen


def _range(query: Mapping[str, str], now: float) -> tuple[float, float]:
    try:
        return parse_range(query.get("since"), query.get("until"), now=now)
    except InvalidContent as exc:
        raise Problem("invalid-request", str(exc)) from None


def _integer(query: Mapping[str, str], key: str, default: _T) -> int | _T:
    text = query.get(key)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise Problem("invalid-request", f"{key} must be a whole number, got {text[:40]!r}")
    return int(text)


def _decision_body(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Problem("invalid-request", "the body must be a JSON object")
    unknown = sorted(str(key)[:40] for key in data if key not in _DECISION_KEYS)
    if unknown:
        raise Problem("invalid-request", f"unknown field(s): {', '.join(unknown)}")
    for key in ("decision", "reviewer"):
        if key not in data:
            raise Problem("invalid-request", f"{key} is required")
    # The queue checks the values (types, lengths, Unicode): InvalidContent -> 400.
    return {key: data.get(key) for key in _DECISION_KEYS}


# -- answering ---------------------------------------------------------------------------


async def _run(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``function`` in the thread pool, its errors as problems."""
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except InvalidContent as exc:
        raise Problem("invalid-request", str(exc)) from None
    except ReviewNotFound as exc:
        raise Problem("not-found", str(exc)) from None
    except ReviewClosed as exc:
        raise Problem("review-closed", str(exc)) from None
    except sa.exc.SQLAlchemyError as exc:
        # The type only: a driver's message may quote the URL or a row.
        raise Problem(
            "store-unavailable", f"the store did not answer ({type(exc).__name__}); try again"
        ) from None


def _json(data: Any) -> Response:
    return Response(encode_json(data), media_type="application/json")


# -- the OpenAPI path items --------------------------------------------------------------

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_MEDIA = "application/problem+json"


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_PROBLEM_MEDIA: {"schema": _PROBLEM}}}


def _ok(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _parameter(name: str, description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": dict(schema),
    }


_NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_TIME = {"type": "number", "description": "Unix seconds."}
_RANGE_PARAMETERS = [
    _parameter(
        "since",
        "Start of the range: a duration before now (90s, 15m, 24h, 7d, 2w) or an ISO "
        "8601 time (no zone: UTC). Default 24h.",
        {"type": "string"},
    ),
    _parameter(
        "until",
        "End of the range (excluded), written like since. Default now.",
        {"type": "string"},
    ),
]
_RANKING_LIMIT = _parameter(
    "limit",
    f"Rows to return, 1 to {MAX_RANKING}.",
    {"type": "integer", "minimum": 1, "maximum": MAX_RANKING, "default": _RANKING_DEFAULT},
)
_REVIEW_ID = {
    "name": "review_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
_NO_STORE = _problem("No such review item, or no [store] configured.")
_BAD_QUERY = _problem("An unknown, repeated or bad query parameter (since=banana, ...).")
_UNAVAILABLE = _problem("The store's database did not answer.")
_UNAUTHORIZED = _problem("A missing or wrong API key.")


def _count_of(key_schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["count"],
        "properties": {"count": {"type": "integer", "minimum": 0}} | dict(key_schema),
    }


REVIEW_SCHEMAS: Final[dict[str, Any]] = {
    "Stats": {
        "type": "object",
        "required": ["since", "until", "by", "total", "buckets", "providers", "precision"],
        "properties": {
            "since": _TIME,
            "until": _TIME,
            "by": {"enum": list(BY_COLUMNS)},
            "total": {"type": "integer", "description": "Checks and evaluates recorded."},
            "errors": {"type": "integer", "description": "Those that got no verdict."},
            "pending": {"type": "integer", "description": "Media still awaiting a result."},
            "buckets": {
                "type": "array",
                "description": "Count per value of `by` (null: none recorded), largest first.",
                "items": _count_of({"key": _NULLABLE_STRING}),
            },
            "fallback_rate": _NULLABLE_RATE,
            "failover_rate": _NULLABLE_RATE,
            "cache_hit_rate": _NULLABLE_RATE,
            "prefilter_rate": _NULLABLE_RATE,
            "billable": {"type": "integer", "description": "Vendor items paid for."},
            "providers": {
                "type": "array",
                "items": _count_of(
                    {
                        "provider": {"type": "string"},
                        "billable": {"type": "integer"},
                        "failed_over": {"type": "integer"},
                        "p50_ms": _NULLABLE_NUMBER,
                        "p95_ms": _NULLABLE_NUMBER,
                    }
                ),
            },
            "precision": {
                "type": "array",
                "description": "Per provider, label and decision under review: how often "
                "a person upheld it (reject) or overturned it (approve).",
                "items": {
                    "type": "object",
                    "required": ["provider", "label", "decision", "reviewed", "upheld"],
                    "properties": {
                        "provider": _NULLABLE_STRING,
                        "label": _NULLABLE_STRING,
                        "decision": {"type": "string"},
                        "reviewed": {"type": "integer"},
                        "upheld": {"type": "integer"},
                        "overturned": {"type": "integer"},
                        "precision": _NULLABLE_RATE,
                    },
                },
            },
        },
    },
    "SenderRanking": {
        "type": "object",
        "required": ["since", "until", "senders"],
        "properties": {
            "since": _TIME,
            "until": _TIME,
            "senders": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sender", "blocked", "review", "total", "last_at"],
                    "properties": {
                        "sender": {"type": "string"},
                        "blocked": {"type": "integer"},
                        "review": {"type": "integer"},
                        "total": {"type": "integer"},
                        "last_at": _TIME,
                    },
                },
            },
        },
    },
    "KeywordRanking": {
        "type": "object",
        "required": ["since", "until", "keywords"],
        "properties": {
            "since": _TIME,
            "until": _TIME,
            "keywords": {"type": "array", "items": _count_of({"keyword": {"type": "string"}})},
        },
    },
    "ReviewItem": {
        "type": "object",
        "required": ["id", "check_id", "status", "opened_at", "verdict", "content_type"],
        "properties": {
            "id": {"type": "integer"},
            "check_id": {"type": "string"},
            "status": {"enum": ["open", "approved", "rejected"]},
            "opened_at": _TIME,
            "decided_at": _NULLABLE_NUMBER,
            "reviewer": _NULLABLE_STRING,
            "note": _NULLABLE_STRING,
            "verdict": {
                "type": "object",
                "required": ["decision", "keywords"],
                "properties": {
                    "provider": _NULLABLE_STRING,
                    "decision": {"type": "string"},
                    "label": _NULLABLE_STRING,
                    "sublabel": _NULLABLE_STRING,
                    "keywords": {"type": "array", "items": {"type": "string"}},
                },
            },
            "sender": _NULLABLE_STRING,
            "scene": _NULLABLE_STRING,
            "content_type": {"type": "string"},
            "content": {
                "type": ["string", "null"],
                "description": "The text with store.keep_content, else its masked form, else null.",
            },
        },
    },
    "ReviewPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ReviewItem"}},
            "next": {
                "type": ["integer", "null"],
                "description": "Pass as `after` for the next page; null on the last.",
            },
        },
    },
    "ReviewDecision": {
        "type": "object",
        "required": ["decision", "reviewer"],
        "additionalProperties": False,
        "properties": {
            "decision": {
                "enum": ["approve", "reject"],
                "description": "approve: the content is fine; reject: it is not (the "
                "verdict is upheld).",
            },
            "reviewer": {"type": "string", "minLength": 1, "maxLength": 256},
            "note": {"type": ["string", "null"], "maxLength": 4000},
        },
    },
}


def _get(operation: str, summary: str, schema: str, parameters: list[Any]) -> dict[str, Any]:
    return {
        "operationId": operation,
        "summary": summary,
        "security": [{"apiKey": []}],
        "parameters": parameters,
        "responses": {
            "200": _ok({"$ref": f"#/components/schemas/{schema}"}, summary),
            "400": _BAD_QUERY,
            "401": _UNAUTHORIZED,
            "404": _problem("No [store] configured."),
            "503": _UNAVAILABLE,
        },
    }


def reviews_openapi_paths() -> dict[str, Any]:
    """The path items of these endpoints, for ``/openapi.json`` (with REVIEW_SCHEMAS)."""
    item = {"$ref": "#/components/schemas/ReviewItem"}
    return {
        "/v1/stats": {
            "get": _get(
                "stats",
                "Counts, latency, rates and reviewer precision over a range",
                "Stats",
                [
                    *_RANGE_PARAMETERS,
                    _parameter(
                        "by",
                        "What the counts are per.",
                        {"enum": list(BY_COLUMNS), "default": "decision"},
                    ),
                ],
            )
        },
        "/v1/rankings/senders": {
            "get": _get(
                "senderRanking",
                "The most blocked senders",
                "SenderRanking",
                [*_RANGE_PARAMETERS, _RANKING_LIMIT],
            )
        },
        "/v1/rankings/keywords": {
            "get": _get(
                "keywordRanking",
                "The most intercepted keywords (of BLOCK and REVIEW verdicts)",
                "KeywordRanking",
                [*_RANGE_PARAMETERS, _RANKING_LIMIT],
            )
        },
        "/v1/reviews": {
            "get": _get(
                "listReviews",
                "The review queue, oldest first, a page at a time",
                "ReviewPage",
                [
                    _parameter(
                        "status", "Which items.", {"enum": list(STATUSES), "default": "open"}
                    ),
                    _parameter(
                        "limit",
                        f"Items per page, 1 to {MAX_PAGE}.",
                        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
                    ),
                    _parameter("after", "The `next` of the previous page.", {"type": "integer"}),
                ],
            )
        },
        "/v1/reviews/{review_id}": {
            "parameters": [_REVIEW_ID],
            "get": {
                "operationId": "getReview",
                "summary": "One review item",
                "security": [{"apiKey": []}],
                "responses": {
                    "200": _ok(item, "The item."),
                    "401": _UNAUTHORIZED,
                    "404": _NO_STORE,
                    "503": _UNAVAILABLE,
                },
            },
            "post": {
                "operationId": "decideReview",
                "summary": "A person's decision on an open item",
                "security": [{"apiKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ReviewDecision"}
                        }
                    },
                },
                "responses": {
                    "200": _ok(item, "The decided item; a review.decided event is sent."),
                    "400": _problem("Malformed JSON, or a body of the wrong shape."),
                    "401": _UNAUTHORIZED,
                    "404": _NO_STORE,
                    "409": _problem("The item was already decided (by someone else)."),
                    "413": _problem("The body is larger than max_body_bytes."),
                    "503": _UNAVAILABLE,
                },
            },
        },
    }
