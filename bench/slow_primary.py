"""A slow primary and a fast secondary: what the circuit breaker buys.

The primary (the Huanxin emulator, answering after 3 s) is configured with a 0.5 s
timeout, so every call to it fails by timeout and falls back to the secondary (the
Tencent Chat emulator, answering at once); both in child processes over real HTTP.
1,000 checks from 32 concurrent callers through AsyncModerator:

- with the breaker (defaults: open after 5 failures in a row, 60 s open);
- without it (a breaker that never opens);
- the secondary alone, as the floor.

Prints p50/p99 latency; target: with the breaker, once it is open, p99 within 50 ms of
the secondary's own p99.

    python bench/slow_primary.py [--checks N] [--callers N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import emulator, percentile, tencent

from moderation_core import AsyncModerator

TEXTS = ["hello there", "今天天气不错", "see you at 5", "一起去吃饭吧", "nice photo!"]


def huanxin(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "huanxin",
        "base_url": url,
        "org_name": "demo-org",
        "app_name": "demo-app",
        "client_id": "emulator-client-id",
        "client_secret": "emulator-client-secret",
        **extra,
    }


async def latencies(config: dict[str, Any], checks: int, callers: int) -> list[tuple[float, float]]:
    """(start offset, latency) per check, in seconds."""
    out: list[tuple[float, float]] = []
    async with AsyncModerator(config) as mod:
        queue = iter(range(checks))
        origin = time.perf_counter()

        async def caller() -> None:
            for n in queue:
                start = time.perf_counter()
                await mod.check(TEXTS[n % len(TEXTS)])
                out.append((start - origin, time.perf_counter() - start))

        await asyncio.gather(*(caller() for _ in range(callers)))
    return out


def describe(label: str, samples: list[float]) -> str:
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    return f"{label:40} n={len(samples):5}  p50 {p50:8.1f} ms  p99 {p99:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--callers", type=int, default=32)
    args = parser.parse_args()
    never_opens = {"failures": 1_000_000, "failure_ratio": 1.0, "min_calls": 1_000_000}
    with (
        emulator("huanxin", threaded=True, latency=3) as slow,
        emulator("tencent_chat") as fast,
    ):
        base = {"moderation": {"providers": ["primary", "secondary"], "batch_window": 0}}

        def config(**primary: Any) -> dict[str, Any]:
            return {
                **base,
                "providers": {
                    "primary": huanxin(slow, timeout=0.5, **primary),
                    "secondary": tencent("secondary", fast),
                },
            }

        alone = asyncio.run(
            latencies(
                {"moderation": {"batch_window": 0}, "providers": {"secondary": tencent("s", fast)}},
                args.checks,
                args.callers,
            )
        )
        with_breaker = asyncio.run(latencies(config(), args.checks, args.callers))
        without = asyncio.run(latencies(config(breaker=never_opens), args.checks, args.callers))

    secondary_p99 = percentile([lat for _, lat in alone], 99)
    # "Once the breaker is open": after the first calls, which paid the timeout.
    opened_at = max((start for start, lat in with_breaker if lat >= 0.4), default=0.0)
    after_open = [lat for start, lat in with_breaker if start > opened_at]
    print(
        f"{args.checks} checks, {args.callers} concurrent callers; primary answers in 3 s, "
        "its timeout is 0.5 s"
    )
    print(describe("secondary alone", [lat for _, lat in alone]))
    print(describe("with breaker (all checks)", [lat for _, lat in with_breaker]))
    print(describe("with breaker, once open", after_open))
    print(describe("without breaker", [lat for _, lat in without]))
    gap = (percentile(after_open, 99) - secondary_p99) * 1000
    print(f"p99 once open - secondary's p99: {gap:+.1f} ms (target <= 50 ms)")


if __name__ == "__main__":
    main()
