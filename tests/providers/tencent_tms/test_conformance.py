"""The conformance check from moderation_core.testing, against the emulator."""

from __future__ import annotations

from moderation_core.testing import assert_conforms

from .helpers import emulator, table


def test_tencent_tms_conforms() -> None:
    report = assert_conforms(
        table(base_url=None),
        emulator=emulator,
        item_error="fails alone [[fault:InternalError]]",
    )
    assert not [r for r in report.results if r.outcome == "failed"]


def test_conforms_with_the_default_emulator_and_its_demo_credentials() -> None:
    from moderation_tencent_tms.emulator import DEMO_SECRET_ID, DEMO_SECRET_KEY  # noqa: PLC0415

    assert_conforms(
        {"type": "tencent_tms", "secret_id": DEMO_SECRET_ID, "secret_key": DEMO_SECRET_KEY}
    )
