"""Auto-batching against a vendor quota: the Tencent Chat emulator limited to 200
requests/s (answering 60007 above it), 3,000 concurrent single checks through
AsyncModerator with and without auto-batching.

The layer's own limiter is set just under the vendor's (195/s: arrival jitter on the
vendor's side must not push a window over). Without batching the ceiling is one
check per request; with it, up to ten. Target: >= 1,500 items/s with batching (7.5x
the unbatched ceiling) and zero rate-limit errors.

    python bench/batching.py [--checks N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import emulator, reset, stats, tencent

from moderation_core import AsyncModerator, ModerationError, RateLimited

TEXTS = ["hello there", "今天天气不错", "加我微信 abc12345", "一起去吃饭吧", "nice photo!"]


async def run(url: str, checks: int, batch_window: float) -> tuple[float, int, int]:
    config = {
        "moderation": {"batch_window": batch_window, "deadline": 120},
        "providers": {"t": tencent("t", url, rate_limit=195, max_wait=60)},
    }
    async with AsyncModerator(config) as mod:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(mod.check(TEXTS[n % len(TEXTS)]) for n in range(checks)), return_exceptions=True
        )
        elapsed = time.perf_counter() - start
    failed = [r for r in results if isinstance(r, ModerationError)]
    limited = [
        r for r in failed if any(isinstance(e, RateLimited) for e in getattr(r, "exceptions", [r]))
    ]
    return checks / elapsed, len(failed), len(limited)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=3000)
    args = parser.parse_args()
    with emulator("tencent_chat", rate_limit=200) as url:
        rows = []
        modes = (("auto-batching on (2 ms window)", 0.002), ("auto-batching off", 0.0))
        for label, window in modes:
            rate, failed, limited = asyncio.run(run(url, args.checks, window))
            seen = stats(url)
            rows.append((label, rate, failed, limited, seen))
            reset(url)
    print(f"{args.checks} concurrent single checks; vendor limit 200 requests/s")
    for label, rate, failed, limited, seen in rows:
        print(
            f"{label:32} {rate:7.0f} items/s  failed {failed}  rate-limited {limited}  "
            f"requests {seen['requests']}  peak requests in any 1 s {seen['peak_per_1s']}"
        )
    on, off = rows[0][1], rows[1][1]
    print(f"batched / unbatched: {on / off:.1f}x; target >= 1,500 items/s and 0 rate-limit errors")


if __name__ == "__main__":
    main()
