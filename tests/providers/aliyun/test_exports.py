"""The public surface: a sorted ``__all__`` of names that exist."""

from __future__ import annotations

import moderation_aliyun
from moderation_aliyun import emulator as emulator_module


def isort_style(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    for module in (moderation_aliyun, emulator_module):
        assert module.__all__ == sorted(module.__all__, key=isort_style)
        for name in module.__all__:
            assert hasattr(module, name), name
