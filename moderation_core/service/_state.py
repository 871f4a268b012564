"""What every endpoint of one app shares: the config, the ``[serve]`` settings, the
AsyncModerator, the metrics and the readiness checks. Endpoints reach it as
``request.app.state.service`` (``service_state(request)``)."""

from __future__ import annotations

from typing import Any

import attrs
from starlette.requests import Request

from moderation_core._config import Config, ServeSettings
from moderation_core._moderator import AsyncModerator

from ._metrics import Metrics
from ._probes import Readiness

__all__ = ["AppState", "service_state"]


@attrs.frozen
class AppState:
    config: Config
    settings: ServeSettings
    moderator: AsyncModerator
    metrics: Metrics
    readiness: Readiness
    # Functions the lifespan awaits at shutdown, after the moderator closed (clients a
    # module opened, e.g. the Redis PING client); another module may append its own.
    closers: list[Any] = attrs.field(factory=list)


def service_state(request: Request) -> AppState:
    state: AppState = request.app.state.service
    return state
