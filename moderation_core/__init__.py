"""moderation-core: one interface over chat content-moderation vendors.

The public surface is re-exported here; implementation lives in private modules.
"""

from ._async import AsyncModerator
from ._config import (
    Config,
    ModerationSettings,
    load_config,
    make_config_converter,
    structure_config,
)
from ._errors import (
    AllProvidersFailed,
    AuthError,
    ConfigError,
    InvalidContent,
    ModerationError,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from ._model import (
    Action,
    CheckContext,
    Content,
    ContentType,
    Decision,
    Label,
    Outcome,
    Secret,
    Verdict,
    WebhookEvent,
)
from ._plugins import (
    ProviderRegistry,
    default_plugin_manager,
    hookimpl,
    make_plugin_manager,
    register_plugin,
)
from ._policy import Mute
from ._provider import (
    AuthFlow,
    Capabilities,
    Emulator,
    Flow,
    HttpProviderConfig,
    ItemResult,
    Provider,
    StaleCredentials,
    raise_for_status,
)
from ._replay import (
    DEFAULT_WEBHOOK_WINDOW,
    MemoryReplayCache,
    RedisReplayCache,
    ReplayCache,
    dedupe_key,
    replay_cache,
    time_window_problem,
    warn_unverified,
)
from ._signing import WebhookSignatureError, verify_signature
from ._sync import Moderator

__all__ = [  # noqa: RUF022 - plain sorted(), as tests/test_docs.py checks
    "Action",
    "AllProvidersFailed",
    "AsyncModerator",
    "AuthError",
    "AuthFlow",
    "Capabilities",
    "CheckContext",
    "Config",
    "ConfigError",
    "Content",
    "ContentType",
    "DEFAULT_WEBHOOK_WINDOW",
    "Decision",
    "Emulator",
    "Flow",
    "HttpProviderConfig",
    "InvalidContent",
    "ItemResult",
    "Label",
    "MemoryReplayCache",
    "ModerationError",
    "ModerationSettings",
    "Moderator",
    "Mute",
    "Outcome",
    "ProtocolError",
    "Provider",
    "ProviderError",
    "ProviderRegistry",
    "ProviderUnavailable",
    "RateLimited",
    "RedisReplayCache",
    "ReplayCache",
    "Secret",
    "StaleCredentials",
    "Verdict",
    "WebhookEvent",
    "WebhookSignatureError",
    "dedupe_key",
    "default_plugin_manager",
    "hookimpl",
    "load_config",
    "make_config_converter",
    "make_plugin_manager",
    "raise_for_status",
    "register_plugin",
    "replay_cache",
    "structure_config",
    "time_window_problem",
    "verify_signature",
    "warn_unverified",
]
