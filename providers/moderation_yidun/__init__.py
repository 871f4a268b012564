"""NetEase Yidun text check v5 provider (type ``yidun``).

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The provider lives in ``_provider``, the wire format in ``_wire``, the
request signature in ``_signature``; the vendor emulator is the public module
``moderation_yidun.emulator``.
"""

from moderation_core import ProviderRegistry, hookimpl

from ._provider import (
    BATCH_PATH,
    MAX_BATCH,
    MAX_TEXT_CHARS,
    REGIONS,
    SINGLE_PATH,
    YidunConfig,
    YidunProvider,
)
from ._signature import SIGNATURE_METHODS, sign, signature_matches, string_to_sign
from ._wire import LABELS

__all__ = [
    "BATCH_PATH",
    "LABELS",
    "MAX_BATCH",
    "MAX_TEXT_CHARS",
    "REGIONS",
    "SIGNATURE_METHODS",
    "SINGLE_PATH",
    "YidunConfig",
    "YidunProvider",
    "register_providers",
    "sign",
    "signature_matches",
    "string_to_sign",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(YidunProvider)
