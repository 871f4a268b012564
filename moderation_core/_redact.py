"""Keep credentials that travel in URLs out of log lines.

httpx logs every request's full URL at INFO, and some vendors put a credential in the
query string (Tencent's ``usersig``). The core owns the HTTP clients, so it owns this:
one filter on the ``httpx`` logger rewrites the value of every query parameter a
configured provider declares secret (``Provider.secret_query_params``) to ``FILTERED``
before any handler sees the record.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["redact_query_params", "scrub_secrets"]

LOGGERS = ("httpx", "httpcore")


class _QueryRedaction(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._names: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, names: Iterable[str]) -> None:
        with self._lock:
            self._names.update(names)
            alternatives = "|".join(re.escape(n) for n in sorted(self._names))
            self._pattern = re.compile(rf"((?:^|[?&\s\"'])(?:{alternatives})=)[^&\s\"']+")

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(r"\1FILTERED", text) if pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is not None:
            message = record.getMessage()
            redacted = self.redact(message)
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True


_FILTER = _QueryRedaction()


def redact_query_params(names: Iterable[str]) -> None:
    """Redact these query parameters in every httpx/httpcore log line from now on."""
    names = [n for n in names if n]
    if not names:
        return
    _FILTER.add(names)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _spellings(secret: str) -> set[str]:
    """The secret as a vendor may echo it: verbatim, percent-encoded (either hex case,
    with or without '/' kept), or form-encoded with '+' for a space."""
    encoded = {
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret, safe=""),
        quote_plus(secret),
    }
    lowered = {_HEX_ESCAPE.sub(lambda m: m.group(0).lower(), e) for e in encoded}
    return {secret} | encoded | lowered


def scrub_secrets(text: str, secrets: Iterable[str], mask: str = "***") -> str:
    """``text`` (a vendor's error text) with every spelling of every secret masked."""
    spellings = {form for secret in secrets if secret for form in _spellings(secret)}
    if not spellings:
        return text
    # One pass, longest first, so a secret inside another's encoding is masked whole.
    pattern = re.compile("|".join(re.escape(f) for f in sorted(spellings, key=len, reverse=True)))
    return pattern.sub(mask, text)
