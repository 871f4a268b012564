"""Errors as RFC 9457 problem details (``application/problem+json``).

Every answer outside a 200 is one of these: ``type`` (a URN naming the problem, listed
in docs/service.md), ``title``, ``status``, ``detail``, plus the ``request_id``. A
detail is written for the caller and never holds a stack trace, a secret or the
message text of someone else's request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import attrs
from starlette.responses import Response

__all__ = ["PROBLEM_TYPES", "Problem", "problem_body", "problem_response"]

PROBLEM_MEDIA_TYPE = "application/problem+json"

# slug -> (status, title); the type URI is "urn:moderation-core:problem:<slug>".
PROBLEM_TYPES: Mapping[str, tuple[int, str]] = {
    "invalid-json": (400, "The body is not JSON"),
    "invalid-request": (400, "The request does not have the documented shape"),
    "too-many-contents": (400, "Too many contents in one request"),
    "unauthorized": (401, "A valid API key is required"),
    "forbidden": (403, "The callback failed verification"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "review-closed": (409, "The review item is already decided"),
    "body-too-large": (413, "The body is larger than max_body_bytes"),
    "invalid-content": (422, "A content cannot be checked"),
    "internal-error": (500, "Internal error"),
    "providers-failed": (503, "Every provider failed"),
    "store-unavailable": (503, "The store's database does not answer"),
}


@attrs.frozen
class Problem(Exception):
    """Raised by an endpoint to answer with a problem; ``slug`` is a PROBLEM_TYPES key."""

    slug: str
    detail: str
    headers: Mapping[str, str] = attrs.field(factory=dict)

    def __str__(self) -> str:
        return f"{self.slug}: {self.detail}"


def problem_body(slug: str, detail: str, request_id: str | None) -> bytes:
    status, title = PROBLEM_TYPES[slug]
    body: dict[str, object] = {
        "type": f"urn:moderation-core:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request_id is not None:
        body["request_id"] = request_id
    return json.dumps(body).encode()


def problem_response(
    slug: str,
    detail: str,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    status, _ = PROBLEM_TYPES[slug]
    return Response(
        problem_body(slug, detail, request_id),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )
