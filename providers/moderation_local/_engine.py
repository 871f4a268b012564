"""The local engine: lexicons and rules compiled into one Aho-Corasick automaton plus
one regex, scanned on normalized views of each message.

Every message pays for two ``str.translate`` calls, one automaton scan and two regex
searches. Only a message that hits pays for the character-by-character views that map
a hit back onto the original text (``_normalize.mapped_*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import ahocorasick_rs
import attrs

from moderation_core import ConfigError, Decision, Label
from moderation_core._normalize import (
    ASTRAL,
    fast_key_table,
    key_view,
    mapped_key_view,
    mapped_rules_view,
)

from ._rules import _DOMAIN_HINT as DOMAIN_HINT  # has_hint's parts, for the batch loop
from ._rules import _ODD_HINT as ODD_HINT
from ._rules import _PHONE_HINT as PHONE_HINT
from ._rules import CONTACT_WORDS, PHONE, RULES, has_hint

__all__ = ["Engine", "Hit", "Lexicon", "builtin_lexicons", "read_lexicon"]

MAX_TERM_CHARS = 64
_ASCII_WORD = re.compile(r"[a-z0-9](?:.*[a-z0-9])?", re.ASCII | re.DOTALL)


@attrs.frozen
class Lexicon:
    """Terms that share one label and one decision (REVIEW or BLOCK)."""

    name: str
    label: Label
    decision: Decision
    terms: tuple[str, ...]
    sublabel: str | None = None


@attrs.frozen(slots=True)
class Hit:
    """One finding, located in the original text."""

    start: int
    end: int
    keyword: str
    label: Label
    decision: Decision
    sublabel: str | None
    source: str
    term: str


_CONTACT_WORD = "contact word"  # an automaton pattern that only sends rules a message


@attrs.frozen(slots=True)
class _Entry:
    lexicon: Lexicon
    term: str
    ascii_word: bool  # plain ASCII words must not match inside longer words


def read_lexicon(
    path: Path,
    *,
    label: Label,
    decision: Decision,
    sublabel: str | None = None,
    name: str | None = None,
) -> Lexicon:
    """Read a lexicon file: one term per line, ``#`` comments and blank lines skipped.
    A missing or unreadable file, or a malformed line, is a ConfigError naming it."""
    shown = name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"lexicon file {shown} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"lexicon file {shown} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"lexicon file {shown} cannot be read: {exc.strerror}") from None
    return parse_lexicon(
        text.splitlines(), shown, label=label, decision=decision, sublabel=sublabel
    )


def parse_lexicon(
    lines: Iterable[str],
    name: str,
    *,
    label: Label,
    decision: Decision,
    sublabel: str | None = None,
) -> Lexicon:
    terms: list[str] = []
    for number, line in enumerate(lines, start=1):
        term = line.strip()
        if not term or term.startswith("#"):
            continue
        problem = term_problem(term)
        if problem:
            raise ConfigError(f"lexicon file {name}, line {number}: {problem}")
        terms.append(term)
    return Lexicon(name=name, label=label, decision=decision, terms=tuple(terms), sublabel=sublabel)


def term_problem(term: str) -> str | None:
    """Why a term cannot be matched, or None if it can."""
    if len(term) > MAX_TERM_CHARS:
        return f"term is longer than {MAX_TERM_CHARS} characters"
    if any(ord(c) < 32 for c in term):
        return "term contains a control character (a tab?)"
    if not key_view(term):
        return f"term {term!r} has no letters or digits left to match after normalization"
    return None


def builtin_lexicons() -> list[Lexicon]:
    """The small default lexicons shipped in ``lexicons/<label>.<decision>.txt``."""
    folder = resources.files(__package__).joinpath("lexicons")
    lexicons = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".txt"):
            continue
        label_name, decision_name, _ = entry.name.split(".")
        lexicons.append(
            parse_lexicon(
                entry.read_text(encoding="utf-8").splitlines(),
                f"builtin:{entry.name}",
                label=Label[label_name.upper()],
                decision=Decision[decision_name.upper()],
            )
        )
    return lexicons


class Engine:
    """Compiled lexicons, allow-list and rules; ``scan`` finds hits in one text."""

    def __init__(
        self,
        lexicons: Sequence[Lexicon],
        *,
        allow: Sequence[str] = (),
        rules: bool = True,
        rules_decision: Decision = Decision.REVIEW,
    ) -> None:
        by_key: dict[str, _Entry | str | None] = {}
        if rules:
            by_key.update(dict.fromkeys(CONTACT_WORDS, _CONTACT_WORD))
        for lexicon in lexicons:
            for term in lexicon.terms:
                key = key_view(term)
                current = by_key.get(key)
                # One pattern per normalized term; the harshest lexicon owns it.
                if not isinstance(current, _Entry) or lexicon.decision > current.lexicon.decision:
                    by_key[key] = _Entry(lexicon, term, bool(_ASCII_WORD.fullmatch(key)))
        for term in allow:
            key = key_view(term)
            if not key:
                raise ConfigError(f"allow term {term!r} has no letters or digits to match")
            by_key[key] = None  # an allowed term is never flagged, whatever lists it
        self._patterns = list(by_key)
        self._entries = list(by_key.values())
        # Two automata over the same patterns: the bytes one answers "any hit?" for
        # every message (no character offsets to compute), the str one locates hits.
        self._automaton = (
            ahocorasick_rs.AhoCorasick(self._patterns, store_patterns=False)
            if self._patterns
            else None
        )
        self._any_hit = (
            ahocorasick_rs.BytesAhoCorasick(
                [p.encode() for p in self._patterns]
            ).find_matches_as_indexes
            if self._patterns
            else None
        )
        self._table = fast_key_table()
        self._rules = rules
        self._rules_decision = rules_decision
        self.term_count = sum(1 for e in self._entries if isinstance(e, _Entry))
        self.longest_term = max(
            (
                len(p)
                for p, e in zip(self._patterns, self._entries, strict=True)
                if e is not _CONTACT_WORD
            ),
            default=0,
        )

    def suspects(self, texts: Sequence[str]) -> list[int]:
        """The indexes of the texts that may hit (``scan`` finds nothing in the others):
        ``scan``'s cheap first pass over many texts in one loop, with no Python call per
        text (measured: a third of the local provider's per-message time was calls)."""
        table = self._table
        any_hit = self._any_hit
        rules = self._rules
        phone, domain, odd = PHONE_HINT.search, DOMAIN_HINT.search, ODD_HINT.search
        astral = ASTRAL.search
        found: list[int] = []
        for index, text in enumerate(texts):
            key = text.translate(table)
            if any_hit is not None and any_hit(key.encode()):
                found.append(index)
            elif rules:
                if phone(key) or domain(text) or odd(text):
                    found.append(index)
            elif astral(text) is not None:  # the fast table leaves these unread
                found.append(index)
        return found

    def scan(self, text: str) -> list[Hit]:
        """Every hit in ``text``, in order of position; empty for a clean text."""
        key = text.translate(self._table)
        any_hit = self._any_hit
        if (any_hit is None or not any_hit(key.encode())) and (
            not has_hint(text, key)
            if self._rules
            else ASTRAL.search(text) is None  # the fast table leaves these unread
        ):
            return []
        return self.locate(text)

    def locate(self, text: str) -> list[Hit]:
        """``scan`` without its first pass, for a text that passed it (``suspects``)."""
        hits: list[Hit] = []
        allowed: list[tuple[int, int]] = []
        key, origin = mapped_key_view(text)
        if self._automaton is not None:
            found = self._automaton.find_matches_as_indexes(key, overlapping=True)
            for index, start, end in found:
                if self._entries[index] is None:
                    allowed.append((origin[start], origin[end - 1] + 1))
            for index, start, end in found:
                entry = self._entries[index]
                if not isinstance(entry, _Entry):
                    continue
                first, last = origin[start], origin[end - 1] + 1
                if entry.ascii_word and not _word_bounded(text, first, last):
                    continue
                lexicon = entry.lexicon
                hits.append(
                    Hit(
                        first,
                        last,
                        text[first:last],
                        lexicon.label,
                        lexicon.decision,
                        lexicon.sublabel,
                        lexicon.name,
                        entry.term,
                    )
                )
        if self._rules:
            for match in PHONE.finditer(key):
                first, last = origin[match.start()], origin[match.end() - 1] + 1
                hits.append(self._rule_hit(text, first, last, "Phone"))
            view, view_origin = mapped_rules_view(text)
            for match in RULES.finditer(view):
                first, last = view_origin[match.start()], view_origin[match.end() - 1] + 1
                hits.append(self._rule_hit(text, first, last, match.lastgroup or "Contact"))
        hits.sort(key=lambda h: (h.start, -h.end))
        return _outside(hits, allowed) if allowed else hits

    def _rule_hit(self, text: str, first: int, last: int, sublabel: str) -> Hit:
        return Hit(
            first,
            last,
            text[first:last],
            Label.AD,
            self._rules_decision,
            sublabel,
            f"rule:{sublabel}",
            sublabel,
        )


def _outside(hits: list[Hit], allowed: list[tuple[int, int]]) -> list[Hit]:
    """The hits (sorted by start) that lie inside no allowed span, in one sweep: a hit
    is inside one exactly when the furthest end of the allowed spans starting at or
    before it reaches its end. (Testing each hit against each span was quadratic in a
    text that repeats an allowed term.)"""
    allowed.sort()
    kept: list[Hit] = []
    reach = -1  # the furthest end of the allowed spans that start at or before a hit
    index = 0
    for hit in hits:
        while index < len(allowed) and allowed[index][0] <= hit.start:
            reach = max(reach, allowed[index][1])
            index += 1
        if hit.end > reach:
            kept.append(hit)
    return kept


def _word_bounded(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (_is_ascii_alnum(before) or _is_ascii_alnum(after))


def _is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()
