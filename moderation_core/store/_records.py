"""What the audit log holds: ``AuditRecord`` (one check or evaluate, as it happened)
and ``StoredCheck`` (a ``checks`` row read back, for ``Moderator.result`` and
``GET /v1/checks/{check_id}``).

An AuditRecord keeps the call's own objects and costs the caller almost nothing to
make; the writer thread turns it into rows (``rows``), so hashing, JSON and the
column limits are paid off the request path. A row is plain JSON, which is also what
the journal holds while the database is away.

Every string a row holds, JSON values included, passes ``storable``: PostgreSQL's text
refuses NUL (``\x00``) where SQLite keeps it, so a sender could otherwise keep a check
out of one database's audit log (and its rankings) by putting one in its name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from moderation_core._model import CheckContext, Content, Decision, Verdict

__all__ = [
    "AuditRecord",
    "Kind",
    "Rows",
    "StoredCheck",
    "content_hash",
    "storable",
    "storable_text",
]

Kind = Literal["check", "evaluate"]
Status = Literal["pending", "final"]
# One record's rows: the ``checks`` row and, for a REVIEW, its ``reviews`` row.
Rows = tuple[dict[str, Any], dict[str, Any] | None]

# Column widths of _schema (PostgreSQL enforces them): longer values are cut to fit,
# so one odd sender id cannot make a whole batch fail.
_WIDTHS = {
    "scene": 256,
    "sender": 256,
    "receiver": 256,
    "sublabel": 256,
    "provider": 128,
    "request_id": 256,
    "error": 128,
}


def content_hash(contents: Sequence[Content]) -> str:
    """sha256 hex of each content's ``type:value``, one a line: the same message has the
    same hash, so repeats can be counted without keeping the text."""
    text = "\n".join(f"{c.type.value}:{c.value}" for c in contents)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# What neither database keeps as text: NUL (PostgreSQL refuses it, in text and in the
# JSON it reads back) and lone surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
_FIND = _UNSTORABLE.search
_PLAIN = frozenset({int, float, bool, type(None)})


def storable_text(value: str) -> str:
    """``value`` as both databases keep text (see ``storable``)."""
    return _UNSTORABLE.sub(REPLACEMENT, value) if _FIND(value) else value


def storable(value: Any) -> Any:
    """``value`` with every string in it as both databases keep it: NUL and lone
    surrogates become U+FFFD (one character for one, so widths hold); dicts (keys too),
    lists and tuples are walked, tuples become lists (as JSON has them)."""
    kind = type(value)
    if kind is str:
        return _UNSTORABLE.sub(REPLACEMENT, value) if _FIND(value) else value
    if kind in _PLAIN:
        return value
    if isinstance(value, dict):
        # Written out for speed: the writer runs this on every record.
        out = {}
        for key, item in value.items():
            if type(key) is str and _FIND(key):
                key = _UNSTORABLE.sub(REPLACEMENT, key)  # noqa: PLW2901 - the cleaned key
            kind = type(item)
            if kind is str:
                out[key] = _UNSTORABLE.sub(REPLACEMENT, item) if _FIND(item) else item
            elif kind in _PLAIN:
                out[key] = item
            else:
                out[key] = storable(item)
        return out
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    if isinstance(value, str):  # a str subclass
        return storable_text(value)
    return value


def _cut(value: str | None, width: int) -> str | None:
    return value if value is None or len(value) <= width else value[:width]


@attrs.frozen(slots=True, kw_only=True)
class AuditRecord:
    """One check (``kind="check"``, one content) or evaluate (``kind="evaluate"``, the
    message's contents) by a moderator with a store.

    ``verdict`` carries ``check_id``; it is None when the check failed (``error`` is
    then the error's class name) or when policy decided without a vendor (a trusted
    sender, a mute). ``action`` is the policy's action (an evaluate). ``billable`` is
    the vendor items this check paid for: 0 when cached, pre-filtered, decided by
    fail_mode or by a provider that sends no requests.
    """

    check_id: str
    kind: Kind
    created_at: float
    contents: tuple[Content, ...]
    context: CheckContext
    verdict: Verdict | None = None
    error: str | None = None
    latency_ms: float | None = None
    action: str | None = None
    billable: int = 0

    @property
    def opens_review(self) -> bool:
        """A REVIEW outcome (or a plain check's REVIEW verdict) waits for a person."""
        if self.action is not None:
            return self.action == "REVIEW"
        verdict = self.verdict
        return self.kind == "check" and verdict is not None and verdict.decision is Decision.REVIEW

    def rows(self, *, keep_content: bool) -> Rows:
        """The ``checks`` row, and the ``reviews`` row when it opens a review."""
        verdict = self.verdict
        context = self.context
        contents = self.contents
        text = "\n".join(c.value for c in contents) if keep_content else None
        pending = verdict is not None and verdict.decision is Decision.PENDING
        check: dict[str, Any] = {
            "check_id": self.check_id,
            "kind": self.kind,
            "created_at": self.created_at,
            "status": "pending" if pending else "final",
            "completed_at": None,
            "scene": _cut(context.scene, 256),
            "sender": _cut(context.sender, 256),
            "receiver": _cut(context.receiver, 256),
            "content_type": contents[0].type.value if contents else "text",
            "content_hash": content_hash(contents),
            "content": text,
            "decision": None,
            "label": None,
            "sublabel": None,
            "score": None,
            "keywords": [],
            "provider": None,
            "request_id": None,
            "latency_ms": self.latency_ms,
            "failed_over": False,
            "fallback": False,
            "cached": False,
            "prefiltered": False,
            "billable": self.billable,
            "action": self.action,
            "error": _cut(self.error, 128),
            "verdict": None,
        }
        if verdict is not None:
            check.update(
                decision=verdict.decision.name,
                label=verdict.label.name,
                sublabel=_cut(verdict.sublabel, 256),
                score=verdict.score,
                keywords=list(verdict.keywords),
                provider=_cut(verdict.provider, 128),
                request_id=_cut(verdict.request_id, 256),
                failed_over=verdict.failed_over,
                fallback=verdict.fallback,
                cached=verdict.cached,
                prefiltered=verdict.prefiltered,
                verdict=verdict.to_dict(),
            )
        check = storable(check)
        if not self.opens_review:
            return check, None
        review = {
            "check_id": self.check_id,
            "status": "open",
            "opened_at": self.created_at,
            "provider": check["provider"],
            "decision": check["decision"] or "REVIEW",
            "label": check["label"],
            "sublabel": check["sublabel"],
            "keywords": check["keywords"],
            "sender": check["sender"],
            "scene": check["scene"],
            "content_type": check["content_type"],
            "content": text if keep_content else (verdict.masked_text if verdict else None),
        }
        return check, storable(review)


@attrs.frozen(slots=True, kw_only=True)
class StoredCheck:
    """A check as the store has it: ``status`` "pending" until the vendor's callback
    turns it "final" (``completed_at``); ``verdict`` the latest one (None when the
    check failed: ``error`` names the error type, or no vendor was asked)."""

    check_id: str
    kind: str
    status: Status
    created_at: float
    completed_at: float | None
    verdict: Verdict | None
    action: str | None = None
    error: str | None = None
    scene: str | None = None
    sender: str | None = None
    receiver: str | None = None
    content_type: str = "text"
    content_hash: str = ""
    content: str | None = None
    latency_ms: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> StoredCheck:
        """From a ``checks`` row (a mapping of its columns)."""
        data = row.get("verdict")
        verdict = None if data is None else Verdict.from_dict(data)
        if verdict is not None and verdict.check_id is None:
            verdict = attrs.evolve(verdict, check_id=row["check_id"])
        return cls(
            check_id=row["check_id"],
            kind=row["kind"],
            status="pending" if row["status"] == "pending" else "final",
            created_at=row["created_at"],
            completed_at=row["completed_at"],
            verdict=verdict,
            action=row["action"],
            error=row["error"],
            scene=row["scene"],
            sender=row["sender"],
            receiver=row["receiver"],
            content_type=row["content_type"],
            content_hash=row["content_hash"],
            content=row["content"],
            latency_ms=row["latency_ms"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``GET /v1/checks/{check_id}`` (no message text: the API shows
        the verdict, whose ``masked_text`` is what may be shown)."""
        return {
            "check_id": self.check_id,
            "status": self.status,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "kind": self.kind,
            "action": self.action,
            "error": self.error,
        }
