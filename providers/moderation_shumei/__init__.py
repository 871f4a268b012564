"""Shumei (数美) text moderation provider (type ``shumei``): text v4, ``POST /text/v4``.

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The config and the sans-IO flow live in ``_provider``, the wire format in
``_wire``, the label crosswalk in ``_labels``; the vendor emulator is the public
module ``moderation_shumei.emulator``.
"""

from moderation_core import ProviderRegistry, hookimpl

from ._labels import RISK_LABELS
from ._provider import (
    DEFAULT_EVENT_ID,
    DEFAULT_RISK_TYPE,
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_ID,
    LANGUAGES,
    REGIONS,
    RISK_TYPES,
    ShumeiConfig,
    ShumeiProvider,
)
from ._wire import MAX_TEXT_CHARS, token_id

__all__ = [
    "DEFAULT_EVENT_ID",
    "DEFAULT_RISK_TYPE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOKEN_ID",
    "LANGUAGES",
    "MAX_TEXT_CHARS",
    "REGIONS",
    "RISK_LABELS",
    "RISK_TYPES",
    "ShumeiConfig",
    "ShumeiProvider",
    "register_providers",
    "token_id",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(ShumeiProvider)
