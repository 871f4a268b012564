"""NUL in what the store keeps (review R1 #4), on both databases: PostgreSQL's text (and
the text it reads out of JSON) refuses ``\\x00`` where SQLite keeps it, so a sender
with a NUL in its id used to keep its checks out of PostgreSQL's audit log, rankings
and statistics. Every string is kept with U+FFFD in place of NUL, alike on both."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from moderation_core import CheckContext, Content, Decision, Label, Verdict, WebhookEvent
from moderation_core.store import AuditRecord, Store, callbacks, checks, outbox, reviews
from moderation_core.store._outbox import enqueue
from moderation_core.store._results import complete
from moderation_core.store._stats import keyword_ranking, sender_ranking
from moderation_core.testing import Clock
from tests.store.test_audit_log import rows, settings

NUL = "\x00"
SHOWN = "\ufffd"


def table(engine: sa.Engine, which: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(which)).mappings()]


@pytest.mark.parametrize(
    "where",
    ["sender", "content", "keyword", "scene", "masked_text"],
)
def test_a_nul_keeps_no_check_out_of_the_audit_log(
    database_url: str, tmp_path: Path, where: str
) -> None:
    text = f"he{NUL}llo" if where == "content" else "hello"
    keyword = f"bad{NUL}word" if where == "keyword" else "badword"
    verdict = Verdict(
        decision=Decision.REVIEW,  # opens a review item too
        label=Label.ABUSE,
        keywords=(keyword,),
        masked_text=f"he{NUL}***" if where == "masked_text" else "he***",
        provider="local",
    )
    check_id = str(uuid.uuid4())
    record = AuditRecord(
        check_id=check_id,
        kind="check",
        created_at=1_000.0,
        contents=(Content.text(text),),
        context=CheckContext(
            scene=f"Gro{NUL}up" if where == "scene" else "Group",
            sender=f"a{NUL}b" if where == "sender" else "ab",
        ),
        verdict=verdict,
    )
    blocked = attrs.evolve(
        record,
        check_id=str(uuid.uuid4()),
        verdict=attrs.evolve(verdict, decision=Decision.BLOCK),  # for the sender ranking
    )
    store = Store.open(settings(database_url, tmp_path, keep_content=True))
    try:
        store.record(record)
        store.record(blocked)
        assert store.flush()  # in the database, not refused into rejected.jsonl
        found = store.result(check_id)
        row, other = sorted(rows(store), key=lambda r: r["check_id"] != check_id)
        (review,) = rows(store, reviews)
        senders = sender_ranking(store.engine, since=0, until=2_000)
        keywords = keyword_ranking(store.engine, since=0, until=2_000)
    finally:
        store.close()
    assert not (tmp_path / "journal" / "rejected.jsonl").exists()
    assert found is not None
    assert found.verdict is not None
    kept = [row["sender"], row["scene"], row["content"], *row["keywords"]]
    kept += [review["content"], *review["keywords"], str(row["verdict"])]
    assert not any(NUL in value for value in kept)
    expected = {
        "sender": (row["sender"], "a" + SHOWN + "b"),
        "content": (row["content"], "he" + SHOWN + "llo"),
        "keyword": (row["keywords"], ["bad" + SHOWN + "word"]),
        "scene": (row["scene"], "Gro" + SHOWN + "up"),
        "masked_text": (found.verdict.masked_text, "he" + SHOWN + "***"),
    }
    assert expected[where][0] == expected[where][1]
    assert other["sender"] == row["sender"]
    assert [(s["sender"], s["blocked"]) for s in senders] == [(row["sender"], 1)]
    assert [(k["keyword"], k["count"]) for k in keywords] == [(row["keywords"][0], 2)]


def test_a_callback_with_nul_completes_its_pending_check(store_engine: sa.Engine) -> None:
    clock = Clock()
    request_id = f"req{NUL}1"
    check_id = str(uuid.uuid4())
    pending = AuditRecord(
        check_id=check_id,
        kind="check",
        created_at=clock() - 5,
        contents=(Content.audio("https://cdn.example/clip.mp3"),),
        context=CheckContext(sender=f"u{NUL}1"),
        verdict=Verdict(
            decision=Decision.PENDING,
            provider="tencent",
            request_id=request_id,
            check_id=check_id,
        ),
    )
    row, _ = pending.rows(keep_content=False)
    with store_engine.begin() as connection:
        connection.execute(checks.insert().values(**row))
    event = WebhookEvent(
        verdict=Verdict(
            decision=Decision.REVIEW,
            label=Label.PORN,
            keywords=(f"x{NUL}y",),
            masked_text=f"m{NUL}",
            request_id=request_id,
        ),
        provider_type="tencent_chat",
        event_id=f"evt{NUL}1",
        request_id=request_id,
        answers_pending=True,
    )
    done = complete(store_engine, event, clock=clock)
    assert (done.outcome, done.check_id) == ("completed", check_id)
    assert complete(store_engine, event, clock=clock).outcome == "duplicate"
    (stored,) = table(store_engine, checks)
    assert stored["status"] == "final"
    assert stored["keywords"] == [f"x{SHOWN}y"]
    (review,) = table(store_engine, reviews)
    assert review["keywords"] == [f"x{SHOWN}y"]
    (callback,) = table(store_engine, callbacks)
    assert NUL not in callback["event_id"]
    assert callback["check_id"] == check_id
    (event_row,) = table(store_engine, outbox)
    assert event_row["payload"]["sender"] == f"u{SHOWN}1"


def test_an_outbox_payload_with_nul_is_kept(store_engine: sa.Engine) -> None:
    with store_engine.begin() as connection:
        enqueue(
            connection,
            event_type="review.decided",
            payload={"note": f"n{NUL}", f"k{NUL}": [f"v{NUL}"]},
            now=1.0,
        )
    (row,) = table(store_engine, outbox)
    assert row["payload"] == {"note": f"n{SHOWN}", f"k{SHOWN}": [f"v{SHOWN}"]}


def test_reading_back_an_id_with_a_nul_finds_nothing(database_url: str, tmp_path: Path) -> None:
    """Not "the database does not answer": PostgreSQL refuses the query's NUL."""
    store = Store.open(settings(database_url, tmp_path))
    try:
        assert store.result(f"a{NUL}b") is None
    finally:
        store.close()
