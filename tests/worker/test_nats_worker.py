"""The worker loop in-process against the real NATS JetStream: results published then
acknowledged, malformed and oversized messages dead-lettered once, a vendor outage
answered by nak and redelivery (or fail_mode), a broker restart survived."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pluggy
import pytest
from nats.js.api import StreamConfig

from moderation_core import AsyncModerator, load_config
from moderation_core.worker import worker_settings
from moderation_core.worker._loop import Worker
from moderation_core.worker._nats import NatsBroker
from tests.fakes import FakeVendor, fake_providers
from tests.worker.nats_support import (
    Names,
    connect,
    message,
    publish_all,
    read_all,
    stored,
    wait_created,
    wait_stored,
)


def config(names: Names, moderation: dict[str, Any] | None = None, **worker: Any) -> Any:
    table = fake_providers(("a", {}), deadline=1, **(moderation or {}))
    table["worker"] = names.worker(**{"ack_wait": 5, "nak_delay": 0.05, **worker})
    return load_config(table)


@asynccontextmanager
async def running(
    names: Names,
    plugin_manager: pluggy.PluginManager,
    vendor: Callable[[httpx.Request], httpx.Response],
    moderation: dict[str, Any] | None = None,
    **worker: Any,
) -> AsyncIterator[Worker]:
    cfg = config(names, moderation, **worker)
    settings = worker_settings(cfg)
    async with AsyncModerator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as moderator:
        loop = Worker(moderator, NatsBroker(settings), settings, fetch_timeout=0.2)
        task = asyncio.create_task(loop.run())
        nc, js = await connect()
        try:
            await wait_created(js, names.stream)
            await wait_created(js, names.results)
        finally:
            await nc.close()
        try:
            yield loop
        finally:
            loop.stop()
            await asyncio.wait_for(task, 30)


async def consumer_state(names: Names) -> tuple[int, int]:
    """(messages waiting for an ack, messages still to be delivered)."""
    nc, js = await connect()
    try:
        info = await js.consumer_info(names.stream, f"w{names.suffix}")
        return info.num_ack_pending, info.num_pending
    finally:
        await nc.close()


async def test_each_message_gets_one_result_then_is_acked(
    names: Names, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    nc, js = await connect()
    try:
        texts = ["fine", "please block this", "a review please"]
        async with running(names, plugin_manager, vendor) as loop:
            await publish_all(
                js, names.subject_in, [message(n, texts[n % 3], scene="Group") for n in range(30)]
            )
            assert await wait_stored(js, names.results, 30) == 30
        assert loop.stats.results == 30
        results = await read_all(js, names.results, names.subject_out)
        bodies = {json.loads(m.data)["id"]: json.loads(m.data) for m in results}
        assert sorted(bodies) == sorted(f"m{n}" for n in range(30))
        assert all(m.headers == {"Nats-Msg-Id": json.loads(m.data)["id"]} for m in results)
        assert bodies["m1"]["outcome"]["action"] == "BLOCK"
        assert bodies["m2"]["outcome"]["action"] == "REVIEW"
        assert bodies["m0"]["outcome"]["verdict"]["provider"] == "a"
        assert await stored(js, names.stream) == 0  # every input acknowledged
        assert await consumer_state(names) == (0, 0)
    finally:
        await nc.close()


async def test_malformed_and_oversized_go_to_the_dead_letter_once(
    names: Names, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    bad = [
        b"not json at all",
        b'{"id": "big", "contents": ["' + b"x" * 3000 + b'"]}',  # over max_message_bytes
        json.dumps({"id": "many", "contents": ["a"] * 4}).encode(),  # over max_contents
        json.dumps({"id": "empty", "contents": [""]}).encode(),  # the Moderator refuses it
        json.dumps({"id": "shape", "contents": [{"type": "pdf", "value": "x"}]}).encode(),
    ]
    nc, js = await connect()
    try:
        async with running(
            names, plugin_manager, vendor, max_message_bytes=2048, max_contents=3
        ) as loop:
            await publish_all(js, names.subject_in, [*bad, message(1)])
            assert await wait_stored(js, names.dead, len(bad)) == len(bad)
            assert await wait_stored(js, names.results, 1) == 1
            await asyncio.sleep(0.5)  # room for any (wrong) redelivery
        assert loop.stats.dead_letters == len(bad)
        assert loop.stats.naks == 0
        letters = [json.loads(m.data) for m in await read_all(js, names.dead, names.dead_letter)]
        by_id = {letter["id"]: letter for letter in letters if letter["id"]}
        unread = sorted(
            (letter for letter in letters if letter["id"] is None), key=lambda x: x["size"]
        )  # no id: the JSON was not read (not JSON, or too big to read)
        assert [u["error"]["type"] for u in unread] == ["MalformedMessage", "OversizedMessage"]
        assert unread[0]["data"] == "not json at all"
        assert "max_message_bytes" in unread[1]["error"]["message"]
        assert unread[1]["truncated"]  # quoted up to max_message_bytes, with size and digest
        assert base64.b64decode(unread[1]["data_base64"]) == bad[1][:2048]
        assert unread[1]["size"] == len(bad[1])
        assert "max_contents" in by_id["many"]["error"]["message"]
        assert by_id["empty"]["error"]["type"] == "InvalidContent"
        assert "contents[0].type" in by_id["shape"]["error"]["message"]
        assert all(letter["deliveries"] == 1 for letter in letters)
        assert len(vendor.checks) == 1  # no vendor call for a bad message
        assert await stored(js, names.stream) == 0  # terminated: never delivered again
        assert await consumer_state(names) == (0, 0)
    finally:
        await nc.close()


async def test_vendor_outage_naks_and_the_message_returns(
    names: Names, plugin_manager: pluggy.PluginManager
) -> None:
    vendor = FakeVendor(fail=True)
    nc, js = await connect()
    try:
        async with running(names, plugin_manager, vendor, max_deliver=5) as loop:
            await publish_all(js, names.subject_in, [message(1)])
            while loop.stats.naks < 2:
                await asyncio.sleep(0.02)
            vendor.fail = False  # the vendor is back
            assert await wait_stored(js, names.results, 1) == 1
        assert loop.stats.results == 1
        assert loop.stats.dead_letters == 0
        assert len(vendor.checks) >= 3  # asked again on each redelivery
        assert await stored(js, names.dead) == 0
        assert await stored(js, names.stream) == 0
    finally:
        await nc.close()


async def test_an_outage_past_max_deliver_is_dead_lettered(
    names: Names, plugin_manager: pluggy.PluginManager
) -> None:
    vendor = FakeVendor(fail=True)
    nc, js = await connect()
    try:
        async with running(names, plugin_manager, vendor, max_deliver=3) as loop:
            await publish_all(js, names.subject_in, [message(1)])
            assert await wait_stored(js, names.dead, 1) == 1
        assert (loop.stats.naks, loop.stats.dead_letters, loop.stats.results) == (2, 1, 0)
        (letter,) = [json.loads(m.data) for m in await read_all(js, names.dead, names.dead_letter)]
        assert letter["id"] == "m1"
        assert letter["deliveries"] == 3
        assert letter["error"]["type"] == "AllProvidersFailed"
        assert len(vendor.checks) == 3
        assert await stored(js, names.results) == 0
        assert await stored(js, names.stream) == 0
    finally:
        await nc.close()


async def test_on_failure_fail_mode_publishes_the_fail_mode_outcome_at_once(
    names: Names, plugin_manager: pluggy.PluginManager
) -> None:
    vendor = FakeVendor(fail=True)
    nc, js = await connect()
    try:
        async with running(
            names, plugin_manager, vendor, {"fail_mode": "review"}, on_failure="fail_mode"
        ) as loop:
            await publish_all(js, names.subject_in, [message(1)])
            assert await wait_stored(js, names.results, 1) == 1
        assert (loop.stats.naks, loop.stats.results) == (0, 1)
        (result,) = [
            json.loads(m.data) for m in await read_all(js, names.results, names.subject_out)
        ]
        assert result["outcome"]["action"] == "REVIEW"
        assert result["outcome"]["verdict"]["fallback"] is True
    finally:
        await nc.close()


async def test_on_failure_nak_retries_a_fail_mode_answer_before_publishing_it(
    names: Names, plugin_manager: pluggy.PluginManager
) -> None:
    vendor = FakeVendor(fail=True)
    nc, js = await connect()
    try:
        async with running(
            names, plugin_manager, vendor, {"fail_mode": "block"}, max_deliver=3
        ) as loop:
            await publish_all(js, names.subject_in, [message(1)])
            assert await wait_stored(js, names.results, 1) == 1
        assert (loop.stats.naks, loop.stats.results, loop.stats.dead_letters) == (2, 1, 0)
        (result,) = [
            json.loads(m.data) for m in await read_all(js, names.results, names.subject_out)
        ]
        assert result["outcome"]["action"] == "BLOCK"
    finally:
        await nc.close()


async def test_a_message_never_settled_is_dead_lettered_after_max_deliver(
    names: Names, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    # A message whose workers all died holding it: delivered max_deliver times, never
    # settled. Simulated by a bare broker that fetches it and lets it go.
    cfg = config(names, ack_wait=1.5, max_deliver=1)
    held = NatsBroker(worker_settings(cfg))
    await held.start()
    nc, js = await connect()
    try:
        await publish_all(js, names.subject_in, [message(1)])
        got: list[Any] = []
        while not got:
            got = await held.fetch(1, 0.5)
        await held.stop()  # "crashed" holding it
        async with running(names, plugin_manager, vendor, ack_wait=1.5, max_deliver=1) as loop:
            assert await wait_stored(js, names.dead, 1) == 1
        assert loop.stats.dead_letters == 1
        (letter,) = [json.loads(m.data) for m in await read_all(js, names.dead, names.dead_letter)]
        assert letter["deliveries"] == 2
        assert "without being settled" in letter["error"]["message"]
        assert letter["data"] == message(1).decode()
        assert vendor.checks == []
    finally:
        await nc.close()


async def test_fetches_come_in_whole_vendor_batches_so_every_request_is_full(
    names: Names, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    table = fake_providers(("a", {"batch_size": 10}), deadline=5)
    table["worker"] = names.worker(ack_wait=10, batch=25, in_flight=100)
    cfg = load_config(table)
    settings = worker_settings(cfg)
    limits: list[int] = []

    class Recording(NatsBroker):
        async def fetch(self, limit: int, timeout: float) -> list[Any]:
            limits.append(limit)
            return await super().fetch(limit, timeout)

    nc, js = await connect()
    try:
        broker = Recording(settings)
        await broker.start()
        await publish_all(js, names.subject_in, [message(n) for n in range(100)])
        async with AsyncModerator(
            cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
        ) as moderator:
            loop = Worker(moderator, broker, settings, fetch_timeout=0.2)
            task = asyncio.create_task(loop.run())
            assert await wait_stored(js, names.results, 100) == 100
            loop.stop()
            await asyncio.wait_for(task, 30)
        assert limits
        assert all(limit % 10 == 0 for limit in limits)  # 20 of the 25 a fetch may take
        assert sorted(len(check["items"]) for check in vendor.checks) == [10] * 10
    finally:
        await nc.close()


def huge_input(size: int) -> bytes:
    head, tail = b'{"id": "huge", "contents": ["', b'"]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_an_input_just_under_max_payload_is_dead_lettered_once_not_looped(
    names: Names, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    # Over max_message_bytes yet under NATS max_payload: quoted whole in base64 its dead
    # letter would be over max_payload and could never be published (it looped for ever).
    nc, js = await connect()
    try:
        data = huge_input(nc.max_payload - 256)
        async with running(names, plugin_manager, vendor) as loop:
            await publish_all(js, names.subject_in, [data, message(1)])
            assert await wait_stored(js, names.dead, 1) == 1
            assert await wait_stored(js, names.results, 1) == 1
        assert (loop.stats.dead_letters, loop.stats.results, loop.stats.refused) == (1, 1, 0)
        assert loop.stats.broker_errors == 0
        (letter,) = [json.loads(m.data) for m in await read_all(js, names.dead, names.dead_letter)]
        assert letter["error"]["type"] == "OversizedMessage"
        assert (letter["size"], letter["truncated"]) == (len(data), True)
        assert letter["sha256"] == hashlib.sha256(data).hexdigest()
        assert base64.b64decode(letter["data_base64"]) == data[: 256 * 1024]
        assert await stored(js, names.stream) == 0  # terminated
        assert await consumer_state(names) == (0, 0)  # and not held
    finally:
        await nc.close()


async def dead_stream_of_at_most(names: Names, js: Any, max_msg_size: int) -> None:
    """The dead-letter stream, made before the worker (which keeps it as it is), taking
    messages of at most ``max_msg_size`` bytes."""
    await js.add_stream(
        StreamConfig(name=names.dead, subjects=[names.dead_letter], max_msg_size=max_msg_size)
    )


async def test_a_dead_letter_the_stream_refuses_is_sent_again_quoting_less(
    names: Names, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    nc, js = await connect()
    try:
        await dead_stream_of_at_most(names, js, 4000)
        data = b"not json " * 2000  # 18 KB: a letter quoting it whole is refused
        async with running(names, plugin_manager, vendor) as loop:
            await publish_all(js, names.subject_in, [data])
            assert await wait_stored(js, names.dead, 1) == 1
        assert (loop.stats.dead_letters, loop.stats.refused) == (1, 0)
        (letter,) = [json.loads(m.data) for m in await read_all(js, names.dead, names.dead_letter)]
        assert base64.b64decode(letter["data_base64"]) == data[:1024]
        assert (letter["size"], letter["truncated"]) == (len(data), True)
        assert await stored(js, names.stream) == 0
        assert await consumer_state(names) == (0, 0)
    finally:
        await nc.close()


async def test_an_input_whose_dead_letter_is_always_refused_is_terminated_with_a_log(
    names: Names,
    plugin_manager: pluggy.PluginManager,
    vendor: FakeVendor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nc, js = await connect()
    try:
        await dead_stream_of_at_most(names, js, 300)  # no dead letter fits
        async with running(names, plugin_manager, vendor) as loop:
            await publish_all(js, names.subject_in, [b"not json", message(1)])
            assert await wait_stored(js, names.results, 1) == 1
            for _ in range(200):  # a bound on waiting, not a measurement
                if loop.stats.refused:
                    break
                await asyncio.sleep(0.05)
        assert (loop.stats.refused, loop.stats.dead_letters, loop.stats.results) == (1, 0, 1)
        assert await stored(js, names.dead) == 0
        assert await stored(js, names.stream) == 0  # terminated, never looped
        assert await consumer_state(names) == (0, 0)
        assert "WITHOUT a dead letter" in caplog.text
        assert hashlib.sha256(b"not json").hexdigest() in caplog.text
    finally:
        await nc.close()
