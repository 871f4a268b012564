"""A far vendor: the Tencent Chat emulator answering after 80 ms (``--latency``) and
enforcing its quota of 200 requests/s (60007 above it), in a child process over real
HTTP. Items/s, vendor requests/s and the share of the quota for a naive
``httpx.AsyncClient`` (a task per caller), ``AsyncModerator`` (defaults, batching off,
batching off with ``max_in_flight = 64``) from 256 callers, and ``Moderator`` shared by
64 threads with and without batching (and by 256 threads with batching).

By Little's law no client finishes more than ``callers / round trip`` checks per
second, one check per caller at a time. The round trip is measured, not taken from
``--latency``: before the rows, a bare ``httpx.Client`` sends a few dozen requests one
after another (after a warm-up), and their median is the bound's round trip. The
emulator's HTTP and thread wake-ups add a few ms to the nominal latency, so 64 threads
at 80 ms cannot pass ~780 items/s (not 800), whatever the layer does. Each figure is
printed beside its target and beside that bound where it binds (the measured bound with
its round trip, and the nominal one). Each run is warmed up first (the derived in-flight
cap learns the latency), and the emulator's counts are reset after it. The emulator
runs ahead of the client on the CPU where the OS permits (``_emulator.py --far``): a far
vendor does not share the client's cores, and a stall of its own would bunch its quota
count.

    python bench/far_vendor.py [--latency S ...] [--checks N] [--callers N] [--threads N]
                               [--rows TEXT ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from _common import DEMO_KEY, SDKAPPID, emulator, reset, stats, tencent

from moderation_core import AsyncModerator, ModerationError, Moderator, RateLimited
from moderation_tencent_chat._usersig import make_usersig

QUOTA = 200  # the emulator's requests/s
ASYNC_ON = "AsyncModerator defaults (batching on)"
ASYNC_OFF = "AsyncModerator batching off"
ASYNC_64 = "AsyncModerator batching off, max_in_flight=64"
TEXTS = ["hello there", "今天天气不错", "加我微信 abc12345", "一起去吃饭吧", "nice photo!"]
AUDIT_PATH = "/v4/im_msg_audit/content_moderation"
WARM_UP = 1.0  # seconds of checks before the measured run
TRIP_WARM_UP, TRIP_SAMPLES = 5, 30  # requests of the round-trip measurement

Row = dict[str, Any]


def audit_params(usersig: str) -> dict[str, str]:
    """The query of one text audit request, sent by hand (a fresh ``random`` each)."""
    return {
        "sdkappid": str(SDKAPPID),
        "identifier": "admin",
        "usersig": usersig,
        "random": str(secrets.randbelow(1 << 32)),
        "contenttype": "json",
    }


def audit_body(n: int) -> str:
    return json.dumps({"AuditName": "C2C", "ContentType": "Text", "Content": TEXTS[n % 5]})


def rate_limited(result: object) -> bool:
    errors = getattr(result, "exceptions", [result])
    return any(isinstance(e, RateLimited) for e in errors)


def row(
    label: str,
    url: str,
    checks: int,
    elapsed: float,
    rejected: int,
    failed: int,
    mod: Moderator | AsyncModerator | None = None,
) -> Row:
    seen = stats(url)
    concurrency = mod._lanes["t"].concurrency if mod is not None else None
    return {
        "label": label,
        "items_per_s": checks / elapsed,
        "requests_per_s": seen["requests"] / elapsed,
        "rejected": rejected,
        "failed": failed,
        "peak": seen["peak_per_1s"],
        "cap": "-" if concurrency is None else str(concurrency.limit),
    }


# -- async clients -------------------------------------------------------------------


async def run_tasks(callers: int, checks: int, one: Callable[[int], Any]) -> list[Any]:
    numbers = iter(range(checks))
    results: list[Any] = []

    async def caller() -> None:
        for n in numbers:
            try:
                results.append(await one(n))
            except ModerationError as exc:
                results.append(exc)

    await asyncio.gather(*(caller() for _ in range(callers)))
    return results


async def warmed_async(
    url: str, callers: int, checks: int, one: Callable[[int], Any]
) -> tuple[list[Any], float]:
    start = time.perf_counter()
    while time.perf_counter() - start < WARM_UP:
        await run_tasks(callers, callers, one)
    await asyncio.sleep(1.1)  # a fresh quota second at the vendor
    reset(url)
    start = time.perf_counter()
    results = await run_tasks(callers, checks, one)
    return results, time.perf_counter() - start


async def naive(url: str, callers: int, checks: int) -> Row:
    usersig = make_usersig(SDKAPPID, "admin", DEMO_KEY, expire=86400)
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(n: int) -> int:
            response = await client.post(
                f"{url}{AUDIT_PATH}", params=audit_params(usersig), content=audit_body(n)
            )
            return int(response.json()["ErrorCode"])

        results, elapsed = await warmed_async(url, callers, checks, one)
    rejected = sum(code == 60007 for code in results)
    label = "naive httpx.AsyncClient, a task per caller"
    answered = checks - rejected
    return row(label, url, answered, elapsed, rejected, rejected)


async def layer(label: str, url: str, callers: int, checks: int, **options: Any) -> Row:
    moderation = {"batch_window": options.pop("batch_window")} if "batch_window" in options else {}
    config = {"moderation": moderation, "providers": {"t": tencent("t", url, **options)}}
    async with AsyncModerator(config) as mod:
        results, elapsed = await warmed_async(
            url, callers, checks, lambda n: mod.check(TEXTS[n % len(TEXTS)])
        )
    failed = [r for r in results if isinstance(r, ModerationError)]
    return row(label, url, checks, elapsed, sum(map(rate_limited, failed)), len(failed), mod)


# -- the blocking moderator from threads ---------------------------------------------


def run_threads(threads: int, checks: int, mod: Moderator) -> list[Any]:
    numbers = iter(range(checks))  # next() on a range iterator is atomic
    results: list[Any] = []

    def worker() -> None:
        for n in numbers:
            try:
                results.append(mod.check(TEXTS[n % len(TEXTS)]))
            except ModerationError as exc:
                results.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def sync_layer(label: str, url: str, threads: int, checks: int, batch_window: float) -> Row:
    config = {"moderation": {"batch_window": batch_window}, "providers": {"t": tencent("t", url)}}
    with Moderator(config) as mod:
        start = time.perf_counter()
        while time.perf_counter() - start < WARM_UP:
            run_threads(threads, threads, mod)
        time.sleep(1.1)
        reset(url)
        start = time.perf_counter()
        results = run_threads(threads, checks, mod)
        elapsed = time.perf_counter() - start
    failed = [r for r in results if isinstance(r, ModerationError)]
    return row(label, url, checks, elapsed, sum(map(rate_limited, failed)), len(failed), mod)


# -- the table -----------------------------------------------------------------------


def round_trip(url: str) -> float:
    """The median time a bare client waits for one answer, requests sent one after
    another (light load, far under the quota), after a warm-up: the latency plus what
    HTTP and thread wake-ups add on both sides: the least any layer can take."""
    usersig = make_usersig(SDKAPPID, "admin", DEMO_KEY, expire=86400)
    times = []
    with httpx.Client(timeout=30) as client:
        for n in range(TRIP_WARM_UP + TRIP_SAMPLES):
            start = time.perf_counter()
            client.post(f"{url}{AUDIT_PATH}", params=audit_params(usersig), content=audit_body(n))
            if n >= TRIP_WARM_UP:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(latency: float, args: argparse.Namespace) -> tuple[float, list[tuple[Row, str]]]:
    """The measured round trip, and each chosen row with its target."""
    callers, threads, checks = args.callers, args.threads, args.checks
    batched = checks * 5  # batched runs go ~10x faster: more checks for a steady figure
    rows: list[tuple[Row, str]] = []
    trip = latency  # the measured round trip once the emulator is up (before any row)

    def bound(clients: int) -> float:
        return clients / trip  # Little's law: one check per client at a time

    def bounds(clients: int) -> str:
        return (
            f"client bound {bound(clients):,.0f}: {clients} callers / {trip * 1000:.1f} ms "
            f"measured round trip; nominal {clients / latency:,.0f} at {latency * 1000:.0f} ms"
        )

    def share_target(r: Row, clients: int) -> str:
        met = r["requests_per_s"] >= 0.95 * QUOTA and r["rejected"] == 0
        mark = "OK" if met else "MISSED"
        return f"target >= 95% of quota, 0 rejected: {mark} ({bounds(clients)})"

    def items_target(r: Row, clients: int, want: float) -> str:
        # No client passes ``clients / round trip`` (Little's law): where the issue's
        # target is above that, the row is held to 95% of the bound instead, and says
        # what the figure would take.
        reachable = min(want, 0.95 * bound(clients))
        met = r["items_per_s"] >= reachable and r["rejected"] == 0
        text = f"target >= {reachable:,.0f} items/s: {'OK' if met else 'MISSED'}"
        if reachable < want:
            needs = math.ceil(want * trip / 0.95)
            text += (
                f" (95% of the {bounds(clients)}; the issue's {want:,.0f} needs >= {needs} callers)"
            )
        return text

    # (label, run it against the emulator's url, its target): the table's rows in order.
    plan: list[tuple[str, Callable[[str], Row], Callable[[Row], str]]] = [
        (
            "naive httpx.AsyncClient, a task per caller",
            lambda url: asyncio.run(naive(url, callers, checks)),
            lambda r: "(reference)",
        ),
        (
            ASYNC_ON,
            lambda url: asyncio.run(layer(ASYNC_ON, url, callers, batched)),
            lambda r: items_target(r, callers, 1850),
        ),
        (
            ASYNC_OFF,
            lambda url: asyncio.run(layer(ASYNC_OFF, url, callers, checks, batch_window=0)),
            lambda r: share_target(r, callers),
        ),
        (
            ASYNC_64,
            lambda url: asyncio.run(
                layer(ASYNC_64, url, callers, checks, batch_window=0, max_in_flight=64)
            ),
            lambda r: "(reference: the issue's hand-tuned row)",
        ),
        (
            f"Moderator, {threads} threads, batching off",
            lambda url: sync_layer(
                f"Moderator, {threads} threads, batching off", url, threads, checks, 0
            ),
            lambda r: share_target(r, threads),
        ),
        (
            f"Moderator, {threads} threads, batching on",
            lambda url: sync_layer(
                f"Moderator, {threads} threads, batching on", url, threads, batched, 0.002
            ),
            lambda r: items_target(r, threads, 1500),
        ),
        (
            f"Moderator, {callers} threads, batching on",
            lambda url: sync_layer(
                f"Moderator, {callers} threads, batching on", url, callers, batched, 0.002
            ),
            lambda r: items_target(r, callers, 1500),
        ),
    ]
    chosen = [(label, run, target) for label, run, target in plan if selected(label, args.rows)]
    with emulator(
        "tencent_chat", threaded=True, far=True, rate_limit=QUOTA, latency=latency
    ) as url:
        trip = round_trip(url)
        for _, run, target in chosen:
            r = run(url)  # it resets the emulator's counts after its warm-up
            rows.append((r, target(r)))
            time.sleep(1.1)  # a fresh quota second at the vendor
    return trip, rows


def selected(label: str, wanted: list[str] | None) -> bool:
    return wanted is None or any(w.lower() in label.lower() for w in wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.08, 0.02, 0.2])
    parser.add_argument("--checks", type=int, default=3000, help="per unbatched run")
    parser.add_argument("--callers", type=int, default=256)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument(
        "--rows",
        nargs="+",
        metavar="TEXT",
        help="only the rows whose label contains one of these (e.g. '64 threads, batching on')",
    )
    args = parser.parse_args()
    for latency in args.latency:
        trip, rows = measure(latency, args)
        print(
            f"\nvendor {latency * 1000:.0f} ms away, quota {QUOTA} requests/s; "
            f"{args.callers} async callers or threads as named; a bare client's round trip "
            f"{trip * 1000:.1f} ms (median of {TRIP_SAMPLES} sequential requests)"
        )
        print(
            f"{'client':50} {'items/s':>8} {'req/s':>6} {'quota':>6} {'rejected':>8} "
            f"{'peak':>5} {'cap':>4}"
        )
        for r, target in rows:
            share = r["requests_per_s"] / QUOTA
            print(
                f"{r['label']:50} {r['items_per_s']:8.0f} {r['requests_per_s']:6.0f} "
                f"{share:6.0%} {r['rejected']:8d} {r['peak']:5d} {r['cap']:>4}  {target}"
            )
    print(
        "\nrejected: target 0 for the layer (naive excepted); peak: most vendor requests in "
        "any 1 s; cap: the derived in-flight cap at the end ('-': fixed or none)"
    )


if __name__ == "__main__":
    main()
