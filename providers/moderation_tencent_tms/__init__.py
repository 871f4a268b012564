"""Tencent Cloud TMS/IMS moderation provider (type ``tencent_tms``).

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The provider lives in ``_provider``, the wire format and label map in
``_wire``, the TC3-HMAC-SHA256 signer in ``_tc3``; the vendor emulator is the public
module ``moderation_tencent_tms.emulator``.
"""

from moderation_core import ProviderRegistry, hookimpl

from ._provider import (
    API_VERSION,
    DEFAULT_RATE_LIMIT,
    MAX_TEXT_CHARS,
    TencentTmsConfig,
    TencentTmsProvider,
)
from ._tc3 import Authorization, parse_authorization, sign
from ._wire import LABELS

__all__ = [
    "API_VERSION",
    "DEFAULT_RATE_LIMIT",
    "LABELS",
    "MAX_TEXT_CHARS",
    "Authorization",
    "TencentTmsConfig",
    "TencentTmsProvider",
    "parse_authorization",
    "register_providers",
    "sign",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(TencentTmsProvider)
