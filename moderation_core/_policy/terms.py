"""Term lists (``blocked_terms``, ``allowed_terms``): compiled into one Aho-Corasick
automaton each, and matched exactly as the local engine matches a lexicon term: on
``term_key`` (the engine's key view: full-width to half-width, case folded, zero-width
characters and separators dropped, Traditional to Simplified), with a term of plain
ASCII letters and digits held to whole words of the original text."""

from __future__ import annotations

from collections.abc import Sequence

import ahocorasick_rs
import attrs

from moderation_core._errors import ConfigError
from moderation_core._normalize import is_ascii_word, key_view, mapped_key_view, word_bounded

__all__ = ["TermHit", "TermList", "term_key"]


def term_key(text: str) -> str:
    """The form terms and texts are compared in: the local engine's key view, so a
    term matches here exactly the texts it matches in a local lexicon."""
    return key_view(text)


@attrs.frozen
class TermHit:
    """One term found in a text, located in the original text."""

    start: int
    end: int
    term: str  # as configured
    key: str


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
        self._whole_words = [is_ascii_word(key) for key in self._keys]
        self.keys = frozenset(keys)
        self._automaton = ahocorasick_rs.AhoCorasick(self._keys)

    def hits(self, text: str) -> list[TermHit]:
        """Every term occurrence in ``text``, ordered by start (longest first), as the
        local engine would report it. A clean text costs one translate and one scan;
        only one that hits pays for the view mapped back onto the original."""
        if not self._automaton.find_matches_as_indexes(term_key(text)):
            return []
        key, origin = mapped_key_view(text)
        found: list[TermHit] = []
        for index, start, end in self._automaton.find_matches_as_indexes(key, overlapping=True):
            first, last = origin[start], origin[end - 1] + 1
            if self._whole_words[index] and not word_bounded(text, first, last):
                continue
            found.append(TermHit(first, last, self._terms[index], self._keys[index]))
        found.sort(key=lambda hit: (hit.start, -hit.end))
        return found

    def first(self, text: str) -> str | None:
        """The term found first in text, as configured."""
        found = self.hits(text)
        return found[0].term if found else None

    def found_keys(self, text: str) -> set[str]:
        return {hit.key for hit in self.hits(text)}
