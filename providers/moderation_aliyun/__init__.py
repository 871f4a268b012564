"""Alibaba Cloud Content Moderation (Green) provider (type ``aliyun_green``): API
2022-03-02, ``TextModerationPlus`` (default) or ``TextModeration``, signed with
ACS3-HMAC-SHA256 (default) or the legacy RPC HMAC-SHA1.

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The config and the sans-IO flow live in ``_provider``, the signatures in
``_signing``, the wire format in ``_wire``, the label crosswalk in ``_labels``; the
vendor emulator is the public module ``moderation_aliyun.emulator``.
"""

from moderation_core import ProviderRegistry, hookimpl

from ._labels import LABELS, RISK_LEVELS, classify
from ._provider import (
    ACTIONS,
    API_VERSION,
    DEFAULT_MAX_TEXT_CHARS,
    DEFAULT_RATE_LIMIT,
    DEFAULT_REGION,
    DEFAULT_SERVICES,
    REGIONS,
    AliyunGreenConfig,
    AliyunGreenProvider,
)
from ._signing import acs3_authorization, parse_acs3_authorization, rpc_signature

__all__ = [
    "ACTIONS",
    "API_VERSION",
    "DEFAULT_MAX_TEXT_CHARS",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_REGION",
    "DEFAULT_SERVICES",
    "LABELS",
    "REGIONS",
    "RISK_LEVELS",
    "AliyunGreenConfig",
    "AliyunGreenProvider",
    "acs3_authorization",
    "classify",
    "parse_acs3_authorization",
    "register_providers",
    "rpc_signature",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(AliyunGreenProvider)
