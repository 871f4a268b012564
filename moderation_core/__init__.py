"""moderation-core: one interface over chat content-moderation vendors.

The public surface is re-exported here; implementation lives in private modules.
"""

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
from ._moderator import AsyncModerator, Moderator
from ._plugins import (
    ProviderRegistry,
    default_plugin_manager,
    hookimpl,
    hookspec,
    make_plugin_manager,
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
)

__all__ = [
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
    "Decision",
    "Emulator",
    "Flow",
    "HttpProviderConfig",
    "InvalidContent",
    "ItemResult",
    "Label",
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
    "Secret",
    "StaleCredentials",
    "Verdict",
    "WebhookEvent",
    "default_plugin_manager",
    "hookimpl",
    "hookspec",
    "load_config",
    "make_config_converter",
    "make_plugin_manager",
    "structure_config",
]
