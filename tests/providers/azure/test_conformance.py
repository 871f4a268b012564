"""The conformance check of ``moderation_core.testing``, against the emulator: with
the defaults, with other settings and its own key, and served over real HTTP."""

from __future__ import annotations

from moderation_azure.emulator import DEMO_API_KEY, make_emulator
from moderation_core.testing import assert_conforms, serve

from .helpers import API_KEY, ENDPOINT


def test_conforms_against_its_own_emulator() -> None:
    report = assert_conforms(
        {"type": "azure_content_safety", "api_key": DEMO_API_KEY, "endpoint": ENDPOINT},
        item_error="[[fault:invalid]] this one fails",
    )
    passed = {r.name for r in report.results if r.outcome == "passed"}
    assert any("per-item error" in name for name in passed)
    assert any("no secret" in name for name in passed)
    assert any("every declared content type" in name for name in passed)  # an image too


def test_conforms_with_eight_levels_blocklists_and_its_own_key() -> None:
    assert_conforms(
        {
            "type": "azure_content_safety",
            "api_key": API_KEY,
            "endpoint": ENDPOINT,
            "output_type": "EightSeverityLevels",
            "blocklists": ["TestBlocklist"],
            "categories": ["Hate", "Sexual"],
        },
        emulator=lambda: make_emulator(api_key=API_KEY),
    )


def test_conforms_over_real_http() -> None:
    with serve(make_emulator(api_key=API_KEY)) as url:
        assert_conforms(
            {"type": "azure_content_safety", "api_key": API_KEY, "endpoint": url},
            emulator=lambda: make_emulator(api_key=API_KEY),
        )
