"""``complete``: a vendor's callback turns a PENDING check final once, on both
databases - duplicates change nothing, orphans are kept and adopted when their check
arrives late, and each completion puts one ``check.completed`` event in the outbox."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from moderation_core import CheckContext, Content, Decision, Label, Verdict, WebhookEvent
from moderation_core.store import AuditRecord, callbacks, checks, outbox, reviews
from moderation_core.store._results import adopt_orphans, complete, event_key
from moderation_core.testing import Clock

AUDIO = Content.audio("https://cdn.example/clip.mp3", id="m-1")


def pending_check(
    engine: sa.Engine, request_id: str, *, kind: str = "check", clock: Clock | None = None
) -> str:
    """A PENDING check as the audit writer stores it."""
    check_id = str(uuid.uuid4())
    verdict = Verdict(
        decision=Decision.PENDING,
        provider="tencent",
        request_id=request_id,
        content_id="m-1",
        check_id=check_id,
    )
    record = AuditRecord(
        check_id=check_id,
        kind=kind,  # type: ignore[arg-type]
        created_at=(clock or Clock())() - 5,
        contents=(AUDIO,),
        context=CheckContext(scene="C2C", sender="u1", receiver="u2"),
        verdict=verdict,
        action="ALLOW" if kind == "evaluate" else None,
        billable=1,
    )
    row, review = record.rows(keep_content=False)
    assert review is None
    with engine.begin() as connection:
        connection.execute(checks.insert().values(**row))
    return check_id


def event(
    request_id: str | None,
    decision: Decision = Decision.BLOCK,
    event_id: str | None = None,
    **verdict: Any,
) -> WebhookEvent:
    return WebhookEvent(
        verdict=Verdict(
            decision=decision,
            label=Label.PORN if decision is not Decision.PASS else Label.NORMAL,
            vendor_label="Porn",
            request_id=request_id,
            raw={"secret": "not stored"},
            **verdict,
        ),
        provider_type="tencent_chat",
        event_id=event_id or f"tencent_chat:{uuid.uuid4().hex}",
        request_id=request_id,
        answers_pending=True,
    )


def table(engine: sa.Engine, which: sa.Table) -> list[sa.Row[Any]]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(which)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_callback_turns_its_pending_check_final_and_enqueues_one_event(
    store_engine: sa.Engine, clock: Clock
) -> None:
    check_id = pending_check(store_engine, "req-1")
    done = complete(store_engine, event("req-1"), clock=clock)
    assert (done.outcome, done.check_id) == ("completed", check_id)
    (completed,) = done.checks
    assert completed.verdict.decision is Decision.BLOCK
    assert completed.verdict.provider == "tencent"  # the config's name, from the check
    assert completed.verdict.content_id == "m-1"
    assert completed.verdict.check_id == check_id
    assert completed.verdict.raw is None

    (row,) = table(store_engine, checks)
    assert (row.status, row.completed_at, row.decision, row.label) == (
        "final",
        clock(),
        "BLOCK",
        "PORN",
    )
    assert row.verdict["decision"] == "BLOCK"
    assert row.verdict["check_id"] == check_id
    (sent,) = table(store_engine, outbox)
    assert (sent.type, sent.status, sent.event_id) == (
        "check.completed",
        "pending",
        completed.outbox_event_id,
    )
    assert sent.payload["check_id"] == check_id
    assert sent.payload["verdict"] == row.verdict
    assert sent.payload["sender"] == "u1"
    (callback,) = table(store_engine, callbacks)
    assert (callback.check_id, callback.request_id) == (check_id, "req-1")
    assert "not stored" not in str(callback.verdict)


def test_the_same_callback_again_changes_nothing(store_engine: sa.Engine, clock: Clock) -> None:
    pending_check(store_engine, "req-1")
    first = event("req-1", event_id="tencent_chat:same")
    assert complete(store_engine, first, clock=clock).outcome == "completed"
    clock.advance(30)
    again = event("req-1", Decision.PASS, event_id="tencent_chat:same")
    assert complete(store_engine, again, clock=clock).outcome == "duplicate"
    (row,) = table(store_engine, checks)
    assert (row.decision, row.completed_at) == ("BLOCK", clock() - 30)
    assert len(table(store_engine, outbox)) == 1
    assert len(table(store_engine, callbacks)) == 1


def test_a_second_result_for_a_completed_check_is_recorded_but_changes_nothing(
    store_engine: sa.Engine, clock: Clock
) -> None:
    check_id = pending_check(store_engine, "req-1")
    complete(store_engine, event("req-1"), clock=clock)
    later = complete(store_engine, event("req-1", Decision.PASS), clock=clock)
    assert (later.outcome, later.check_id) == ("already_final", check_id)
    assert [row.decision for row in table(store_engine, checks)] == ["BLOCK"]
    assert len(table(store_engine, outbox)) == 1
    assert {row.check_id for row in table(store_engine, callbacks)} == {check_id}


def test_an_unknown_request_id_is_an_orphan_kept_with_its_verdict(
    store_engine: sa.Engine, clock: Clock
) -> None:
    pending_check(store_engine, "req-1")
    orphan = complete(store_engine, event("req-other"), clock=clock)
    assert (orphan.outcome, orphan.check_id) == ("orphaned", None)
    no_id = complete(store_engine, event(None), clock=clock)
    assert no_id.outcome == "orphaned"
    rows = {row.request_id: row for row in table(store_engine, callbacks)}
    assert rows["req-other"].check_id is None
    assert rows["req-other"].verdict["decision"] == "BLOCK"
    assert rows[None].check_id is None
    assert table(store_engine, outbox) == []
    assert [row.status for row in table(store_engine, checks)] == ["pending"]


def test_an_orphan_is_adopted_when_its_check_arrives_late(
    store_engine: sa.Engine, clock: Clock
) -> None:
    assert complete(store_engine, event("req-late"), clock=clock).outcome == "orphaned"
    assert adopt_orphans(store_engine, clock=clock, since=clock() - 60) == []
    check_id = pending_check(store_engine, "req-late")  # the writer caught up
    clock.advance(1)
    (adopted,) = adopt_orphans(store_engine, clock=clock, since=clock() - 60)
    assert (adopted.outcome, adopted.check_id) == ("completed", check_id)
    assert adopted.event.request_id == "req-late"
    (row,) = table(store_engine, checks)
    assert (row.status, row.decision) == ("final", "BLOCK")
    assert table(store_engine, callbacks)[0].check_id == check_id
    assert len(table(store_engine, outbox)) == 1
    assert adopt_orphans(store_engine, clock=clock, since=clock() - 60) == []  # once


def test_orphans_older_than_the_window_are_left(store_engine: sa.Engine, clock: Clock) -> None:
    complete(store_engine, event("req-late"), clock=clock)
    pending_check(store_engine, "req-late")
    clock.advance(3600)
    assert adopt_orphans(store_engine, clock=clock, since=clock() - 60) == []


def test_providers_restrict_which_checks_a_callback_may_complete(
    store_engine: sa.Engine, clock: Clock
) -> None:
    pending_check(store_engine, "req-1")
    other = complete(store_engine, event("req-1"), clock=clock, providers=["tencent-2"])
    assert other.outcome == "orphaned"
    ours = complete(store_engine, event("req-1"), clock=clock, providers=["tencent"])
    assert ours.outcome == "completed"


def test_a_check_that_turns_review_opens_a_review_item(
    store_engine: sa.Engine, clock: Clock
) -> None:
    check_id = pending_check(store_engine, "req-1")
    complete(store_engine, event("req-1", Decision.REVIEW), clock=clock)
    (item,) = table(store_engine, reviews)
    assert (item.check_id, item.status, item.decision, item.label, item.content) == (
        check_id,
        "open",
        "REVIEW",
        "PORN",
        None,  # keep_content is off: the clip's URL is not kept
    )
    assert item.opened_at == clock()


def test_an_evaluate_that_turns_review_opens_no_item(store_engine: sa.Engine, clock: Clock) -> None:
    pending_check(store_engine, "req-1", kind="evaluate")
    complete(store_engine, event("req-1", Decision.REVIEW), clock=clock)
    assert table(store_engine, reviews) == []


def test_concurrent_duplicates_complete_the_check_once(
    store_engine: sa.Engine, clock: Clock
) -> None:
    pending_check(store_engine, "req-1")
    outcomes: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def deliver(event_id: str) -> None:
        start.wait()
        try:
            outcomes.append(
                complete(store_engine, event("req-1", event_id=event_id), clock=clock).outcome
            )
        except sa.exc.OperationalError as exc:  # SQLite: a writer that waited too long
            errors.append(exc)

    # Three copies of one callback and three different callbacks for the same check.
    ids = [
        "tencent_chat:a",
        "tencent_chat:a",
        "tencent_chat:a",
        "tencent_chat:b",
        "tencent_chat:c",
        "tencent_chat:d",
    ]
    threads = [threading.Thread(target=deliver, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes) == sorted(
        ["completed", "duplicate", "duplicate", "already_final", "already_final", "already_final"]
    )
    assert len(table(store_engine, outbox)) == 1


def test_an_event_without_an_id_dedupes_on_its_payload() -> None:
    one = WebhookEvent(
        verdict=Verdict(decision=Decision.PASS), provider_type="x", request_id="r", raw={"a": 1}
    )
    assert event_key(one) == event_key(one)
    assert event_key(one) != event_key(
        WebhookEvent(verdict=one.verdict, provider_type="x", raw={"a": 2})
    )
    long = WebhookEvent(verdict=one.verdict, provider_type="x", event_id="e" * 1000)
    assert len(event_key(long)) <= 256
