"""TEMPORARY re-export: ``_cli`` and ``service`` still import the moderators from
here. They live in ``_sync`` (Moderator) and ``_async`` (AsyncModerator) over
``_base``; delete this module once those import from ``moderation_core``."""

from ._async import AsyncModerator
from ._sync import Moderator

__all__ = ["AsyncModerator", "Moderator"]
