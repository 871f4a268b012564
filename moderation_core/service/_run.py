"""``moderation serve``: check the config, then run the app under uvicorn.

One worker runs the app made here (config errors before anything listens); several
workers each build their own from the config path uvicorn's spawned processes find in
``SERVE_CONFIG_ENV``. Workers share state only through ``redis_url`` (docs/service.md).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from moderation_core._config import DEFAULT_CONFIG, Config, load_config
from moderation_core._errors import ConfigError

from ._app import create_app
from ._metrics import MULTIPROCESS_ENV
from ._middleware import is_loopback

__all__ = ["SERVE_CONFIG_ENV", "app_from_environment", "check_bind", "run"]

SERVE_CONFIG_ENV = "MODERATION_SERVE_CONFIG"  # set by `serve --workers N` for its workers
# After the Moderator's own deadline for a check, a request still running is abandoned.
_SHUTDOWN_GRACE = 5.0


def check_bind(config: Config, host: str) -> None:
    """Refuse an address other machines can reach unless API keys guard it."""
    if not config.serve.api_keys and not is_loopback(host):
        raise ConfigError(
            f"{config.where('serve')}: api_keys is empty, and --host {host} is not a loopback "
            "address: anyone who reaches the port could spend your vendor quota and read "
            "verdicts. Set [serve] api_keys, or serve on 127.0.0.1"
        )


def app_from_environment() -> Starlette:
    """The app of one worker of ``serve --workers N`` (a uvicorn factory)."""
    path = os.environ.get(SERVE_CONFIG_ENV) or None
    return _settled(create_app(path if path is not None else DEFAULT_CONFIG))


def run(config_path: Path | None, *, host: str, port: int, workers: int) -> None:
    config = load_config(config_path if config_path is not None else DEFAULT_CONFIG)
    check_bind(config, host)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        # Our access log leaves out query strings (a callback's carries its signature);
        # uvicorn's would print them.
        "access_log": False,
        "log_config": _log_config(),
        "timeout_graceful_shutdown": config.moderation.deadline + _SHUTDOWN_GRACE,
        "server_header": False,
    }
    if workers == 1:
        uvicorn.run(_settled(create_app(config)), **options)
        return
    # Absolute: a worker resolves lexicon paths from the file's folder, as here.
    os.environ[SERVE_CONFIG_ENV] = str(config_path.resolve()) if config_path else ""
    with contextlib.ExitStack() as stack:
        if not os.environ.get(MULTIPROCESS_ENV):
            # Each worker writes its metrics there; /metrics on any of them sums them all.
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="moderation-metrics-"))
            os.environ[MULTIPROCESS_ENV] = folder
        uvicorn.run(
            "moderation_core.service._run:app_from_environment",
            factory=True,
            workers=workers,
            **options,
        )


def _settled(app: Starlette) -> Starlette:
    """The app, with everything built so far (plugins, lexicons, config) moved out of
    the garbage collector's sight: it lives as long as the process, and a collection
    walking it on every few requests cost ~15% of /v1/check's time (bench/serve.py)."""
    gc.collect()
    gc.freeze()
    return app


def _log_config() -> dict[str, Any]:
    """Uvicorn's logging, plus moderation_core's loggers (the access log among them)
    on stderr, one JSON or text line each."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["plain"] = {"format": "%(message)s"}
    config["handlers"]["moderation"] = {
        "formatter": "plain",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["moderation_core"] = {
        "handlers": ["moderation"],
        "level": "INFO",
        "propagate": False,
    }
    return config
