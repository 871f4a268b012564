"""What every endpoint of one app shares: the config, the ``[serve]`` settings, the
AsyncModerator, the metrics and the readiness checks. Endpoints reach it as
``request.app.state.service`` (``service_state(request)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import pluggy
from starlette.requests import Request

from moderation_core._async import AsyncModerator
from moderation_core._config import Config, ServeSettings

from ._metrics import Metrics
from ._probes import Readiness

if TYPE_CHECKING:
    from moderation_core.store import Store

__all__ = ["AppState", "service_state"]


@attrs.frozen
class AppState:
    config: Config
    settings: ServeSettings
    moderator: AsyncModerator
    metrics: Metrics
    readiness: Readiness
    plugin_manager: pluggy.PluginManager
    # Functions the lifespan awaits at shutdown before the moderator closes (work that
    # still holds checks, e.g. the hooks' late evaluations), and after it (clients a
    # module opened, e.g. the Redis PING client); another module may append its own.
    before_close: list[Any] = attrs.field(factory=list)
    closers: list[Any] = attrs.field(factory=list)
    # Functions the lifespan awaits at startup, in order (background loops, e.g. the
    # outbox's delivery in _notify).
    on_start: list[Any] = attrs.field(factory=list)
    # The moderator's store ([store]; docs/store.md), None without one.
    store: Store | None = None
    # Functions that cut the outbox's poll short, called on the event loop after an
    # event was enqueued (a review decided): _notify's delivery loop adds its own.
    outbox_wakers: list[Any] = attrs.field(factory=list)


def service_state(request: Request) -> AppState:
    state: AppState = request.app.state.service
    return state
