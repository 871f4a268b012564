"""The public surface: a sorted ``__all__`` of names that exist; the emulator on the class."""

from __future__ import annotations

import moderation_tencent_tms
from moderation_core import Moderator
from moderation_tencent_tms import emulator as emulator_module

from .helpers import config


def isort_style(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    for module in (moderation_tencent_tms, emulator_module):
        assert module.__all__ == sorted(module.__all__, key=isort_style)
        for name in module.__all__:
            assert hasattr(module, name), name


def test_registered_through_the_entry_point() -> None:
    with Moderator.from_config(config()) as mod:  # found by type through the entry point
        (prov,) = mod.providers
    assert type(prov) is moderation_tencent_tms.TencentTmsProvider
    assert (
        moderation_tencent_tms.TencentTmsProvider.emulator_factory is emulator_module.make_emulator
    )
