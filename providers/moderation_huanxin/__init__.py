"""Huanxin (Easemob) text moderation provider (type ``huanxin``).

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The provider lives in ``_provider``, the moderation result callback in
``_callback`` (pure functions) and the fake service in ``moderation_huanxin.emulator``.
"""

from typing import Any

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
    "register_presend_hooks",
    "register_providers",
    "score_from_probability",
    "token_refresh_margin",
    "verify_callback",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(HuanxinProvider)


# Optional: the hook has a spec only once the service (moderation serve) loads, and the
# adapter imports the service's hook types, so it is imported here on demand.
@hookimpl(optionalhook=True)
def register_presend_hooks(registry: Any) -> None:
    from ._presend import HuanxinPreSendHook  # noqa: PLC0415

    registry.add(HuanxinPreSendHook)
