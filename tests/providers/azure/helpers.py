"""Shared builders for the Azure tests: the fake key, config, emulator, moderators."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from moderation_azure import AzureContentSafetyProvider
from moderation_azure.emulator import AzureEmulator, make_emulator
from moderation_core import AsyncModerator, Moderator
from moderation_core.testing import RecordingTransport
from tests import fake_secrets as secrets
from tests.support.providers import Handler, transport

# A made-up key in the vendor's shape; test_secrets.py here proves it never leaks.
API_KEY = secrets.AZURE_API_KEY
ENDPOINT = "https://contoso.cognitiveservices.azure.com"
HOST = "contoso.cognitiveservices.azure.com"
TEXT_PATH = "/contentsafety/text:analyze"
IMAGE_PATH = "/contentsafety/image:analyze"
IMAGE_URL = "https://images.example.com/cat.png"


def emulator(**options: Any) -> AzureEmulator:
    return make_emulator(**{"api_key": API_KEY, **options})


def table(**overrides: Any) -> dict[str, Any]:
    """A ``[providers.azure]`` table with the fake key, no rate limit (tests send fast)."""
    result: dict[str, Any] = {
        "type": "azure_content_safety",
        "endpoint": ENDPOINT,
        "api_key": API_KEY,
        "rate_limit": 0,
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def config(**overrides: Any) -> dict[str, Any]:
    return {"providers": {"azure": table(**overrides)}}


def provider(**overrides: Any) -> AzureContentSafetyProvider:
    return AzureContentSafetyProvider(
        "azure", AzureContentSafetyProvider.read_config("azure", table(**overrides), "<test>")
    )


def moderator(handler: Handler | RecordingTransport, **overrides: Any) -> Moderator:
    return Moderator.from_config(config(**overrides), transport=transport(handler))


def async_moderator(handler: Handler | RecordingTransport, **overrides: Any) -> AsyncModerator:
    return AsyncModerator.from_config(config(**overrides), transport=transport(handler))


def error_body(code: str, message: str = "details") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def analysis(
    severities: Mapping[str, int | None] | None = None,
    matches: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """An AnalyzeTextResult: every category 0 unless ``severities`` says otherwise
    (None leaves the severity out); ``matches`` are (blocklist, item text)."""
    values: dict[str, int | None] = {"Hate": 0, "SelfHarm": 0, "Sexual": 0, "Violence": 0}
    values.update(severities or {})
    return {
        "blocklistsMatch": [
            {"blocklistName": name, "blocklistItemId": f"id-{n}", "blocklistItemText": text}
            for n, (name, text) in enumerate(matches or [])
        ],
        "categoriesAnalysis": [
            {"category": c} if s is None else {"category": c, "severity": s}
            for c, s in values.items()
        ],
    }


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)
