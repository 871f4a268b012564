"""Text views that term matching runs on, and how to map a hit back to the original.

The one normalizer: the local engine's lexicons and the policy's term lists
(``blocked_terms``, ``allowed_terms``) both match on these views, so a term blocks the
same texts wherever it is configured. It lives in the core because the core never
imports a provider.

Two views of a message:

- the *key* view, for lexicon terms and phone numbers: compatibility-decomposed
  (full-width to half-width, accents split off), case folded, Traditional to
  Simplified Chinese, and every separator, punctuation, symbol, combining mark and
  zero-width character deleted, so ``违&规&词&汇`` reads ``违规词汇``, ``Ｆ.U.C.K``
  reads ``fuck`` and ``fück`` reads ``fuck``;
- the *rules* view, for URLs, e-mail addresses and WeChat/QQ ids: NFKC and case folded
  with zero-width characters deleted, punctuation kept (a URL needs its dots).

Every message pays for one ``str.translate`` into the key view. Only a message that
hits (or whose cheap hints say a rule might) pays for views rebuilt character by
character with an index back into the original text, so keywords can be reported and
masked as written, and a term of plain ASCII letters and digits can be held to whole
words (``is_ascii_word``, ``word_bounded``).
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Final

__all__ = [
    "ASTRAL",
    "fast_key_table",
    "is_ascii_word",
    "key_view",
    "mapped_key_view",
    "mapped_rules_view",
    "rules_view",
    "word_bounded",
]

# Categories that never carry meaning for matching: punctuation, symbols, separators,
# controls, format characters (zero-width joiners and friends) and combining marks.
_DROPPED_CATEGORIES: Final = frozenset(
    {
        "Pc",
        "Pd",
        "Ps",
        "Pe",
        "Pi",
        "Pf",
        "Po",
        "Sm",
        "Sc",
        "Sk",
        "So",
        "Zs",
        "Zl",
        "Zp",
        "Cc",
        "Cf",
        "Mn",
        "Me",
    }
)
# Read as a digit zero by the phone rule, so keep it out of the dropped symbols.
_KEPT_SYMBOLS: Final = {"○": "〇"}
# Hangul syllables stay composed: terms and messages are both written that way, and
# decomposing 11,172 syllables into jamo would only slow the table down.
_HANGUL_SYLLABLES: Final = range(0xAC00, 0xD7A4)
_RULES_ALIASES: Final = {"。": ".", "｡": ".", "点": ".", "點": ".", "＠": "@"}
_ASCII_WORD: Final = re.compile(r"[a-z0-9](?:.*[a-z0-9])?", re.ASCII | re.DOTALL)


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
    """``str.translate`` table for the key view, filled in as characters are met.

    A separator, punctuation, symbol, control, format (zero-width) or mark character is
    dropped; any other maps to its whole key form at once: compatibility-decomposed
    (NFKD: full-width to half-width, ligatures split, accents split off and dropped),
    case folded, Traditional to Simplified. Working per character keeps one
    C-level ``translate`` per message and makes the fast and the mapped views equal.
    """

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        if char in _KEPT_SYMBOLS:
            value: str | None = _KEPT_SYMBOLS[char]
        elif unicodedata.category(char) in _DROPPED_CATEGORIES:
            value = None
        elif code in _HANGUL_SYLLABLES:
            value = char
        else:
            value = _key_form(char, unicodedata.normalize("NFKD", char).casefold())
        self[code] = value
        return value


def _key_form(char: str, folded: str) -> str | None:
    """A kept character's key form from its NFKD-and-casefolded form: marks the
    decomposition split off are dropped, Traditional becomes Simplified."""
    simplified = _traditional_to_simplified()
    pieces = [
        simplified.get(ord(c), c)
        for c in folded
        if unicodedata.category(c) not in _DROPPED_CATEGORIES
    ]
    return "".join(pieces) or None


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

# Below this code point the key view translates through a list (about twice as fast
# as a dict); the rare text with a character above it goes through the dict.
_LIST_LIMIT: Final = 0x20000
ASTRAL: Final = re.compile("[\U00020000-\U0010ffff]")


_key_table: list[str | None] | None = None


def fast_key_table() -> list[str | None]:
    """The key view's table as a list: ``text.translate(fast_key_table())`` equals
    ``key_view(text)`` for any text without a character at or above U+20000 (those
    pass through unchanged; check ``ASTRAL`` first)."""
    return _key_list()


def _key_list() -> list[str | None]:
    global _key_table  # noqa: PLW0603 - built once, on first use, then read on every call
    if _key_table is None:
        _key_table = _build_key_list()
    return _key_table


def _build_key_list() -> list[str | None]:
    """``_KEY`` as a list for every code point below ``_LIST_LIMIT``.

    Most code points map to themselves; the C-level normalizer finds which do not over
    one joined string (NUL separates characters and blocks any reordering across
    them), so only those few thousand pay for the per-character computation.
    """
    chars = [chr(code) for code in range(_LIST_LIMIT)]
    folded = unicodedata.normalize("NFKD", "\x00".join(chars[1:])).casefold().split("\x00")
    folded.insert(0, "\x00")
    categories = list(map(unicodedata.category, chars))
    simplified = _traditional_to_simplified()
    table: list[str | None] = list(chars)
    for code, (char, form) in enumerate(zip(chars, folded, strict=True)):
        if (form != char or code in simplified) and code not in _HANGUL_SYLLABLES:
            table[code] = _key_form(char, form)
    for code, category in enumerate(categories):
        if category in _DROPPED_CATEGORIES and chars[code] not in _KEPT_SYMBOLS:
            table[code] = None
    for char, value in _KEPT_SYMBOLS.items():
        table[ord(char)] = value
    return table


def _fold(text: str) -> str:
    if text.isascii():  # ASCII is already NFKC; skip the normalizer
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def key_view(text: str) -> str:
    if ASTRAL.search(text) is None:
        return text.translate(_key_table or _key_list())
    return text.translate(_KEY)


def rules_view(text: str) -> str:
    return _fold(text).translate(_RULES)


def mapped_key_view(text: str) -> tuple[str, list[int]]:
    """The key view with the original index of each of its characters (the slow path,
    for messages that hit); the view is exactly ``key_view(text)``."""
    if ASTRAL.search(text) is not None:
        return _mapped_by_character(text, lambda char: _KEY[ord(char)] or "")
    return text.translate(_KEY), _origin(text.translate(_KEY_LENGTHS))


def mapped_rules_view(text: str) -> tuple[str, Sequence[int]]:
    """The rules view with the original index of each of its characters."""
    if text.isascii():  # lower-casing is the whole view: one character for one
        return text.lower(), range(len(text))
    if ASTRAL.search(text) is not None:
        return _mapped_by_character(text, lambda char: _fold(char).translate(_RULES))
    return text.translate(_RULES_PIECES), _origin(text.translate(_RULES_LENGTHS))


def is_ascii_word(key: str) -> bool:
    """Whether a term's key view starts and ends with an ASCII letter or digit: such a
    term matches only as a whole word (``ass`` must not hit ``class``)."""
    return _ASCII_WORD.fullmatch(key) is not None


def word_bounded(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` (original offsets) has no ASCII letter or digit
    right before or after it."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (_is_ascii_alnum(before) or _is_ascii_alnum(after))


def _is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _mapped_by_character(text: str, piece: Callable[[str], str]) -> tuple[str, list[int]]:
    """A view and its origin, one character at a time: for the rare text with a
    character at or above U+20000, which the cached tables below never hold (all of
    them, filled over every code point, would keep a few hundred MB)."""
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        view = piece(char)
        out.append(view)
        origin.extend([index] * len(view))
    return "".join(out), origin


def _origin(lengths: str) -> list[int]:
    """Index ``i`` repeated ``ord(lengths[i])`` times, for each ``i``: where each
    character of a view came from, given how many characters each original character
    became. Built by C-level iterators (a per-character Python loop made the mapped
    views the slowest part of a long text with a hit)."""
    counts = lengths.encode("latin-1")  # a character expands to at most 18
    if not counts.translate(None, b"\x00\x01"):  # each character kept or dropped
        return list(itertools.compress(range(len(counts)), counts))
    return list(itertools.chain.from_iterable(map(itertools.repeat, range(len(counts)), counts)))


# The tables below are filled as characters are met, only below U+20000: at most
# 131,072 entries each.


class _KeyLengthTable(dict[int, str]):
    """``str.translate`` table: each character to ``chr`` of its key form's length."""

    def __missing__(self, code: int) -> str:
        value = chr(len(_KEY[code] or ""))
        self[code] = value
        return value


class _RulesPieceTable(dict[int, str]):
    """``str.translate`` table: each character to its rules view on its own (NFKC and
    case folded alone, so it never composes with its neighbours)."""

    def __missing__(self, code: int) -> str:
        value = _fold(chr(code)).translate(_RULES)
        self[code] = value
        return value


class _RulesLengthTable(dict[int, str]):
    def __missing__(self, code: int) -> str:
        value = chr(len(_RULES_PIECES[code]))
        self[code] = value
        return value


_KEY_LENGTHS = _KeyLengthTable()
_RULES_PIECES = _RulesPieceTable()
_RULES_LENGTHS = _RulesLengthTable()
