"""CPU the layer adds per check, over bare httpx calling the same endpoint.

Runs the Tencent Chat emulator in a child process over real HTTP on 127.0.0.1, then
sends the same N text checks:

- through ``Moderator`` / ``AsyncModerator`` (one provider, no retries, no limiter);
- through hand-written httpx calls doing the same work: UserSig (cached), a fresh
  ``random``, the JSON body, and reading the answer's JSON.

and prints CPU per check in this process (the server's CPU is not counted), for sync
(sequential) and async (8 in flight, auto-batching off so both send one request per
check). Target: the layer costs <= 5% more CPU per check than bare httpx.

    python bench/overhead.py [--checks N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time

import httpx
from _common import DEMO_KEY, SDKAPPID, emulator, median, percentile, tencent

from moderation_core import AsyncModerator, Moderator
from moderation_tencent_chat._usersig import make_usersig

BLOCKS = 20
TEXTS = ["hello there", "今天天气不错", "see you at 5", "一起去吃饭吧", "nice photo!"]


def bare_sync(client: httpx.Client, url: str, usersig: str, text: str) -> str:
    params = {
        "sdkappid": str(SDKAPPID),
        "identifier": "admin",
        "usersig": usersig,
        "random": str(secrets.randbelow(1 << 32)),
        "contenttype": "json",
    }
    body = json.dumps({"AuditName": "C2C", "ContentType": "Text", "Content": text})
    response = client.post(
        f"{url}/v4/im_msg_audit/content_moderation",
        params=params,
        content=body,
        headers={"Content-Type": "application/json"},
    )
    return str(response.json()["Result"])


async def bare_async(client: httpx.AsyncClient, url: str, usersig: str, text: str) -> str:
    params = {
        "sdkappid": str(SDKAPPID),
        "identifier": "admin",
        "usersig": usersig,
        "random": str(secrets.randbelow(1 << 32)),
        "contenttype": "json",
    }
    body = json.dumps({"AuditName": "C2C", "ContentType": "Text", "Content": text})
    response = await client.post(
        f"{url}/v4/im_msg_audit/content_moderation",
        params=params,
        content=body,
        headers={"Content-Type": "application/json"},
    )
    return str(response.json()["Result"])


def measure_sync(url: str, checks: int) -> tuple[list[float], list[float]]:
    usersig = make_usersig(SDKAPPID, "admin", DEMO_KEY, expire=86400)
    config = {
        "moderation": {"batch_window": 0},
        "providers": {"t": tencent("t", url, rate_limit=0)},
    }
    with Moderator(config) as mod, httpx.Client() as client:
        for text in TEXTS:  # warm both paths (connections, UserSig cache, imports)
            mod.check(text)
            bare_sync(client, url, usersig, text)
        # Alternate blocks of both so drift on a shared machine hits them alike.
        layer, bare = [], []
        for _ in range(BLOCKS):
            start = time.process_time()
            for n in range(checks // BLOCKS):
                mod.check(TEXTS[n % len(TEXTS)])
            layer.append(time.process_time() - start)
            start = time.process_time()
            for n in range(checks // BLOCKS):
                bare_sync(client, url, usersig, TEXTS[n % len(TEXTS)])
            bare.append(time.process_time() - start)
    return layer, bare


async def measure_async(
    url: str, checks: int, in_flight: int = 8
) -> tuple[list[float], list[float]]:
    usersig = make_usersig(SDKAPPID, "admin", DEMO_KEY, expire=86400)
    config = {
        "moderation": {"batch_window": 0},
        "providers": {"t": tencent("t", url, rate_limit=0)},
    }
    gate = asyncio.Semaphore(in_flight)

    async with AsyncModerator(config) as mod, httpx.AsyncClient() as client:

        async def layer_one(n: int) -> None:
            async with gate:
                await mod.check(TEXTS[n % len(TEXTS)])

        async def bare_one(n: int) -> None:
            async with gate:
                await bare_async(client, url, usersig, TEXTS[n % len(TEXTS)])

        await asyncio.gather(*(layer_one(n) for n in range(20)), *(bare_one(n) for n in range(20)))
        layer, bare = [], []
        for _ in range(BLOCKS):
            start = time.process_time()
            await asyncio.gather(*(layer_one(n) for n in range(checks // BLOCKS)))
            layer.append(time.process_time() - start)
            start = time.process_time()
            await asyncio.gather(*(bare_one(n) for n in range(checks // BLOCKS)))
            bare.append(time.process_time() - start)
    return layer, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with emulator("tencent_chat") as url:
        for label, run in (
            ("sync (sequential)", lambda: measure_sync(url, args.checks)),
            ("async (8 in flight)", lambda: asyncio.run(measure_async(url, args.checks))),
        ):
            layer: list[float] = []
            bare: list[float] = []
            for _ in range(args.rounds):
                a, b = run()
                layer += a
                bare += b
            block = args.checks // BLOCKS
            # Each block of the layer is paired with the bare block right after it.
            ratios = [a / b for a, b in zip(layer, bare, strict=True)]
            print(
                f"{label:22} layer {median(layer) / block * 1e6:6.0f} µs CPU/check, "
                f"bare {median(bare) / block * 1e6:6.0f} µs; layer/bare: median of "
                f"{len(ratios)} paired blocks {median(ratios):.3f} "
                f"(quartiles {percentile(ratios, 25):.3f}-{percentile(ratios, 75):.3f}); "
                "target <= 1.05"
            )


if __name__ == "__main__":
    main()
