"""The audit log, on both databases: one record per check and per evaluate, read back
by ``result``, review items opened for REVIEW, text kept only when asked, and nothing
lost when the database goes away mid-run (the journal, replayed exactly once)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa

from moderation_core import (
    AllProvidersFailed,
    AsyncModerator,
    Content,
    Decision,
    InvalidContent,
    Moderator,
    Outcome,
)
from moderation_core._errors import ConfigError
from moderation_core._model import CheckContext, Verdict
from moderation_core.store import (
    AuditRecord,
    Store,
    StoreSettings,
    StoreUnavailable,
    checks,
    reviews,
)
from tests.fakes import FakeVendor, fake_providers, routed
from tests.store.outage import Outage


def settings(url: str, tmp_path: Path, **options: Any) -> StoreSettings:
    options.setdefault("auto_upgrade", True)  # PostgreSQL's schema, made here
    return StoreSettings(url=url, journal=str(tmp_path / "journal"), **options)


def config(url: str, tmp_path: Path, **store: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": ["local"]},
        "providers": {"local": {"type": "local"}},
        "store": {"url": url, "journal": str(tmp_path / "journal"), "auto_upgrade": True, **store},
    }


def rows(store: Store, table: sa.Table = checks) -> list[dict[str, Any]]:
    with store.engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(table)).mappings()]


def segments(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith("rejected"))


def record(check_id: str, text: str = "hello", **fields: Any) -> AuditRecord:
    verdict = fields.pop("verdict", Verdict(decision=Decision.PASS, provider="local"))
    return AuditRecord(
        check_id=check_id,
        kind=fields.pop("kind", "check"),
        created_at=fields.pop("created_at", 1_000.0),
        contents=(Content.text(text),),
        context=CheckContext(scene="Group", sender="u1"),
        verdict=verdict,
        **fields,
    )


@pytest.fixture
def outage(database_url: str, tmp_path: Path) -> Iterator[Outage]:
    made = Outage(database_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


# -- the Moderator's records ------------------------------------------------------------


def test_every_check_and_evaluate_is_one_record(database_url: str, tmp_path: Path) -> None:
    with Moderator(config(database_url, tmp_path)) as mod:
        single = mod.check("加我微信 abc123456", scene="Group", sender="u1", receiver="g1")
        many = mod.check_many(["hello", Content.text("world", id="m-7")])
        outcome = mod.evaluate("nice weather", scene="C2C", sender="u2")
        assert mod.store is not None
        assert mod.store.flush()
        stored = {r["check_id"]: r for r in rows(mod.store)}
        found = mod.result(single.check_id or "")

    ids = [single.check_id, *(v.check_id for v in many)]
    assert outcome.verdict is not None
    ids.append(outcome.verdict.check_id)
    assert len(set(ids)) == 4
    assert set(stored) == set(ids)
    first = stored[single.check_id]
    assert (first["kind"], first["scene"], first["sender"], first["receiver"]) == (
        "check",
        "Group",
        "u1",
        "g1",
    )
    assert first["decision"] == single.decision.name
    assert first["label"] == single.label.name
    assert first["keywords"] == list(single.keywords)
    assert first["provider"] == "local"
    assert first["billable"] == 0  # the local engine costs no vendor item
    assert first["content"] is None  # keep_content is off by default
    expected = hashlib.sha256("text:加我微信 abc123456".encode()).hexdigest()
    assert first["content_hash"] == expected
    assert first["latency_ms"] is not None
    assert first["latency_ms"] >= 0
    last = stored[outcome.verdict.check_id]
    assert (last["kind"], last["action"]) == ("evaluate", "ALLOW")
    assert found is not None
    assert found.verdict == single
    assert found.verdict is not None
    assert found.verdict.check_id == single.check_id
    assert found.status == "final"
    assert found.to_dict()["verdict"]["check_id"] == single.check_id


def test_text_is_kept_only_with_keep_content(database_url: str, tmp_path: Path) -> None:
    with Moderator(config(database_url, tmp_path, keep_content=True)) as mod:
        verdict = mod.check("hello there")
        assert mod.store is not None
        assert mod.store.flush()
        (row,) = rows(mod.store)
    assert row["check_id"] == verdict.check_id
    assert row["content"] == "hello there"


def test_review_outcomes_open_review_items(database_url: str, tmp_path: Path) -> None:
    with Moderator(config(database_url, tmp_path)) as mod:
        flagged = mod.check("加我微信 abc123456")
        clean = mod.check("hello")
        assert mod.store is not None
        assert mod.store.flush()
        items = rows(mod.store, reviews)
    assert flagged.decision is Decision.REVIEW
    assert clean.decision is Decision.PASS
    (item,) = items
    assert item["check_id"] == flagged.check_id
    assert (item["status"], item["decision"], item["label"]) == ("open", "REVIEW", "AD")
    assert item["content"] == flagged.masked_text  # no keep_content: the masked form


def test_a_failed_check_is_recorded_with_its_error(
    database_url: str, tmp_path: Path, plugin_manager: pluggy.PluginManager
) -> None:
    cfg = fake_providers(("a", {})) | {
        "store": {"url": database_url, "journal": str(tmp_path / "journal"), "auto_upgrade": True}
    }
    transport = routed({"a": FakeVendor(fail=True)})
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport) as mod:
        with pytest.raises(AllProvidersFailed):
            mod.check("hello", sender="u9")
        assert mod.store is not None
        assert mod.store.flush()
        (row,) = rows(mod.store)
    assert (row["error"], row["decision"], row["sender"]) == ("AllProvidersFailed", None, "u9")


def test_a_vendor_verdict_is_billable(
    database_url: str, tmp_path: Path, plugin_manager: pluggy.PluginManager
) -> None:
    cfg = fake_providers(("a", {})) | {
        "store": {"url": database_url, "journal": str(tmp_path / "journal"), "auto_upgrade": True}
    }
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed({"a": FakeVendor()})) as m:
        m.check("please review this")
        assert m.store is not None
        assert m.store.flush()
        (row,) = rows(m.store)
    assert (row["provider"], row["decision"], row["billable"]) == ("a", "REVIEW", 1)


def fake_store(url: str, tmp_path: Path) -> dict[str, Any]:
    return {"store": {"url": url, "journal": str(tmp_path / "journal"), "auto_upgrade": True}}


def sent_items(*vendors: FakeVendor) -> int:
    """The items the fake vendors were sent (what a vendor bills)."""
    return sum(len(body["items"]) for vendor in vendors for body in vendor.checks)


def test_billable_counts_each_chunk_of_a_split_long_text(
    database_url: str, tmp_path: Path, plugin_manager: pluggy.PluginManager
) -> None:
    cfg = fake_providers(("a", {"max_text_bytes": 60}), batch_window=0)
    vendor = FakeVendor()
    long_text = "please review " + "x" * 200  # split into several chunks of 60 bytes
    with Moderator(
        cfg | fake_store(database_url, tmp_path),
        plugin_manager=plugin_manager,
        transport=routed({"a": vendor}),
    ) as mod:
        verdict = mod.check(long_text)
        short = mod.check("short and fine")
        assert mod.store is not None
        assert mod.store.flush()
        stored = {r["check_id"]: r for r in rows(mod.store)}
    chunks = sent_items(vendor) - 1
    assert chunks >= 4
    assert stored[verdict.check_id]["billable"] == chunks
    assert stored[short.check_id]["billable"] == 1
    assert verdict.decision is Decision.REVIEW  # the chunk that says "review" decides


def test_billable_is_one_per_content_of_a_batch(
    database_url: str, tmp_path: Path, plugin_manager: pluggy.PluginManager
) -> None:
    cfg = fake_providers(("a", {"batch_size": 10}), batch_window=0)
    vendor = FakeVendor()
    with Moderator(
        cfg | fake_store(database_url, tmp_path),
        plugin_manager=plugin_manager,
        transport=routed({"a": vendor}),
    ) as mod:
        verdicts = mod.check_many(["one", "please review", "three"])
        assert mod.store is not None
        assert mod.store.flush()
        stored = {r["check_id"]: r for r in rows(mod.store)}
    assert len(vendor.checks) == 1  # one batch request ...
    assert [stored[v.check_id]["billable"] for v in verdicts] == [1, 1, 1]  # ... of 3 items
    assert sum(r["billable"] for r in stored.values()) == sent_items(vendor)


def test_billable_counts_every_provider_strictest_asked(
    database_url: str, tmp_path: Path, plugin_manager: pluggy.PluginManager
) -> None:
    cfg = fake_providers(
        ("a", {"max_text_bytes": 60}), ("b", {}), ("local", {}), strategy="strictest"
    )
    cfg["providers"]["local"] = {"type": "local"}
    a, b = FakeVendor(), FakeVendor()
    long_text = "block " + "y" * 150
    with Moderator(
        cfg | fake_store(database_url, tmp_path),
        plugin_manager=plugin_manager,
        transport=routed({"a": a, "b": b}),
    ) as mod:
        short = mod.check("please review")
        long = mod.check(long_text)
        assert mod.store is not None
        assert mod.store.flush()
        stored = {r["check_id"]: r for r in rows(mod.store)}
    assert stored[short.check_id]["billable"] == 2  # a and b; the local engine is free
    assert stored[long.check_id]["billable"] == sent_items(a, b) - 2  # a's chunks, b's one
    assert long.decision is Decision.BLOCK
    assert sum(r["billable"] for r in stored.values()) == sent_items(a, b)


def test_billable_of_an_evaluate_counts_every_content_checked(
    database_url: str, tmp_path: Path, plugin_manager: pluggy.PluginManager
) -> None:
    cfg = fake_providers(("a", {}), batch_window=0)
    vendor = FakeVendor()
    with Moderator(
        cfg | fake_store(database_url, tmp_path),
        plugin_manager=plugin_manager,
        transport=routed({"a": vendor}),
    ) as mod:
        outcome = mod.evaluate(
            [Content.text("fine"), Content.image("https://example.com/a.png")], sender="u1"
        )
        assert mod.store is not None
        assert mod.store.flush()
        (row,) = rows(mod.store)
    assert row["check_id"] == outcome.check_id
    assert row["billable"] == sent_items(vendor) == 2


def test_cached_verdicts_cost_nothing(
    database_url: str, tmp_path: Path, plugin_manager: pluggy.PluginManager
) -> None:
    cfg = fake_providers(("a", {"max_text_bytes": 60}), batch_window=0, cache={})
    vendor = FakeVendor()
    long_text = "z" * 150
    with Moderator(
        cfg | fake_store(database_url, tmp_path),
        plugin_manager=plugin_manager,
        transport=routed({"a": vendor}),
    ) as mod:
        first = mod.check(long_text)
        again = mod.check(long_text)
        assert mod.store is not None
        assert mod.store.flush()
        stored = {r["check_id"]: r for r in rows(mod.store)}
    assert again.cached
    assert stored[first.check_id]["billable"] == sent_items(vendor) > 1
    assert stored[again.check_id]["billable"] == 0


def test_an_evaluate_without_a_verdict_has_a_check_id(database_url: str, tmp_path: Path) -> None:
    cfg = config(database_url, tmp_path) | {"policy": {"trusted_senders": ["ops-*"]}}
    with Moderator(cfg) as mod:
        trusted = mod.evaluate("anything at all", sender="ops-1")
        checked = mod.evaluate("nice weather", sender="u1")
        assert trusted.check_id is not None
        found = mod.result(trusted.check_id)
        assert mod.store is not None
        assert mod.store.flush()
        again = mod.result(trusted.check_id)
    assert trusted.verdict is None
    assert trusted.to_dict()["check_id"] == trusted.check_id
    assert checked.verdict is not None
    assert checked.check_id == checked.verdict.check_id
    for stored in (found, again):
        assert stored is not None
        assert (stored.kind, stored.action, stored.verdict) == ("evaluate", "ALLOW", None)
    assert Moderator().evaluate("hello").check_id is None  # no store, no record


def test_a_pending_verdict_is_stored_pending_with_its_request_id(
    database_url: str, tmp_path: Path
) -> None:
    store = Store.open(settings(database_url, tmp_path))
    try:
        pending = Verdict(decision=Decision.PENDING, provider="tencent", request_id="req-1")
        store.record(record("c-1", verdict=pending))
        assert store.flush()
        found = store.result("c-1")
        (row,) = rows(store)
    finally:
        store.close()
    assert found is not None
    assert found.status == "pending"
    assert (row["status"], row["request_id"], row["provider"]) == ("pending", "req-1", "tencent")


def test_a_check_is_found_before_the_writer_writes_it(database_url: str, tmp_path: Path) -> None:
    store = Store.open(settings(database_url, tmp_path, flush_interval=3600, batch_size=1000))
    try:
        store.record(record("c-early"))
        found = store.result("c-early")
        assert store.result("c-unknown") is None
    finally:
        store.close()
    assert found is not None
    assert found.check_id == "c-early"


def test_async_moderator_records_and_reads_back(database_url: str, tmp_path: Path) -> None:
    import asyncio  # noqa: PLC0415

    async def run() -> tuple[Verdict, Any]:
        async with AsyncModerator(config(database_url, tmp_path)) as mod:
            verdict = await mod.check("hello")
            assert mod.store is not None
            await asyncio.to_thread(mod.store.flush)
            return verdict, await mod.result(verdict.check_id or "")

    verdict, found = asyncio.run(run())
    assert found is not None
    assert found.verdict == verdict


def test_result_without_a_store_is_a_config_error() -> None:
    with Moderator() as mod, pytest.raises(ConfigError, match=r"\[store\]"):
        mod.result("c-1")


# -- the database goes away -------------------------------------------------------------


def test_nothing_is_lost_when_the_database_goes_away_mid_run(
    outage: Outage, tmp_path: Path
) -> None:
    store = Store.open(settings(outage.url, tmp_path))
    try:
        for n in range(30):
            store.record(record(f"before-{n}"))
        assert store.flush()
        outage.down()
        for n in range(30):
            store.record(record(f"during-{n}"))
        assert not store.flush()  # in the journal, not in the database
        assert store.writer.away
        assert segments(tmp_path / "journal")
        with pytest.raises(StoreUnavailable):
            store.result("before-0")
        outage.up()
        for n in range(30):
            store.record(record(f"after-{n}"))
        assert store.flush()
        ids = [r["check_id"] for r in rows(store)]
    finally:
        store.close()
    assert sorted(ids) == sorted(
        f"{phase}-{n}" for phase in ("before", "during", "after") for n in range(30)
    )
    assert segments(tmp_path / "journal") == []


def test_a_store_closed_while_away_is_replayed_by_the_next(outage: Outage, tmp_path: Path) -> None:
    first = Store.open(settings(outage.url, tmp_path))
    first.record(record("kept-0"))
    assert first.flush()
    outage.down()
    for n in range(1, 20):
        first.record(record(f"kept-{n}"))
    assert not first.close()
    assert segments(tmp_path / "journal")
    outage.up()
    second = Store.open(settings(outage.url, tmp_path))
    try:
        assert second.flush()
        ids = sorted(r["check_id"] for r in rows(second))
    finally:
        second.close()
    assert ids == sorted(f"kept-{n}" for n in range(20))
    assert segments(tmp_path / "journal") == []


def test_a_store_opened_while_away_starts_on_the_journal(outage: Outage, tmp_path: Path) -> None:
    Store.open(settings(outage.url, tmp_path)).close()  # the schema exists
    outage.down()
    store = Store.open(settings(outage.url, tmp_path))
    try:
        store.record(record("early"))
        assert not store.flush()
        outage.up()
        assert store.flush()
        assert [r["check_id"] for r in rows(store)] == ["early"]
    finally:
        store.close()


def test_a_full_queue_spills_to_the_journal_rather_than_block(
    outage: Outage, tmp_path: Path
) -> None:
    store = Store.open(settings(outage.url, tmp_path, queue_size=3, flush_interval=3600))
    try:
        outage.down()
        for n in range(25):
            store.record(record(f"spilled-{n}", verdict=Verdict(decision=Decision.REVIEW)))
        outage.up()
        assert store.flush()
        ids = sorted(r["check_id"] for r in rows(store))
        opened = sorted(r["check_id"] for r in rows(store, reviews))
    finally:
        store.close()
    assert ids == sorted(f"spilled-{n}" for n in range(25))
    assert opened == ids  # each review row travelled with its check


def test_a_journal_replayed_twice_inserts_once(database_url: str, tmp_path: Path) -> None:
    """A crash after the insert and before the segment's delete replays it again."""
    journal = tmp_path / "journal"
    store = Store.open(settings(database_url, tmp_path))
    try:
        store.journal.append([record(f"j-{n}").rows(keep_content=False) for n in range(5)])
        (segment,) = segments(journal)
        copy = segment.read_bytes()
        assert store.flush()
        assert segments(journal) == []
        (journal / "00000000000000000001-1-dead.jsonl").write_bytes(copy)  # a dead process's
        assert store.flush()
        ids = sorted(r["check_id"] for r in rows(store))
    finally:
        store.close()
    assert ids == [f"j-{n}" for n in range(5)]
    assert segments(journal) == []


