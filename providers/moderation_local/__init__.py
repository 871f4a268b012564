"""moderation_local: the offline engine, the embedded default provider (type ``local``).

Registers through the ``moderation_core`` entry-point group like any third-party
plugin; the implementation lives in ``_provider``.
"""

from moderation_core import ProviderRegistry, hookimpl

from ._provider import LexiconConfig, LocalConfig, LocalProvider

__all__ = ["LexiconConfig", "LocalConfig", "LocalProvider", "register_providers"]


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(LocalProvider)
