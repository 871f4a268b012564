"""Parsers for an emulator's options, which come as strings from ``moderation emulate
NAME --set key=value`` or as Python values from a test. Each takes the option's name
and value and raises ``ValueError`` naming the option when the value will not do."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import SupportsFloat, SupportsIndex, SupportsInt

__all__ = ["choice_option", "float_option", "int_option", "names_option"]


def int_option(name: str, value: object, *, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (``"12"``, ``12``), at least ``minimum`` if given."""
    if not isinstance(value, (str, bytes, bytearray, SupportsInt, SupportsIndex)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def float_option(name: str, value: object, *, minimum: float | None = None) -> float:
    """``value`` as a ``float`` (``"0.5"``, ``2``), at least ``minimum`` if given (which
    also refuses nan)."""
    if not isinstance(value, (str, bytes, bytearray, SupportsFloat, SupportsIndex)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if minimum is not None and not number >= minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
    return number


def names_option(
    name: str, value: object, *, unset: Collection[str] = ("",)
) -> tuple[str, ...] | None:
    """Names from a comma-separated string (``"a, b"``) or an iterable, blanks dropped;
    ``None`` (no restriction) for ``None`` or a string in ``unset``."""
    if value is None or (isinstance(value, str) and value in unset):
        return None
    items: Iterable[object]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValueError(f"{name} must be comma-separated names, got {value!r}")
    return tuple(text for item in items if (text := str(item).strip()))


def choice_option(
    name: str, value: object, choices: Collection[str], *, unset: Collection[str] = ("", "none")
) -> str | None:
    """One of ``choices``; ``None`` for ``None`` or a string in ``unset``."""
    if value is None or (isinstance(value, str) and value in unset):
        return None
    text = str(value)
    if text not in choices:
        raise ValueError(f"unknown {name} {text!r}; use one of {', '.join(choices)}")
    return text
