"""The rate limiter as the vendor sees it: the largest number of requests the Tencent
Chat emulator saw in any 1-second window (sliding, measured from arrival times) must
stay within the vendor's cap, and the achieved rate must be >= 95% of the configured
limit.

Vendor cap 200 requests/s (the emulator answers 60007 above it); the provider's
``rate_limit`` is set 2.5% under it (195) to absorb arrival jitter. Three runs:
one sync process, one async process with 64 concurrent callers, and 4 processes
sharing one limit through the real Redis on 127.0.0.1:6379.

    python bench/limiter.py [--checks N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
import uuid
from typing import Any

import redis
from _common import emulator, reset, stats, tencent

from moderation_core import AsyncModerator, ModerationError, Moderator

VENDOR_CAP = 200
LIMIT = 195
REDIS_URL = "redis://127.0.0.1:6379/0"


def config(url: str, name: str, redis_url: str | None = None) -> dict[str, Any]:
    moderation: dict[str, Any] = {"deadline": 120, "batch_window": 0}
    if redis_url:
        moderation["redis_url"] = redis_url
    return {
        "moderation": moderation,
        "providers": {name: tencent(name, url, rate_limit=LIMIT, max_wait=60)},
    }


def sync_worker(url: str, name: str, checks: int, redis_url: str | None) -> int:
    failed = 0
    with Moderator(config(url, name, redis_url)) as mod:
        for n in range(checks):
            try:
                mod.check(f"message {n}")
            except ModerationError:
                failed += 1
    return failed


async def async_run(url: str, name: str, checks: int, callers: int = 64) -> int:
    async with AsyncModerator(config(url, name)) as mod:
        queue = iter(range(checks))
        failed = 0

        async def caller() -> None:
            nonlocal failed
            for n in queue:
                try:
                    await mod.check(f"message {n}")
                except ModerationError:
                    failed += 1

        await asyncio.gather(*(caller() for _ in range(callers)))
    return failed


def report(label: str, seen: dict[str, Any], failed: int) -> None:
    rate = (seen["requests"] - 1) / seen["span"] if seen["span"] else float("nan")
    ok = seen["peak_per_1s"] <= VENDOR_CAP and rate >= 0.95 * LIMIT
    print(
        f"{label:32} requests {seen['requests']:5}  peak in any 1 s {seen['peak_per_1s']:4} "
        f"(vendor cap {VENDOR_CAP}, limit {LIMIT})  achieved {rate:6.1f}/s = "
        f"{rate / LIMIT:5.1%} of the limit, {rate / VENDOR_CAP:5.1%} of the cap  "
        f"failed {failed}  {'OK' if ok else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1200)
    args = parser.parse_args()
    with emulator("tencent_chat", rate_limit=VENDOR_CAP) as url:
        name = f"bench{uuid.uuid4().hex[:6]}"
        failed = sync_worker(url, name, args.checks, None)
        report("1 process, sync", stats(url), failed)
        reset(url)

        failed = asyncio.run(async_run(url, name + "a", args.checks))
        report("1 process, async, 64 callers", stats(url), failed)
        reset(url)

        shared = f"bench{uuid.uuid4().hex[:6]}"
        per_process = args.checks // 4
        with multiprocessing.get_context("spawn").Pool(4) as pool:
            start = time.perf_counter()
            failures = pool.starmap(
                sync_worker, [(url, shared, per_process, REDIS_URL) for _ in range(4)]
            )
            elapsed = time.perf_counter() - start
        report("4 processes, one limit in Redis", stats(url), sum(failures))
        print(f"(4 processes took {elapsed:.1f} s for {per_process * 4} checks)")
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{shared}*"):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    main()
