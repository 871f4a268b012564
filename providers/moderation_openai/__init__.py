"""OpenAI Moderation provider (type ``openai``).

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The provider and its config live in ``_provider``, the wire format and the
label map in ``_wire``; the vendor emulator is the public module
``moderation_openai.emulator``.
"""

from moderation_core import ProviderRegistry, hookimpl

from ._provider import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_TEXT_BYTES,
    DEFAULT_MODEL,
    DEFAULT_RATE_LIMIT,
    DEFAULT_REVIEW_AT,
    CategoryThresholds,
    OpenAIConfig,
    OpenAIProvider,
    judge,
    retry_after,
)
from ._wire import CATEGORIES, label_for

__all__ = [
    "CATEGORIES",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_TEXT_BYTES",
    "DEFAULT_MODEL",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_REVIEW_AT",
    "CategoryThresholds",
    "OpenAIConfig",
    "OpenAIProvider",
    "judge",
    "label_for",
    "register_providers",
    "retry_after",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(OpenAIProvider)
