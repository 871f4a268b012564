"""``moderation worker``: one worker process, from config to a drained exit.

SIGTERM and SIGINT start a drain (stop fetching, finish and acknowledge what is in
hand); the process then exits 0. A second signal does not cut the drain short: what
is in hand is already being checked, and the broker would only deliver it again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Final

from moderation_core._async import AsyncModerator
from moderation_core._config import load_config
from moderation_core._errors import ConfigError

from ._broker import open_broker
from ._loop import Worker, WorkerStats
from ._settings import worker_settings

__all__ = ["EVENT_LOOP_VARIABLE", "event_loop_factory", "run", "run_worker"]

EVENT_LOOP_VARIABLE = "MODERATION_EVENT_LOOP"

log = logging.getLogger("moderation_core.worker")


async def run_worker(config_path: Path | str) -> WorkerStats:
    """Run one worker until SIGTERM/SIGINT; ConfigError before anything connects."""
    config = load_config(config_path)
    settings = worker_settings(config)
    broker = open_broker(settings)
    async with AsyncModerator(config) as moderator:
        worker = Worker(moderator, broker, settings)
        _freeze_start_up()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stopper(worker, signum))
        log.info(
            "consuming %s from %s (stream %s, consumer %s); results to %s",
            settings.subject_in,
            settings.shown_url,
            settings.stream,
            settings.durable,
            settings.subject_out,
        )
        try:
            stats = await worker.run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
    log.info(
        "stopped: %d results, %d dead letters, %d naks, %d left for redelivery, "
        "%d terminated without a dead letter (refused by the broker)",
        stats.results,
        stats.dead_letters,
        stats.naks,
        stats.unsettled,
        stats.refused,
    )
    return stats


# The collector's thresholds while messages flow (CPython's are 700, 10, 10). The
# messages in hand live long enough to be promoted, so at the defaults a full
# collection, which finds nothing (they die of their reference counts), walked them
# about once a second for 13-30 ms: a stall in which no request went out, 2-3% of a
# vendor's quota. Young collections also come 70x less often.
GC_THRESHOLDS: Final = (50_000, 20, 100)


def _freeze_start_up() -> None:
    """Move what start-up made (modules, config, the local engine's tables) out of the
    garbage collector's reach: it never becomes garbage, and each full collection would
    otherwise walk it again while messages flow (the loop allocates per message). Then
    collect less often (``GC_THRESHOLDS``): this process is the worker's own."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _stopper(worker: Worker, signum: int) -> Callable[[], None]:
    def stop() -> None:
        if not worker.stopping:
            log.info(
                "%s: draining (no new messages; finishing those in hand)",
                signal.Signals(signum).name,
            )
        worker.stop()

    return stop


def run(config_path: Path | str) -> None:
    """The CLI's entry: log to stderr, run until a signal, return after the drain."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    factory, name = event_loop_factory()
    log.info("event loop: %s", name)
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run_worker(config_path))


def event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """uvloop when it is installed (the worker extra brings it), else asyncio's own
    loop: the worker's time is mostly the event loop's (tasks, callbacks, sockets), and
    uvloop's is the faster one (docs/worker.md, Throughput). ``MODERATION_EVENT_LOOP =
    asyncio`` keeps asyncio's, should uvloop misbehave on some platform."""
    wanted = os.environ.get(EVENT_LOOP_VARIABLE, "auto").strip().lower()
    if wanted not in ("auto", "uvloop", "asyncio"):
        raise ConfigError(f"{EVENT_LOOP_VARIABLE} = {wanted!r}: use auto, uvloop or asyncio")
    if wanted == "asyncio":
        return None, "asyncio"
    try:
        import uvloop  # noqa: PLC0415 - optional: the worker extra installs it
    except ImportError:
        if wanted == "uvloop":
            raise ConfigError(
                f"{EVENT_LOOP_VARIABLE} = uvloop but uvloop is not installed: "
                "pip install 'moderation-core[worker]'"
            ) from None
        return None, "asyncio (uvloop is not installed)"
    return uvloop.new_event_loop, "uvloop"
