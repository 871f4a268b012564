"""Shared builders for the OpenAI tests: the fake key, config, emulator, moderators."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from moderation_core import Moderator
from moderation_core.testing import RecordingTransport
from moderation_openai import CATEGORIES, OpenAIProvider
from moderation_openai.emulator import OpenAIEmulator, make_emulator
from tests import fake_secrets as secrets
from tests.support.providers import Handler, transport

# A made-up key in the vendor's shape; tests/test_secrets.py here proves it never leaks.
API_KEY = secrets.OPENAI_API_KEY
BASE_URL = "http://openai.test"
PATH = "/v1/moderations"


def emulator(**options: Any) -> OpenAIEmulator:
    return make_emulator(**{"api_key": API_KEY, **options})


def table(**overrides: Any) -> dict[str, Any]:
    """A ``[providers.openai]`` table with the fake key, no rate limit (tests send fast)."""
    result: dict[str, Any] = {
        "type": "openai",
        "api_key": API_KEY,
        "base_url": BASE_URL,
        "rate_limit": 0,
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def config(**overrides: Any) -> dict[str, Any]:
    return {"providers": {"openai": table(**overrides)}}


def provider(**overrides: Any) -> OpenAIProvider:
    return OpenAIProvider(
        "openai", OpenAIProvider.read_config("openai", table(**overrides), "<test>")
    )


def moderator(handler: Handler | RecordingTransport, **overrides: Any) -> Moderator:
    return Moderator.from_config(config(**overrides), transport=transport(handler))


def error_body(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def result(
    scores: Mapping[str, float | None] | None = None,
    flags: Mapping[str, bool | None] | None = None,
    *,
    flagged: bool | None = None,
) -> dict[str, Any]:
    """One result: every category low unless ``scores`` says otherwise; flags from the
    scores at 0.5 unless ``flags`` says otherwise."""
    all_scores: dict[str, float | None] = dict.fromkeys(CATEGORIES, 0.00001)
    all_scores.update(scores or {})
    all_flags: dict[str, bool | None] = {
        k: (v is not None and v >= 0.5) for k, v in all_scores.items()
    }
    all_flags.update(flags or {})
    return {
        "flagged": any(all_flags.values()) if flagged is None else flagged,
        "categories": all_flags,
        "category_scores": all_scores,
    }


def response(*results: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": "modr-test", "model": "omni-moderation-latest", "results": list(results)}


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)
