"""Two vendors' callbacks in one store (review R1 #8), on both databases: their event
ids and request ids are each vendor's own and may coincide, so one vendor's callback
is never taken for the other's duplicate, and an orphan completes only a check of a
provider of its own type."""

from __future__ import annotations

import sqlalchemy as sa

from moderation_core import Decision, Label, Verdict, WebhookEvent
from moderation_core.store import callbacks, checks
from moderation_core.store._results import adopt_orphans, complete, event_key
from moderation_core.testing import Clock
from tests.store.test_results import pending_check, table

# The providers of each type, as the service's config names them.
NAMES = {"tencent_chat": ["tencent"], "huanxin": ["huanxin"]}


def callback(provider_type: str, event_id: str, request_id: str | None) -> WebhookEvent:
    return WebhookEvent(
        verdict=Verdict(decision=Decision.BLOCK, label=Label.PORN, request_id=request_id),
        provider_type=provider_type,
        event_id=event_id,
        request_id=request_id,
        answers_pending=True,
    )


def test_the_same_event_id_from_two_vendors_is_two_callbacks(store_engine: sa.Engine) -> None:
    clock = Clock()
    first = complete(store_engine, callback("huanxin", "call-7", None), clock=clock)
    second = complete(store_engine, callback("tencent_chat", "call-7", None), clock=clock)
    assert (first.outcome, second.outcome) == ("orphaned", "orphaned")  # not "duplicate"
    assert complete(store_engine, callback("huanxin", "call-7", None), clock=clock).outcome == (
        "duplicate"
    )
    assert len(table(store_engine, callbacks)) == 2


def test_a_key_that_names_its_vendor_already_is_kept_as_it_is() -> None:
    tencent = callback("tencent_chat", "tencent_chat:0f3a", "r")
    assert event_key(tencent) == "tencent_chat:0f3a"  # keys stored before stay valid
    assert event_key(callback("huanxin", "0f3a", None)) == "huanxin:0f3a"


def test_an_orphan_completes_only_a_check_of_its_own_vendor(store_engine: sa.Engine) -> None:
    clock = Clock()
    # Easemob's result for its own request "r-1" arrives first: an orphan.
    orphan = complete(store_engine, callback("huanxin", "hx-1", "r-1"), clock=clock)
    assert orphan.outcome == "orphaned"
    # Then a Tencent check whose request id happens to be "r-1" reaches the store.
    check_id = pending_check(store_engine, "r-1", clock=clock)
    assert adopt_orphans(store_engine, clock=clock, since=0, providers=NAMES) == []
    with store_engine.connect() as connection:
        status = connection.execute(sa.select(checks.c.status)).scalar_one()
    assert status == "pending"  # not completed by another vendor's verdict
    # Tencent's own orphan for it is adopted.
    assert complete(store_engine, callback("tencent_chat", "tc-1", "r-2"), clock=clock).outcome
    other = pending_check(store_engine, "r-2", clock=clock)
    (adopted,) = adopt_orphans(store_engine, clock=clock, since=0, providers=NAMES)
    assert adopted.check_id == other
    assert check_id != other
