"""Text views the local engine matches on, and how to map a hit back to the original.

Two views of a message:

- the *key* view, for lexicon terms and phone numbers: NFKC (full-width to half-width),
  case folded, Traditional to Simplified Chinese, and every separator, punctuation,
  symbol, combining mark and zero-width character deleted, so ``违&规&词&汇`` reads
  ``违规词汇`` and ``Ｆ.U.C.K`` reads ``fuck``;
- the *rules* view, for URLs, e-mail addresses and WeChat/QQ ids: NFKC and case folded
  with zero-width characters deleted, punctuation kept (a URL needs its dots).

Both are built for every message with ``str.translate`` over whole strings (fast).
Only for a message that hits are they rebuilt character by character with an index
back into the original text, so keywords can be reported and masked as written.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources
from typing import Final

__all__ = ["key_view", "mapped_key_view", "mapped_rules_view", "rules_view"]

# Categories that never carry meaning for matching: punctuation, symbols, separators,
# controls, format characters (zero-width joiners and friends) and combining marks.
_DROPPED_CATEGORIES: Final = frozenset(
    {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
     "Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me"}
)
# Read as a digit zero by the phone rule, so keep it out of the dropped symbols.
_KEPT_SYMBOLS: Final = {"○": "〇"}
_RULES_ALIASES: Final = {"。": ".", "｡": ".", "点": ".", "點": ".", "＠": "@"}


@functools.cache
def _traditional_to_simplified() -> dict[int, str]:
    """One character to one character, from OpenCC's table (first candidate wins)."""
    table: dict[int, str] = {}
    text = (
        resources.files("opencc")
        .joinpath("dictionary/TSCharacters.txt")
        .read_text(encoding="utf-8")
    )
    for line in text.splitlines():
        source, _, targets = line.partition("\t")
        target = targets.split(" ", 1)[0]
        if len(source) == 1 and len(target) == 1 and source != target:
            table[ord(source)] = target
    return table


class _KeyTable(dict[int, str | None]):
    """``str.translate`` table for the key view, filled in as characters are met."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        value: str | None
        if char in _KEPT_SYMBOLS:
            value = _KEPT_SYMBOLS[char]
        elif unicodedata.category(char) in _DROPPED_CATEGORIES:
            value = None
        else:
            value = _traditional_to_simplified().get(code, char)
        self[code] = value
        return value


class _RulesTable(dict[int, str | None]):
    """``str.translate`` table for the rules view."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        value: str | None
        if char in _RULES_ALIASES:
            value = _RULES_ALIASES[char]
        elif unicodedata.category(char) in ("Cf", "Mn", "Me"):
            value = None
        else:
            value = char
        self[code] = value
        return value


_KEY = _KeyTable()
_RULES = _RulesTable()


def _fold(text: str) -> str:
    if text.isascii():  # ASCII is already NFKC; skip the normalizer
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def key_view(text: str) -> str:
    return _fold(text).translate(_KEY)


def rules_view(text: str) -> str:
    return _fold(text).translate(_RULES)


def _mapped(text: str, table: dict[int, str | None]) -> tuple[str, list[int]]:
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        piece = _fold(char).translate(table)
        out.append(piece)
        origin.extend([index] * len(piece))
    return "".join(out), origin


def mapped_key_view(text: str) -> tuple[str, list[int]]:
    """The key view built character by character, with the original index of each
    character of the view (the slow path, for messages that hit)."""
    return _mapped(text, _KEY)


def mapped_rules_view(text: str) -> tuple[str, list[int]]:
    return _mapped(text, _RULES)
