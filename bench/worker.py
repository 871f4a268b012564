"""``moderation worker`` end to end on the real NATS JetStream (127.0.0.1:4222).

Messages/s from publish to result stored, for 1, 2 and 4 worker processes with the
local provider, against a bare consumer on the same broker that fetches and acks
without moderating (the broker ceiling); then one worker with the Tencent Chat
emulator 80 ms away enforcing its 200 requests/s quota: items/s and the share of the
quota. Every run reads back every result and counts the lost and the duplicated.
Workers are started and warm (stream and consumer made) before the clock starts; the
far-vendor worker also checks 2,000 messages first (its derived in-flight cap learns
the latency, as in ``far_vendor.py``), and the emulator's counts start after them. Each
run has its own stream names, deleted afterwards. The local table adds the CPU each
message cost the consumer processes and the broker (Linux ``/proc``).

    python bench/worker.py [--messages N] [--far-messages N] [--workers 1 2 4]

The workers and the bare consumer run on uvloop when it is installed;
``MODERATION_EVENT_LOOP=asyncio`` runs both on asyncio's own loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
from _common import emulator, environment, reset, stats, tencent
from nats.js import JetStreamContext

from moderation_core import load_config
from moderation_core.worker import worker_settings
from moderation_core.worker._nats import NatsBroker
from moderation_core.worker._run import event_loop_factory

NATS_URL = "nats://127.0.0.1:4222"
QUOTA = 200  # the emulator's requests/s
TEXTS = ["hello there", "今天天气不错", "加我微信 abc12345", "一起去吃饭吧", "nice photo!"]


def _broker_pids() -> list[int]:
    """The local nats-server's pids (to report its CPU per message), if pgrep finds any."""
    try:
        found = subprocess.run(
            ["pgrep", "-x", "nats-server"],  # noqa: S607 - from PATH, as the shell would
            check=False,
            capture_output=True,
            text=True,
        )
    except OSError:
        return []
    return [int(pid) for pid in found.stdout.split()]


BROKER_PIDS = _broker_pids()


def cpu_seconds(pids: Sequence[int]) -> float | None:
    """User + system CPU seconds of these processes (Linux /proc; None elsewhere)."""
    if not pids:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    try:
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return None
    return total / tick


def names() -> dict[str, str]:
    tag = secrets.token_hex(4)
    return {
        "stream": f"BENCH_{tag}",
        "subject_in": f"bench{tag}.in",
        "subject_out": f"bench{tag}.out",
        "dead_letter": f"bench{tag}.dead",
        "durable": f"bench{tag}",
    }


def write_config(folder: Path, providers: dict[str, Any], worker: dict[str, Any]) -> Path:
    def value(v: Any) -> str:
        return json.dumps(v) if isinstance(v, str) else str(v)

    lines = ["[moderation]", f"providers = {json.dumps(list(providers))}", "deadline = 10"]
    for name, table in providers.items():
        lines += [f"[providers.{name}]", *(f"{k} = {value(v)}" for k, v in table.items())]
    lines += ["[worker]", *(f"{k} = {value(v)}" for k, v in worker.items())]
    path = folder / f"{worker['stream']}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def processes(args: Sequence[list[str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    children = [
        subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a in args
    ]
    try:
        yield children
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


async def stored(js: JetStreamContext, stream: str) -> int:
    try:
        return (await js.stream_info(stream)).state.messages
    except nats.js.errors.NotFoundError:
        return 0


async def wait_created(js: JetStreamContext, stream: str) -> None:
    while True:
        try:
            await js.stream_info(stream)
            return
        except nats.js.errors.NotFoundError:
            await asyncio.sleep(0.05)


async def publish(js: JetStreamContext, subject: str, count: int, prefix: str = "m") -> None:
    for start in range(0, count, 1000):
        acks = []
        for n in range(start, min(count, start + 1000)):
            # No sender: the Moderator batches only messages of one context (scene, sender,
            # receiver), the vendor taking one per request.
            body = {"id": f"{prefix}{n}", "contents": [TEXTS[n % len(TEXTS)]]}
            acks.append(await js.publish_async(subject, json.dumps(body).encode()))
        await asyncio.gather(*acks)


