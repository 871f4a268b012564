"""The OpenAPI 3.1 document served at ``/openapi.json``, written by hand: the contract
is SERVICE.md's, not whatever a framework would infer from the code, and a test
validates this document and checks real answers against its schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES

__all__ = ["openapi_document"]

_NULLABLE_STRING = {"type": ["string", "null"]}
_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str, headers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": _ref("Problem")}},
    }
    if headers:
        answer["headers"] = dict(headers)
    return answer


_SCHEMAS: dict[str, Any] = {
    "Item": {
        "description": "A text (a string), or a typed content; media values are http(s) URLs.",
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "required": ["type", "value"],
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["text", "image", "audio", "video"]},
                    "value": {"type": "string"},
                    "id": {"type": ["string", "integer"]},
                },
            },
        ],
    },
    "CheckRequest": {
        "type": "object",
        "required": ["contents"],
        "additionalProperties": False,
        "properties": {
            "contents": {
                "type": "array",
                "minItems": 1,
                "description": "At most [serve] max_contents items (default 100).",
                "items": _ref("Item"),
            },
            "scene": _NULLABLE_STRING,
            "sender": _NULLABLE_STRING,
            "receiver": _NULLABLE_STRING,
        },
    },
    "Verdict": {
        "type": "object",
        "required": ["decision", "label"],
        "properties": {
            "decision": {"enum": ["PASS", "PENDING", "REVIEW", "BLOCK"]},
            "label": {
                "enum": [
                    "NORMAL",
                    "POLITICS",
                    "PORN",
                    "SEXY",
                    "ABUSE",
                    "HATE",
                    "VIOLENCE",
                    "SELF_HARM",
                    "ILLEGAL",
                    "AD",
                    "OTHER",
                    "UNKNOWN",
                ]
            },
            "sublabel": _NULLABLE_STRING,
            "score": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
            "keywords": {"type": "array", "items": {"type": "string"}},
            "masked_text": _NULLABLE_STRING,
            "provider": _NULLABLE_STRING,
            "vendor_label": _NULLABLE_STRING,
            "request_id": _NULLABLE_STRING,
            "content_id": {"type": ["string", "integer", "null"]},
            "fallback": {
                "type": "boolean",
                "description": "True when no provider answered and fail_mode decided.",
            },
            "cached": {
                "type": "boolean",
                "description": "True when the verdict came from the verdict cache.",
            },
            "prefiltered": {
                "type": "boolean",
                "description": "True when the local pre-filter blocked it before any vendor.",
            },
            "check_id": {"type": "string", "description": "With a [store] configured."},
        },
    },
    "ItemError": {
        "type": "object",
        "required": ["type", "message", "retryable"],
        "properties": {
            "type": {
                "type": "string",
                "description": "The error class: AllProvidersFailed, InvalidContent, ...",
            },
            "message": {"type": "string"},
            "retryable": {"type": "boolean"},
        },
    },
    "Result": {
        "oneOf": [
            {
                "type": "object",
                "required": ["verdict"],
                "additionalProperties": False,
                "properties": {"verdict": _ref("Verdict")},
            },
            {
                "type": "object",
                "required": ["error"],
                "additionalProperties": False,
                "properties": {"error": _ref("ItemError")},
            },
        ]
    },
    "CheckResponse": {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": _ref("Result")}},
    },
    "Outcome": {
        "type": "object",
        "required": ["action", "text", "reason", "verdict"],
        "properties": {
            "action": {"enum": ["ALLOW", "REVIEW", "BLOCK", "MASK"]},
            "text": _NULLABLE_STRING,
            "reason": {"type": "string"},
            "verdict": {"oneOf": [_ref("Verdict"), {"type": "null"}]},
            "check_id": {
                "type": "string",
                "description": "With a [store]: the evaluate's record, verdict or not.",
            },
        },
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {
                "type": "string",
                "enum": [f"urn:moderation-core:problem:{slug}" for slug in PROBLEM_TYPES],
            },
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "request_id": {"type": "string"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"enum": ["ready", "not ready"]},
            "checks": {
                "type": "object",
                "description": "Each check (provider:NAME, redis, store) and its problem, "
                "null when fine.",
                "additionalProperties": _NULLABLE_STRING,
            },
        },
    },
}

_COMMON = {
    "400": _problem("Malformed JSON, a body of the wrong shape, or too many contents."),
    "401": _problem("A missing or wrong API key."),
    "413": _problem("The body is larger than max_body_bytes."),
}
_REQUEST_ID_HEADER = {
    "X-Request-Id": {
        "description": "The caller's id when it sent a sane one, else a fresh one.",
        "schema": {"type": "string"},
    }
}
_CHECK_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _ref("CheckRequest")}},
}


def _paths() -> dict[str, Any]:
    retry_after = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}
    return {
        "/v1/check": {
            "post": {
                "operationId": "check",
                "summary": "A verdict per content, in order",
                "security": [{"apiKey": []}],
                "requestBody": _CHECK_BODY,
                "responses": {
                    "200": _json(_ref("CheckResponse"), "One result per item, in order.")
                    | {"headers": _REQUEST_ID_HEADER},
                    **_COMMON,
                },
            }
        },
        "/v1/evaluate": {
            "post": {
                "operationId": "evaluate",
                "summary": "The policy's outcome for one message made of the contents",
                "security": [{"apiKey": []}],
                "requestBody": _CHECK_BODY,
                "responses": {
                    "200": _json(_ref("Outcome"), "What policy decided.")
                    | {"headers": _REQUEST_ID_HEADER},
                    **_COMMON,
                    "422": _problem("A content cannot be checked (empty text, non-http URL)."),
                    "503": _problem(
                        "Every provider failed and fail_mode is raise.", headers=retry_after
                    ),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "200 while the process serves",
                "security": [],
                "responses": {"200": _json(_ref("Health"), "Serving.")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Providers, Redis and the store reachable",
                "security": [],
                "responses": {
                    "200": _json(_ref("Readiness"), "Everything answers."),
                    "503": _json(_ref("Readiness"), "Something does not; checks names it."),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus text exposition",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
            }
        },
    }


def openapi_document(
    extra_paths: Mapping[str, Any],
    version: str,
    extra_schemas: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document, with the hooks' and the store's path items (``extra_paths``)
    beside the API's, and the schemas they refer to (``extra_schemas``)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "moderation-core",
            "version": version,
            "description": "One moderation API over chat content-moderation vendors "
            "(docs/service.md).",
        },
        "paths": _paths() | dict(extra_paths),
        "components": {
            "schemas": _SCHEMAS | dict(extra_schemas or {}),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }
