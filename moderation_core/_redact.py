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

__all__ = ["redact_query_params"]

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
