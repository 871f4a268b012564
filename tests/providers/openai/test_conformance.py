"""The conformance check of ``moderation_core.testing``, against the emulator: with
the defaults, with a text-moderation model (text only), and served over real HTTP."""

from __future__ import annotations

from moderation_core.testing import assert_conforms
from moderation_openai.emulator import DEMO_API_KEY, make_emulator

from .helpers import API_KEY


def test_conforms_against_its_own_emulator() -> None:
    report = assert_conforms({"type": "openai", "api_key": DEMO_API_KEY})
    passed = {r.name for r in report.results if r.outcome == "passed"}
    assert any("batch" in name for name in passed)
    assert any("no secret" in name for name in passed)


def test_conforms_with_a_text_model_small_batches_and_its_own_key() -> None:
    assert_conforms(
        {
            "type": "openai",
            "api_key": API_KEY,
            "model": "text-moderation-latest",
            "batch_size": 2,
            "organization": "org-conf",
        },
        emulator=lambda: make_emulator(api_key=API_KEY, organization="org-conf"),
    )
