"""``moderation_core.store``'s public surface: every name exported is documented in
docs/store.md ("In Python"), every public name of the package is exported, and the
store's errors are the one exception tree's."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

import moderation_core
from moderation_core import store
from moderation_core._errors import ModerationError

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "store.md").read_text(encoding="utf-8")


def test_every_public_name_is_exported() -> None:
    public = {
        name
        for name, value in vars(store).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.discard("annotations")  # from __future__
    assert public == set(store.__all__)


@pytest.mark.parametrize("name", store.__all__)
def test_every_exported_name_is_documented(name: str) -> None:
    assert re.search(rf"`{name}\b", DOCS), name


@pytest.mark.parametrize("name", ["StoreUnavailable", "ReviewNotFound", "ReviewClosed"])
def test_the_store_errors_are_in_the_one_tree(name: str) -> None:
    error = getattr(store, name)
    assert error is getattr(moderation_core, name)
    assert issubclass(error, ModerationError)
    assert name in (moderation_core._errors.__doc__ or "")
