"""`moderation providers` lists ``openai``; `moderation emulate openai` serves the
emulator over real HTTP, with its options from ``--set``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moderation_core import Decision, Label, Moderator, RateLimited
from tests.support.cli import emulated, listed_providers, quick_failures

from .helpers import table

CLI_KEY = "sk-from-the-cli-0000000000"


@pytest.fixture
def served() -> Iterator[str]:
    with emulated("openai", {"api_key": CLI_KEY, "rpm": "2", "retry_after_ms": "none"}) as url:
        yield url


def test_providers_lists_openai() -> None:
    listed = listed_providers()
    assert "openai" in listed
    assert "OpenAI Moderation" in listed


def test_the_cli_serves_the_emulator_with_its_options(served: str) -> None:
    with Moderator({"providers": {"openai": table(api_key=CLI_KEY, base_url=served)}}) as mod:
        verdict = mod.check("you idiot")
        assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.ABUSE)
        # rpm=2 from --set: of five quick requests at least three share a minute window.
        errors = quick_failures(mod, 4)
    assert errors
    assert all(isinstance(e, RateLimited) for e in errors)
    # retry_after_ms=none left retry-after-ms out: retry-after (1 s) is what was read
    assert {e.retry_after for e in errors if isinstance(e, RateLimited)} == {1.0}
