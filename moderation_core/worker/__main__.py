"""``python -m moderation_core.worker --config moderation.toml``: ``moderation worker``."""

from moderation_core._cli import worker

worker(prog_name="moderation worker")
