"""A NATS restart is survived: the worker reconnects and carries on. Runs its own
nats-server (on a free port, with its own store) so that it can stop and start it."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from moderation_core import AsyncModerator, load_config
from moderation_core.worker import worker_settings
from moderation_core.worker._loop import Worker
from moderation_core.worker._nats import NatsBroker
from tests.worker.nats_support import Names, connect, message, publish_all, wait_stored

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def nats_server(port: int, store: Path) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield child
    finally:
        child.terminate()
        child.wait(timeout=10)


async def until_up(url: str) -> None:
    for _ in range(100):
        try:
            nc, js = await connect(url)
            await js.account_info()
            await nc.close()
            return
        except Exception:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nats-server at {url} did not come up")


@pytest.mark.skipif(not Path(NATS_SERVER).exists(), reason="nats-server is not installed")
async def test_the_worker_survives_a_broker_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    names = Names()
    config = load_config(
        {
            "moderation": {"providers": ["local"], "deadline": 1},
            "providers": {"local": {"type": "local"}},
            "worker": names.worker(url=url, ack_wait=2),
        }
    )
    settings = worker_settings(config)
    with nats_server(port, tmp_path / "store") as server:
        await until_up(url)
        async with AsyncModerator(config) as moderator:
            worker = Worker(moderator, NatsBroker(settings), settings, fetch_timeout=0.2)
            task = asyncio.create_task(worker.run())
            nc, js = await connect(url)
            try:
                while True:  # the worker creates the stream
                    try:
                        await js.stream_info(names.stream)
                        break
                    except Exception:
                        await asyncio.sleep(0.05)
                await publish_all(js, names.subject_in, [message(n) for n in range(50)])
                assert await wait_stored(js, names.results, 50) == 50
            finally:
                await nc.close()
            server.terminate()
            server.wait(timeout=10)
            await asyncio.sleep(1)  # the worker meets a dead broker for a while
            with nats_server(port, tmp_path / "store"):
                await until_up(url)
                nc, js = await connect(url)
                try:
                    await publish_all(js, names.subject_in, [message(n) for n in range(50, 100)])
                    assert await wait_stored(js, names.results, 100, timeout=30) == 100
                finally:
                    await nc.close()
                worker.stop()
                stats = await asyncio.wait_for(task, 30)
    assert stats.results == 100