async def result_ids(js: JetStreamContext, stream: str, subject: str, total: int) -> list[str]:
    sub = await js.pull_subscribe(subject, durable=None, stream=stream)
    ids: list[str] = []
    try:
        while len(ids) < total:
            try:
                batch = await sub.fetch(min(1000, total - len(ids)), timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                break  # every stored result read
            for m in batch:
                ids.append(json.loads(m.data)["id"])
                await m.ack()  # else the consumer stops at max_ack_pending
    finally:
        await sub.unsubscribe()
    return ids


async def run(
    config: Path,
    table: dict[str, str],
    workers: int,
    count: int,
    *,
    bare: bool = False,
    warm_up: int = 0,
    warmed: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Start the workers, publish ``count`` messages, wait for every result (or, bare,
    for the input stream to empty); messages/s, lost and duplicated. With ``warm_up``,
    that many messages go through first (their results awaited, then ``warmed`` called)
    before the clock starts: a worker's derived in-flight cap learns the latency."""
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream(timeout=30)
    stream, results = table["stream"], f"{table['stream']}_RESULTS"
    command = [sys.executable, __file__, "--bare", str(config)] if bare else None
    worker = command or [sys.executable, "-m", "moderation_core.worker", "--config", str(config)]
    try:
        with processes([worker] * workers) as procs:
            await wait_created(js, stream)
            await wait_created(js, results)
            await asyncio.sleep(1.0)  # every worker connected and fetching
            if warm_up:
                await publish(js, table["subject_in"], warm_up, prefix="w")
                while await stored(js, results) < warm_up:
                    await asyncio.sleep(0.01)
                if warmed is not None:
                    warmed()
            start = time.perf_counter()
            pids = [p.pid for p in procs]
            cpu_before = cpu_seconds(pids), cpu_seconds(BROKER_PIDS)
            publishing = asyncio.create_task(publish(js, table["subject_in"], count))
            while True:
                held = await stored(js, stream if bare else results)
                if (bare and publishing.done() and held == 0) or (
                    not bare and held >= count + warm_up
                ):
                    break
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - start
            cpu_after = cpu_seconds(pids), cpu_seconds(BROKER_PIDS)
            await publishing
        total = count + warm_up + 1
        ids = [] if bare else await result_ids(js, results, table["subject_out"], total)
        ids = [i for i in ids if not i.startswith("w")]
    finally:
        for name in (stream, results, f"{stream}_DEAD"):
            with suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(name)
        await nc.close()
    distinct = len(set(ids))
    return {
        "per_s": count / elapsed,
        "elapsed": elapsed,
        "lost": 0 if bare else count - distinct,
        "duplicated": len(ids) - distinct,
        # CPU per message, microseconds: the consumers', and the broker's (None where unknown)
        "cpu_us": [
            None if after is None or before is None else (after - before) / count * 1e6
            for before, after in zip(cpu_before, cpu_after, strict=True)
        ],
    }


async def bare_consumer(config: Path) -> None:
    """A consumer on the same stream and durable that acks without moderating."""
    settings = worker_settings(load_config(config))
    broker = NatsBroker(settings)
    await broker.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        for delivery in await broker.fetch(settings.batch, 0.5):
            await delivery.ack()
    await broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000, help="per local run")
    parser.add_argument("--far-messages", type=int, default=30_000, help="far-vendor run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--in-flight", type=int, default=256, help="[worker] in_flight")
    parser.add_argument("--far-in-flight", type=int, default=1024, help="in_flight, far vendor")
    parser.add_argument("--batch", type=int, default=64, help="[worker] batch (messages/fetch)")
    parser.add_argument("--skip-local", action="store_true", help="only the far-vendor run")
    parser.add_argument("--skip-far", action="store_true", help="only the local runs")
    parser.add_argument("--bare", type=Path, help=argparse.SUPPRESS)  # the child mode
    args = parser.parse_args()
    factory, loop_name = event_loop_factory()
    if args.bare:
        # The same event loop as the workers: the ceiling is not lowered by a slower one.
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(bare_consumer(args.bare))
        return
    print(f"# bench/worker.py — {environment()}, NATS {NATS_URL}, event loop {loop_name}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_local:
            local(folder, args, {"ack_wait": 30, "in_flight": args.in_flight, "batch": args.batch})
        if not args.skip_far:
            far = {"ack_wait": 30, "in_flight": args.far_in_flight, "batch": args.batch}
            far_vendor(folder, args, far)


def local(folder: Path, args: argparse.Namespace, worker_table: dict[str, Any]) -> None:
    """The local provider: the bare consumer, then 1, 2 and 4 worker processes."""
    table = names()
    config = write_config(
        folder, {"local": {"type": "local"}}, {"url": NATS_URL, **table, **worker_table}
    )
    bare = asyncio.run(run(config, table, 1, args.messages, bare=True))
    print(
        f"\nlocal provider, {args.messages:,} messages of one text each "
        f"(in_flight {worker_table['in_flight']}, batch {worker_table['batch']})"
    )
    cpu = "CPU us/msg"
    print(f"{'consumer':34} {'msgs/s':>9} {'of bare':>8} {'lost':>5} {'dup':>5} {cpu:>15}  target")
    label = "bare consumer (fetch + ack)"
    print(
        f"{label:34} {bare['per_s']:9,.0f} {'100%':>8} {'-':>5} {'-':>5} {cpu_text(bare):>15}"
        "  (broker ceiling)"
    )
    for workers in args.workers:
        table = names()
        config = write_config(
            folder, {"local": {"type": "local"}}, {"url": NATS_URL, **table, **worker_table}
        )
        r = asyncio.run(run(config, table, workers, args.messages))
        share = r["per_s"] / bare["per_s"]
        target = "target >= 50% of bare" if workers == 1 else "(scaling; 2 CPUs)"
        ok = (
            "ok"
            if (workers > 1 or share >= 0.5) and r["lost"] == r["duplicated"] == 0
            else "MISSED"
        )
        label = f"{workers} worker process{'es' if workers > 1 else ''}"
        counts = f"{r['lost']:5} {r['duplicated']:5} {cpu_text(r):>15}"
        print(f"{label:34} {r['per_s']:9,.0f} {share:8.0%} {counts}  {target}, 0 lost/dup: {ok}")
    print(
        "CPU us/msg: the consumer processes' / the broker's (nats-server), per message; "
        f"{os.cpu_count()} CPUs share both and the publisher"
    )


def cpu_text(r: dict[str, Any]) -> str:
    mine, broker = r["cpu_us"]
    return " / ".join("?" if v is None else f"{v:.0f}" for v in (mine, broker))


def far_vendor(folder: Path, args: argparse.Namespace, worker_table: dict[str, Any]) -> None:
    """One worker, the Tencent Chat emulator 80 ms away enforcing its quota."""
    with emulator("tencent_chat", threaded=True, far=True, rate_limit=QUOTA, latency=0.08) as url:
        table = names()
        config = write_config(
            folder, {"t": tencent("t", url)}, {"url": NATS_URL, **table, **worker_table}
        )
        # A second's worth first, as in far_vendor.py; the emulator's counts start after it.
        warm_up = 2000
        r = asyncio.run(
            run(config, table, 1, args.far_messages, warm_up=warm_up, warmed=lambda: reset(url))
        )
        seen = stats(url)
    req_s = seen["requests"] / r["elapsed"]
    quota = req_s / QUOTA
    ok = quota >= 0.95 and r["per_s"] >= 1850 and r["lost"] == r["duplicated"] == 0
    print(
        f"\nTencent Chat emulator 80 ms away, quota {QUOTA} requests/s, one worker, "
        f"{args.far_messages:,} messages (in_flight {worker_table['in_flight']})"
    )
    heads = f"{'items/s':>9} {'req/s':>7} {'quota':>6} {'peak/1s':>8} {'lost':>5} {'dup':>5}"
    print(f"{heads}  target")
    counts = f"{seen['peak_per_1s']:8} {r['lost']:5} {r['duplicated']:5}"
    print(
        f"{r['per_s']:9,.0f} {req_s:7.0f} {quota:6.0%} {counts}  "
        f">= 95% of quota and >= 1,850 items/s, 0 lost/dup: {'ok' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
