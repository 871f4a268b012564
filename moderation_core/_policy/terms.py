"""Term lists (``blocked_terms``, ``allowed_terms``): compiled into one Aho-Corasick
automaton each, and matched on ``term_key``, the one function that decides what a term
and a text are compared as."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import ahocorasick_rs

from moderation_core._errors import ConfigError

__all__ = ["TermList", "term_key"]


class _KeyTable(dict[int, int | None]):
    """str.translate table filled on first sight of each character: separators,
    punctuation, symbols and controls are dropped, so ``违 规`` and ``违-规`` match ``违规``."""

    def __missing__(self, code: int) -> int | None:
        kept = unicodedata.category(chr(code))[0] not in "PZCS"
        self[code] = code if kept else None
        return self[code]


_KEYS = _KeyTable()


def term_key(text: str) -> str:
    """The form terms and texts are compared in: NFKC, case folded, no separators."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_KEYS)


class TermList:
    """Terms compiled into one Aho-Corasick automaton over their keys."""

    def __init__(self, terms: Sequence[str], where: str) -> None:
        keys: dict[str, str] = {}
        for term in terms:
            key = term_key(term)
            if not key:
                raise ConfigError(
                    f"{where}: {term!r} has nothing left to match once spaces and punctuation go"
                )
            keys.setdefault(key, term)
        self._keys = list(keys)
        self._terms = list(keys.values())
        self.keys = frozenset(keys)
        self._automaton = ahocorasick_rs.AhoCorasick(self._keys)

    def first(self, text: str) -> str | None:
        """The first term found in text, as configured."""
        found = self._automaton.find_matches_as_indexes(term_key(text))
        return self._terms[found[0][0]] if found else None

    def found_keys(self, text: str) -> set[str]:
        return {
            self._keys[i]
            for i, _, _ in self._automaton.find_matches_as_indexes(term_key(text), overlapping=True)
        }
