"""Azure AI Content Safety provider (type ``azure_content_safety``).

Registers through the ``moderation_core`` entry-point group like any third-party
plugin. The provider and its config live in ``_provider``, the wire format and the
label map in ``_wire``, the sans-IO image fetch in ``_fetch``; the vendor emulator is
the public module ``moderation_azure.emulator``.
"""

from moderation_core import ProviderRegistry, hookimpl

from ._fetch import MAX_IMAGE_BYTES, fetch_image, image_format
from ._provider import (
    API_VERSION,
    DEFAULT_BLOCK_AT,
    DEFAULT_RATE_LIMIT,
    DEFAULT_REVIEW_AT,
    MAX_KEYWORDS,
    MAX_TEXT_CHARS,
    AzureConfig,
    AzureContentSafetyProvider,
    judge,
    retry_after,
)
from ._wire import CATEGORIES, label_for

__all__ = [
    "API_VERSION",
    "CATEGORIES",
    "DEFAULT_BLOCK_AT",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_REVIEW_AT",
    "MAX_IMAGE_BYTES",
    "MAX_KEYWORDS",
    "MAX_TEXT_CHARS",
    "AzureConfig",
    "AzureContentSafetyProvider",
    "fetch_image",
    "image_format",
    "judge",
    "label_for",
    "register_providers",
    "retry_after",
]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(AzureContentSafetyProvider)
