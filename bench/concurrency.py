"""64 concurrent callers, 5,000 checks: AsyncModerator against a bare httpx.AsyncClient
used naively (64 tasks, each awaiting its own request), both against the Tencent Chat
emulator (no rate limit) in a child process over real HTTP.

The layer caps requests in flight before httpx (``max_in_flight``: unset here, so
derived from the latency its answers show, from 8 up; on loopback, where the client's
CPU is the queue, it stays near 8, httpcore's fast range), and (by default) coalesces
concurrent checks into batch requests. Target: the layer >= 2x the naive client's checks/s. Both are
shown: AsyncModerator as shipped, and with batching off (one request per check on both
sides, so only the gate differs).

    python bench/concurrency.py [--checks N] [--callers N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable

import httpx
from _common import DEMO_KEY, SDKAPPID, emulator, median, tencent

from moderation_core import AsyncModerator
from moderation_tencent_chat._usersig import make_usersig

TEXTS = ["hello there", "今天天气不错", "see you at 5", "一起去吃饭吧", "nice photo!"]


async def run_callers(callers: int, checks: int, one: Callable[[int], Awaitable[object]]) -> float:
    queue = iter(range(checks))

    async def caller() -> None:
        for n in queue:
            await one(n)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return checks / (time.perf_counter() - start)


async def layer_rate(url: str, callers: int, checks: int, batch_window: float) -> float:
    config = {
        "moderation": {"batch_window": batch_window},
        "providers": {"t": tencent("t", url, rate_limit=0)},
    }
    async with AsyncModerator(config) as mod:
        await run_callers(callers, 200, lambda n: mod.check(TEXTS[n % len(TEXTS)]))  # warm up
        return await run_callers(callers, checks, lambda n: mod.check(TEXTS[n % len(TEXTS)]))


async def naive_rate(url: str, callers: int, checks: int) -> float:
    usersig = make_usersig(SDKAPPID, "admin", DEMO_KEY, expire=86400)
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(n: int) -> str:
            params = {
                "sdkappid": str(SDKAPPID),
                "identifier": "admin",
                "usersig": usersig,
                "random": str(secrets.randbelow(1 << 32)),
                "contenttype": "json",
            }
            body = json.dumps({"AuditName": "C2C", "ContentType": "Text", "Content": TEXTS[n % 5]})
            response = await client.post(
                f"{url}/v4/im_msg_audit/content_moderation", params=params, content=body
            )
            return str(response.json()["Result"])

        await run_callers(callers, 200, one)
        return await run_callers(callers, checks, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with emulator("tencent_chat") as url:
        gated, batched, naive = [], [], []
        for _ in range(args.rounds):
            gated.append(asyncio.run(layer_rate(url, args.callers, args.checks, batch_window=0)))
            naive.append(asyncio.run(naive_rate(url, args.callers, args.checks)))
            batched.append(asyncio.run(layer_rate(url, args.callers, args.checks, 0.002)))
    print(f"{args.callers} callers, {args.checks} checks per run, {args.rounds} runs (median)")
    print(f"naive httpx.AsyncClient, {args.callers} tasks        {median(naive):8.0f} checks/s")
    for label, rates in (
        ("AsyncModerator, defaults (batching on)", batched),
        ("AsyncModerator, gate only (batching off)", gated),
    ):
        ratios = ", ".join(f"{a / b:.2f}" for a, b in zip(rates, naive, strict=True))
        print(
            f"{label:41} {median(rates):8.0f} checks/s = {median(rates) / median(naive):5.2f}x "
            f"naive (runs: {ratios}); target >= 2x"
        )


if __name__ == "__main__":
    main()
