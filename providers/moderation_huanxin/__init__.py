"""Huanxin (Easemob) text moderation provider (type ``huanxin``).

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The provider lives in ``_provider``, the moderation result callback in
``_callback`` (pure functions) and the fake service in ``moderation_huanxin.emulator``.
"""

from moderation_core import ProviderRegistry, hookimpl

from ._callback import (
    DEFAULT_MAX_AGE,
    CallbackError,
    CallbackReplayError,
    CallbackVerificationError,
    callback_signature,
    parse_callback,
    read_callback,
    verify_callback,
)
from ._provider import (
    DEFAULT_RATE_LIMIT,
    MAX_BODY_BYTES,
    MAX_TEXT_BYTES,
    REGIONS,
    HuanxinConfig,
    HuanxinProvider,
    score_from_probability,
    token_refresh_margin,
)

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_RATE_LIMIT",
    "MAX_BODY_BYTES",
    "MAX_TEXT_BYTES",
    "REGIONS",
    "CallbackError",
    "CallbackReplayError",
    "CallbackVerificationError",
    "HuanxinConfig",
    "HuanxinProvider",
    "callback_signature",
    "parse_callback",
    "read_callback",
    "register_providers",
    "score_from_probability",
    "token_refresh_margin",
    "verify_callback",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(HuanxinProvider)
