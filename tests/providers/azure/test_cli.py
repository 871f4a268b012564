"""`moderation providers` lists ``azure_content_safety``; `moderation emulate
azure_content_safety` serves the emulator over real HTTP, with its options from
``--set``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moderation_core import Decision, Label, Moderator, RateLimited
from tests.support.cli import emulated, listed_providers, quick_failures

from .helpers import table

CLI_KEY = "c11c11c11c11c11c11c11c11c11c11c1"
SETTINGS = {"api_key": CLI_KEY, "rate_limit": "3", "blocklists": "House:forbidden words|nope"}


@pytest.fixture
def served() -> Iterator[str]:
    with emulated("azure_content_safety", SETTINGS) as url:
        yield url


def test_providers_lists_azure() -> None:
    listed = listed_providers()
    assert "azure_content_safety" in listed
    assert "Azure AI Content" in listed


def test_the_cli_serves_the_emulator_with_its_options(served: str) -> None:
    provider_table = table(api_key=CLI_KEY, endpoint=served, blocklists=["House"])
    with Moderator({"providers": {"azure": provider_table}}) as mod:
        verdict = mod.check("nope, kill them")
        assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.VIOLENCE)
        assert verdict.keywords == ("nope",)
        # rate_limit=3 from --set: of eight quick requests at least four share a 10 s window.
        errors = quick_failures(mod, 7)
    assert errors
    assert all(isinstance(e, RateLimited) and e.retry_after is not None for e in errors)
