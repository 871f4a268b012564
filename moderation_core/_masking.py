"""Masking keyword occurrences for vendors that return keywords but no masked text."""

from __future__ import annotations

from collections.abc import Iterable

MASK_CHAR = "*"


def keyword_spans(text: str, keywords: Iterable[str]) -> list[tuple[int, int]]:
    """Every (start, end) where a keyword occurs in text; case-insensitive when case
    folding keeps the length (it does for all but a few scripts)."""
    lowered = text.lower()
    haystack, fold = (lowered, True) if len(lowered) == len(text) else (text, False)
    spans: list[tuple[int, int]] = []
    for keyword in keywords:
        if not keyword:
            continue
        needle = keyword.lower() if fold else keyword
        start = haystack.find(needle)
        while start != -1:
            spans.append((start, start + len(needle)))
            start = haystack.find(needle, start + 1)
    return spans


def mask_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Replace every character inside any span with ``*``, keeping the length."""
    chars = list(text)
    for start, end in spans:
        for i in range(max(start, 0), min(end, len(chars))):
            chars[i] = MASK_CHAR
    return "".join(chars)


def mask_keywords(text: str, keywords: Iterable[str]) -> str:
    """Mask each occurrence of each keyword with ``*`` of the same length."""
    return mask_spans(text, keyword_spans(text, keywords))
