"""Tencent Cloud Chat moderation provider (type ``tencent_chat``).

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The provider lives in ``_provider``, the wire format in ``_wire``, UserSig in
``_usersig``, webhook parsing in ``_webhook``; the vendor emulator is the public
module ``moderation_tencent_chat.emulator``.
"""

from typing import Any

from moderation_core import ProviderRegistry, hookimpl

from ._provider import REGIONS, TencentChatConfig, TencentChatProvider
from ._usersig import UserSigError, decode_usersig, make_usersig, verify_usersig
from ._webhook import (
    ACK,
    DuplicateWebhookError,
    WebhookError,
    WebhookVerificationError,
    parse_result_notify,
    verify_webhook,
    webhook_sign,
)

__all__ = [
    "ACK",
    "REGIONS",
    "DuplicateWebhookError",
    "TencentChatConfig",
    "TencentChatProvider",
    "UserSigError",
    "WebhookError",
    "WebhookVerificationError",
    "decode_usersig",
    "make_usersig",
    "parse_result_notify",
    "register_presend_hooks",
    "register_providers",
    "verify_usersig",
    "verify_webhook",
    "webhook_sign",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(TencentChatProvider)


# Optional: the hook has a spec only once the service (moderation serve) loads, and the
# adapter imports the service's hook types, so it is imported here on demand.
@hookimpl(optionalhook=True)
def register_presend_hooks(registry: Any) -> None:
    from ._presend import TencentPreSendHook  # noqa: PLC0415

    registry.add(TencentPreSendHook)
