"""The audit writer when the journal's disk fails too (review R1 #1, #2): records wait in
memory, ``flush`` says they are not stored, a check never raises, and the last resort
(a full memory, or a close with nowhere to put them) drops records counted and logged.

The database goes away through ``Outage`` (both databases); the journal's disk "fails"
by a plain file standing where its folder should be, so every append raises OSError."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moderation_core import Decision, Moderator
from moderation_core.store import Store
from moderation_core.store._journal import Journal
from tests.store.outage import Outage
from tests.store.test_audit_log import record, rows, segments, settings

STORE_LOG = "moderation_core.store"


@pytest.fixture
def outage(database_url: str, tmp_path: Path) -> Iterator[Outage]:
    made = Outage(database_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


def break_disk(tmp_path: Path) -> Path:
    """The journal's folder made unusable: a file where the folder should be."""
    folder = tmp_path / "journal"
    folder.write_text("not a folder: the disk is away\n")
    return folder


def mend_disk(folder: Path) -> None:
    folder.unlink()


def test_records_wait_in_memory_when_the_journal_fails_too(outage: Outage, tmp_path: Path) -> None:
    store = Store.open(settings(outage.url, tmp_path, flush_interval=0.05))
    try:
        store.record(record("first"))
        assert store.flush()
        outage.down()
        folder = break_disk(tmp_path)
        for n in range(3):
            store.record(record(f"held-{n}"))
        assert not store.flush()  # neither the database nor the journal has them
        found = store.result("held-0")  # still in memory, so still found
        assert found is not None
        assert found.check_id == "held-0"
        assert store.writer.degraded
        mend_disk(folder)  # the disk is back, the database is not
        store.record(record("after-disk"))
        assert not store.flush()
        assert not store.writer.degraded
        assert segments(folder)  # now in the journal
        outage.up()
        store.record(record("after-database"))
        assert store.flush()
        ids = sorted(r["check_id"] for r in rows(store))
        dropped = store.writer.dropped
    finally:
        store.close()
    assert ids == sorted(["first", "held-0", "held-1", "held-2", "after-disk", "after-database"])
    assert dropped == 0
    assert segments(tmp_path / "journal") == []


def test_records_held_in_memory_go_straight_to_the_database_when_it_is_back(
    outage: Outage, tmp_path: Path
) -> None:
    store = Store.open(settings(outage.url, tmp_path))
    try:
        assert store.flush()
        outage.down()
        break_disk(tmp_path)
        for n in range(5):
            store.record(record(f"held-{n}"))
        assert not store.flush()
        outage.up()  # the journal's disk stays broken
        assert store.flush()
        ids = sorted(r["check_id"] for r in rows(store))
        assert not store.writer.degraded
    finally:
        store.close()
    assert ids == [f"held-{n}" for n in range(5)]


def test_a_check_never_raises_when_the_journal_fails_and_drops_are_counted(
    outage: Outage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Store.open(settings(outage.url, tmp_path)).close()  # the schema exists
    outage.down()
    folder = break_disk(tmp_path)
    config: dict[str, Any] = {
        "moderation": {"providers": ["local"]},
        "providers": {"local": {"type": "local"}},
        "store": {
            "url": outage.url,
            "journal": str(folder),
            "auto_upgrade": True,
            # The queue is full at two: each further record is spilled from the
            # caller's thread, where the journal's OSError used to surface.
            "queue_size": 2,
            "flush_interval": 3600,
        },
    }
    with caplog.at_level(logging.DEBUG, logger=STORE_LOG), Moderator(config) as moderator:
        store = moderator.store
        assert store is not None
        verdicts = [moderator.check(f"hello {n}") for n in range(10)]
        assert all(v.decision is Decision.PASS for v in verdicts)
        # Kept up to the ceiling (twice queue_size), the rest dropped and counted.
        assert store.writer.dropped == 6
        kept = [v.check_id for v in verdicts[:4]]
        assert all(store.writer.waiting(str(c)) is not None for c in kept)
        mend_disk(folder)
        outage.up()
        assert store.flush()
        ids = sorted(r["check_id"] for r in rows(store))
    assert ids == sorted(str(c) for c in kept)
    dropped_errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and "DROPPED" in r.getMessage()
    ]
    assert len(dropped_errors) == 1  # once at error; the rest counted
    assert "memory is full" in dropped_errors[0].getMessage()


def test_closing_with_nowhere_to_put_records_drops_them_loudly(
    outage: Outage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(settings(outage.url, tmp_path))
    outage.down()
    break_disk(tmp_path)
    for n in range(3):
        store.record(record(f"lost-{n}"))
    with caplog.at_level(logging.ERROR, logger=STORE_LOG):
        assert not store.close(timeout=30)
    assert not store.writer.alive  # close did not hang on records it cannot store
    assert any(
        "3 audit record(s) DROPPED" in r.getMessage() and "closed" in r.getMessage()
        for r in caplog.records
    )
    assert store.writer.dropped == 3


class _FailingHandle:
    """A segment's file that takes half of one write, then refuses (a full disk)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.fail = True

    def write(self, data: memoryview) -> int:
        if self.fail:
            self.fail = False
            self._handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        written: int = self._handle.write(data)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def test_a_failed_append_leaves_no_torn_line_behind(tmp_path: Path) -> None:
    """The writer keeps a batch the journal refused and tries it again; the next
    append must not run into the half-written line and spoil itself."""
    journal = Journal(tmp_path / "journal")
    one = record("one").rows(keep_content=False)
    two = record("two").rows(keep_content=False)
    three = record("three").rows(keep_content=False)
    journal.append([one])
    segment = journal._current
    assert segment is not None
    real = segment._handle
    segment._handle = _FailingHandle(real)  # type: ignore[assignment]
    with pytest.raises(OSError, match="No space"):
        journal.append([two])
    segment._handle = real
    journal.append([three])
    (taken,) = journal.take()
    lines = list(taken.lines())
    journal.close()
    assert [r[0]["check_id"] if r else None for r in lines] == ["one", "three"]
