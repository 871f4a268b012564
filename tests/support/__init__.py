"""Helpers shared by several test folders; what a plugin author could use as well lives
in ``moderation_core.testing`` instead."""