def test_a_torn_journal_line_is_kept_aside_not_lost(database_url: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    good = record("whole").rows(keep_content=False)
    import json  # noqa: PLC0415

    line = json.dumps({"c": good[0], "r": good[1]}).encode() + b"\n"
    (journal / "00000000000000000001-1-dead.jsonl").write_bytes(line + b'{"c": {"check_id"')
    store = Store.open(settings(database_url, tmp_path))
    try:
        assert store.flush()
        ids = [r["check_id"] for r in rows(store)]
    finally:
        store.close()
    assert ids == ["whole"]
    assert (journal / "rejected.jsonl").read_bytes() == b'{"c": {"check_id"\n'


# -- retention --------------------------------------------------------------------------


def test_retention_purges_old_records_but_not_open_reviews(
    database_url: str, tmp_path: Path
) -> None:
    now = 10 * 86400.0
    store = Store.open(settings(database_url, tmp_path, retention=86400.0), clock=lambda: now)
    try:
        store.record(record("old", created_at=now - 2 * 86400))
        store.record(record("new", created_at=now - 3600))
        review = Verdict(decision=Decision.REVIEW)
        store.record(record("old-open-review", created_at=now - 2 * 86400, verdict=review))
        store.record(record("old-decided-review", created_at=now - 2 * 86400, verdict=review))
        assert store.flush()
        with store.engine.begin() as connection:
            connection.execute(
                sa.update(reviews)
                .where(reviews.c.check_id == "old-decided-review")
                .values(status="approved", decided_at=now - 2 * 86400)
            )
        deleted = store.purge()
        left = sorted(r["check_id"] for r in rows(store))
        open_items = [r["check_id"] for r in rows(store, reviews)]
    finally:
        store.close()
    # The writer purges too (every PURGE_EVERY of the clock): the end state is the test.
    assert set(deleted) == {"checks", "reviews", "callbacks", "outbox"}
    assert left == ["new", "old-open-review"]
    assert open_items == ["old-open-review"]


async def test_evaluate_many_records_each_message_as_evaluate_does(
    database_url: str, tmp_path: Path
) -> None:
    class Message:
        def __init__(self, text: str, sender: str | None = None) -> None:
            self.contents, self.scene, self.sender, self.receiver = [text], "Group", sender, None

    messages = [Message("nice weather", "u1"), Message(""), Message("加我微信 abc123456", "u2")]
    async with AsyncModerator(config(database_url, tmp_path)) as mod:
        answers = await mod._evaluations(messages)
        assert mod.store is not None
        assert mod.store.flush()
        stored = {r["check_id"]: r for r in rows(mod.store)}

    first, refused, third = answers
    assert isinstance(refused, InvalidContent)  # the caller's mistake: not recorded
    assert isinstance(first, Outcome)
    assert isinstance(third, Outcome)
    assert set(stored) == {first.check_id, third.check_id}
    for outcome, sender in ((first, "u1"), (third, "u2")):
        row = stored[outcome.check_id]
        assert (row["kind"], row["action"], row["sender"], row["scene"]) == (
            "evaluate",
            outcome.action.name,
            sender,
            "Group",
        )
