"""The conformance check of ``moderation_core.testing`` against the Yidun emulator, in
each signature method, and with the vendor's other code table."""

from __future__ import annotations

import pytest

from moderation_core.testing import assert_conforms
from moderation_yidun.emulator import DEMO_BUSINESS_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY

from .helpers import emulator, table

ITEM_ERROR = "[[item:missing]] hello"  # the emulator leaves this text out of a batch answer


@pytest.mark.parametrize("method", ["MD5", "SHA1", "SHA256"])
def test_the_provider_conforms(method: str) -> None:
    report = assert_conforms(
        table(signature_method=method), emulator=emulator, item_error=ITEM_ERROR
    )
    skipped = [r.name for r in report.results if r.outcome == "skipped"]
    # Yidun signs each request itself: there is no credential to fetch.
    assert skipped == ["a refused credential is fetched again once; refused twice is an AuthError"]


def test_it_conforms_against_the_text_code_table() -> None:
    assert_conforms(
        table(batch_size=7),
        emulator=lambda: emulator(codes="text"),
        item_error=ITEM_ERROR,
    )


def test_it_conforms_with_its_default_emulator() -> None:
    demo = {"secret_id": DEMO_SECRET_ID, "secret_key": DEMO_SECRET_KEY}
    assert_conforms(table(**demo, business_id=DEMO_BUSINESS_ID), item_error=ITEM_ERROR)
