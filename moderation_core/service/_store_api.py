"""``GET /v1/checks/{check_id}`` and the store's readiness check (docs/store.md).

A check's record, pending until the vendor's callback turns it final: the app polls
here for the audio and video verdicts that arrive later. The store is read in the
thread pool (SQLAlchemy is blocking); an unknown id, or no ``[store]``, is a 404
problem; a database that does not answer, 503.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._problems import Problem
from ._state import service_state

if TYPE_CHECKING:
    from moderation_core.store import Store

    from ._probes import ReadinessCheck

__all__ = ["STORED_CHECK_SCHEMA", "store_check", "store_openapi_paths", "store_routes"]

# A check id is a UUID (store._audit.new_check_id); anything else is no check of ours,
# answered without asking the database (PostgreSQL refuses a NUL in it as an error).
_CHECK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


async def stored_check(request: Request) -> Response:
    check_id = request.path_params["check_id"]
    store: Store | None = service_state(request).store
    if store is None:
        raise Problem(
            "not-found", "no store configured: add a [store] table to keep checks (docs/store.md)"
        )
    if _CHECK_ID.fullmatch(check_id) is None:
        raise Problem("not-found", "no check with this id (a check id is a UUID)")
    from moderation_core.store import StoreUnavailable  # noqa: PLC0415 - the store extra

    try:
        found = await run_in_threadpool(store.result, check_id)
    except StoreUnavailable as exc:
        raise Problem("store-unavailable", f"{exc}; try again") from None
    if found is None:
        raise Problem("not-found", "no check with this id (unknown, or purged by retention)")
    return Response(json.dumps(found.to_dict()).encode(), media_type="application/json")


def store_routes() -> list[Route]:
    return [Route("/v1/checks/{check_id}", stored_check, methods=["GET"])]


def store_check(store: Store) -> ReadinessCheck:
    """``/readyz``'s "store" check: the database answers with this version's schema."""

    async def ping() -> str | None:
        return await run_in_threadpool(store.ping)

    return ping


_PROBLEM = {
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
}

STORED_CHECK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["check_id", "status", "verdict", "created_at", "completed_at"],
    "properties": {
        "check_id": {"type": "string"},
        "status": {"enum": ["pending", "final"]},
        "verdict": {
            "description": "The latest verdict; null when the check failed (see error).",
            "oneOf": [{"$ref": "#/components/schemas/Verdict"}, {"type": "null"}],
        },
        "created_at": {"type": "number", "description": "Unix seconds."},
        "completed_at": {
            "type": ["number", "null"],
            "description": "Unix seconds when a pending check turned final.",
        },
        "kind": {"enum": ["check", "evaluate"]},
        "action": {"type": ["string", "null"], "description": "The policy's action (evaluate)."},
        "error": {"type": ["string", "null"], "description": "The error type of a failed check."},
    },
}


def store_openapi_paths() -> dict[str, Any]:
    return {
        "/v1/checks/{check_id}": {
            "get": {
                "summary": "A stored check: pending until the vendor's callback, then final",
                "parameters": [
                    {
                        "name": "check_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "A verdict's check_id.",
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The check.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/StoredCheck"}
                            }
                        },
                    },
                    "401": {"description": "A missing or wrong API key.", **_PROBLEM},
                    "404": {"description": "Unknown check, or no [store].", **_PROBLEM},
                    "503": {"description": "The store's database did not answer.", **_PROBLEM},
                },
            }
        }
    }
