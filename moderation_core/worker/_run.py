"""``moderation worker``: one worker process, from config to a drained exit.

SIGTERM and SIGINT start a drain (stop fetching, finish and acknowledge what is in
hand); the process then exits 0. A second signal does not cut the drain short: what
is in hand is already being checked, and the broker would only deliver it again.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from moderation_core._async import AsyncModerator
from moderation_core._config import load_config

from ._broker import open_broker
from ._loop import Worker, WorkerStats
from ._settings import worker_settings

__all__ = ["run", "run_worker"]

log = logging.getLogger("moderation_core.worker")


async def run_worker(config_path: Path | str) -> WorkerStats:
    """Run one worker until SIGTERM/SIGINT; ConfigError before anything connects."""
    config = load_config(config_path)
    settings = worker_settings(config)
    broker = open_broker(settings)
    async with AsyncModerator(config) as moderator:
        worker = Worker(moderator, broker, settings)
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
        "stopped: %d results, %d dead letters, %d naks, %d left for redelivery",
        stats.results,
        stats.dead_letters,
        stats.naks,
        stats.unsettled,
    )
    return stats


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
    asyncio.run(run_worker(config_path))
