"""``moderation worker`` processes against the real NATS JetStream: SIGTERM drains,
and the Done-when test (10,000 messages, two workers, one SIGKILLed halfway: exactly
10,000 distinct results)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moderation_core.testing import serve
from moderation_tencent_chat.emulator import make_emulator
from tests.fake_secrets import TENCENT_SECRET_KEY
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


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def write_config(path: Path, tables: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))  # a test bug shows here, not in the child
    return path


def local_config(tmp_path: Path, names: Names, **worker: Any) -> Path:
    return write_config(
        tmp_path / "moderation.toml",
        {
            "moderation": {"providers": ["local"], "deadline": 1},
            "providers.local": {"type": "local"},
            "worker": names.worker(**{"ack_wait": 2, **worker}),
        },
    )


@contextmanager
def worker_process(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        [sys.executable, "-m", "moderation_core.worker", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        assert child.stderr is not None
        child.stderr.close()


async def exited(child: subprocess.Popen[bytes], timeout: float = 30) -> int:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: child.wait(timeout=timeout))


async def test_sigterm_drains_what_is_in_hand_and_exits_0(names: Names, tmp_path: Path) -> None:
    total = 2000
    # A vendor 200 ms away, so that SIGTERM finds messages in hand.
    with serve(make_emulator(latency="0.2")) as url:
        config = write_config(
            tmp_path / "moderation.toml",
            {
                "moderation": {"providers": ["t"], "deadline": 5},
                "providers.t": {
                    "type": "tencent_chat",
                    "sdkappid": 1400000000,
                    "identifier": "admin",
                    "secret_key": TENCENT_SECRET_KEY,
                    "base_url": url,
                },
                "worker": names.worker(ack_wait=30, in_flight=50, batch=25),
            },
        )
        nc, js = await connect()
        try:
            with worker_process(config) as child:
                await wait_created(js, names.stream)
                await publish_all(js, names.subject_in, [message(n) for n in range(total)])
                assert await wait_stored(js, names.results, 1) >= 1
                child.send_signal(signal.SIGTERM)
                assert await exited(child) == 0
                assert child.stderr is not None
                log = child.stderr.read().decode()
            assert "SIGTERM: draining" in log
            results = await read_all(js, names.results, names.subject_out)
            left = await stored(js, names.stream)
            assert 0 < len(results) < total  # it stopped fetching...
            assert len(results) + left == total  # ...and settled each message it took
            ids = {json.loads(m.data)["id"] for m in results}
            assert len(ids) == len(results)
            info = await js.consumer_info(names.stream, f"w{names.suffix}")
            assert info.num_ack_pending == 0  # nothing left in hand for a redelivery
            assert info.num_redelivered == 0
            assert info.num_pending == left
        finally:
            await nc.close()


async def test_two_workers_one_killed_halfway_10000_distinct_results(
    names: Names, tmp_path: Path
) -> None:
    total = 10_000
    config = local_config(tmp_path, names, ack_wait=2, in_flight=256, batch=64)
    nc, js = await connect()
    try:
        with worker_process(config) as first, worker_process(config) as second:
            await wait_created(js, names.stream)
            await wait_created(js, names.results)
            await publish_all(js, names.subject_in, [message(n) for n in range(total)])
            assert await wait_stored(js, names.results, total // 2) >= total // 2
            first.kill()  # SIGKILL: what it held is redelivered after the ack wait
            assert await exited(first) == -signal.SIGKILL
            assert await wait_stored(js, names.results, total, timeout=45) == total
            second.send_signal(signal.SIGTERM)
            assert await exited(second) == 0
        results = await read_all(js, names.results, names.subject_out)
        ids = [json.loads(m.data)["id"] for m in results]
        assert len(ids) == total
        assert set(ids) == {f"m{n}" for n in range(total)}  # none lost, none twice
        assert await stored(js, names.stream) == 0
        assert await stored(js, names.dead) == 0
    finally:
        await nc.close()
