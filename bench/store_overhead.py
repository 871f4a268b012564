"""What the audit log costs a check: the caller's CPU per check with and without a
``[store]``, and the writer thread's CPU per record, on the offline local engine (no
network, so the figures are the layer's own).

Rounds alternate with and without the store (paired, medians): the caller's CPU is
``time.thread_time`` of the calling thread, so the writer thread's work is not in it;
the writer's is the process's CPU minus the caller's, per record. Target: the store
adds at most 25 us of the caller's CPU per check (5% of a vendor call through httpx,
~480 us: shared/PERFORMANCE.md), whatever the database is doing.

    python bench/store_overhead.py [--checks N] [--rounds R] [--url sqlite:///...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from moderation_core import Moderator

TEXTS = ["hello there", "今天天气不错", "see you at 5", "一起去吃饭吧", "加我微信 abc123456"]
TARGET_US = 25.0


def config(url: str | None, folder: Path) -> dict[str, object]:
    cfg: dict[str, object] = {
        "moderation": {"providers": ["local"]},
        "providers": {"local": {"type": "local"}},
    }
    if url is not None:
        cfg["store"] = {"url": url, "journal": str(folder / "journal"), "auto_upgrade": True}
    return cfg


def one_round(mod: Moderator, checks: int) -> tuple[float, float]:
    """(caller CPU us per check, other threads' CPU us per check) for ``checks`` checks,
    the store's records flushed."""
    process0, thread0 = time.process_time(), time.thread_time()
    for n in range(checks):
        mod.check(TEXTS[n % len(TEXTS)], scene="Group", sender=f"u{n % 50}")
    caller = time.thread_time() - thread0
    if mod.store is not None:
        mod.store.flush()
    others = (time.process_time() - process0) - (time.thread_time() - thread0)
    return caller / checks * 1e6, others / checks * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--url", help="the store's URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{Path(folder) / 'bench.db'}"
        plain = Moderator(config(None, Path(folder)))
        stored = Moderator(config(url, Path(folder)))
        try:
            one_round(plain, 500)  # warm both up
            one_round(stored, 500)
            without, with_store, writer = [], [], []
            for _ in range(args.rounds):
                without.append(one_round(plain, args.checks)[0])
                caller, others = one_round(stored, args.checks)
                with_store.append(caller)
                writer.append(others)
        finally:
            plain.close()
            stored.close()
    base, audited = statistics.median(without), statistics.median(with_store)
    added = statistics.median(s - w for s, w in zip(with_store, without, strict=True))
    print(f"store: {url.split('://', 1)[0]}, {args.rounds} rounds x {args.checks} checks")
    print(f"caller CPU per check, no store      {base:8.1f} us")
    print(f"caller CPU per check, with store    {audited:8.1f} us")
    print(f"added to the caller (paired median) {added:8.1f} us   target <= {TARGET_US:.0f} us")
    print(f"writer thread CPU per record        {statistics.median(writer):8.1f} us (off the path)")
    print("PASS" if added <= TARGET_US else "OVER TARGET")


if __name__ == "__main__":
    main()
