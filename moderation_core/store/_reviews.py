"""The review queue: REVIEW outcomes waiting for a person (rows of ``reviews``, opened
by the audit writer), and what the person decided.

A decision is one transaction: a conditional ``UPDATE ... WHERE status = 'open'``
whose row count says whether this call won (of two reviewers deciding one item at
once, exactly one does, on either database: PostgreSQL re-checks the condition after
the winner's row lock is released, SQLite has one writer at a time), and the
``review.decided`` event for the app's webhook, enqueued in the outbox in the same
transaction, so a decision is never recorded without its event or sent without
being recorded.

Errors: ``ReviewNotFound`` (no such item; HTTP 404), ``ReviewClosed`` (already
decided; HTTP 409), ``InvalidContent`` (a bad decision, reviewer, note, status or
limit; HTTP 400).
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from typing import Any, Final, Literal

import attrs
import sqlalchemy as sa

from moderation_core._errors import InvalidContent, ReviewClosed, ReviewNotFound
from moderation_core._model import is_unicode

from ._outbox import REVIEW_DECIDED, enqueue
from ._schema import reviews

__all__ = [
    "DECISIONS",
    "MAX_PAGE",
    "STATUSES",
    "ReviewClosed",
    "ReviewItem",
    "ReviewNotFound",
    "ReviewQueue",
    "decided_event",
]

ReviewDecision = Literal["approve", "reject"]
# approve: the content is fine (the verdict is overturned); reject: it is not (upheld).
DECISIONS: Final = {"approve": "approved", "reject": "rejected"}
STATUSES: Final = ("open", "approved", "rejected", "all")
MAX_PAGE: Final = 500
MAX_REVIEWER: Final = 256  # reviews.reviewer
MAX_NOTE: Final = 4000
_MAX_ID: Final = 2**31 - 1  # an INTEGER key on PostgreSQL


@attrs.frozen(kw_only=True)
class ReviewItem:
    """One item of the queue: the verdict under review, the message's context, and
    (once decided) the person's decision. ``content`` is the message text only with
    ``store.keep_content``, else its masked form when there is one, else None."""

    id: int
    check_id: str
    status: str  # open | approved | rejected
    opened_at: float
    decided_at: float | None
    reviewer: str | None
    note: str | None
    provider: str | None
    decision: str  # the verdict's: REVIEW, or BLOCK when the policy sent it to review
    label: str | None
    sublabel: str | None
    keywords: tuple[str, ...]
    sender: str | None
    scene: str | None
    content_type: str
    content: str | None = attrs.field(repr=False)  # personal data: never in a log

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> ReviewItem:
        values = row._mapping
        # By name, so a column a later migration adds does not break the queue.
        fields = {field.name: values[field.name] for field in attrs.fields(cls)}
        fields["keywords"] = tuple(str(k) for k in fields["keywords"] or ())
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """The item as ``GET /v1/reviews`` answers it."""
        return {
            "id": self.id,
            "check_id": self.check_id,
            "status": self.status,
            "opened_at": self.opened_at,
            "decided_at": self.decided_at,
            "reviewer": self.reviewer,
            "note": self.note,
            "verdict": {
                "provider": self.provider,
                "decision": self.decision,
                "label": self.label,
                "sublabel": self.sublabel,
                "keywords": list(self.keywords),
            },
            "sender": self.sender,
            "scene": self.scene,
            "content_type": self.content_type,
            "content": self.content,
        }


def decided_event(item: ReviewItem) -> dict[str, Any]:
    """The ``data`` of a ``review.decided`` event: the item without its content (the
    app has the message already; the webhook need not carry personal data again),
    and the person's ``decision`` (approve | reject)."""
    data = item.to_dict()
    del data["content"]
    data["decision"] = "approve" if item.status == "approved" else "reject"
    return data


class ReviewQueue:
    """The queue over one store's engine; ``clock`` stamps decisions (tests pass a
    fixed one)."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def __repr__(self) -> str:
        return f"ReviewQueue({self.engine.dialect.name})"

    def list(
        self, status: str = "open", *, limit: int = 50, after: int | None = None
    ) -> builtins.list[ReviewItem]:
        """Up to ``limit`` items of ``status`` (open | approved | rejected | all), oldest
        first; ``after`` is the last id of the previous page."""
        query = sa.select(reviews).order_by(reviews.c.id).limit(_page(limit))
        if status not in STATUSES:
            raise InvalidContent(
                f"status={status[:40]!r} is not a review status; use one of {', '.join(STATUSES)}"
            )
        if status != "all":
            query = query.where(reviews.c.status == status)
        if after is not None:
            query = query.where(reviews.c.id > min(after, _MAX_ID))
        with self.engine.connect() as connection:
            return [ReviewItem.from_row(row) for row in connection.execute(query)]

    def count(self, status: str = "open") -> int:
        """How many items have ``status`` (open | approved | rejected | all)."""
        if status not in STATUSES:
            raise InvalidContent(
                f"status={status[:40]!r} is not a review status; use one of {', '.join(STATUSES)}"
            )
        query = sa.select(sa.func.count()).select_from(reviews)
        if status != "all":
            query = query.where(reviews.c.status == status)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def get(self, review_id: int) -> ReviewItem:
        """The item; ReviewNotFound when there is none."""
        with self.engine.connect() as connection:
            return _fetch(connection, review_id)

    def decide(
        self,
        review_id: int,
        decision: ReviewDecision | str,
        reviewer: str,
        note: str | None = None,
    ) -> ReviewItem:
        """Record ``reviewer``'s decision on an open item and enqueue its
        ``review.decided`` event, together; the decided item. ReviewNotFound for an
        unknown id, ReviewClosed when it was decided already (nothing changes)."""
        status = _status_for(decision)
        _check_text("reviewer", reviewer, MAX_REVIEWER, required=True)
        _check_text("note", note, MAX_NOTE, required=False)
        if not 1 <= review_id <= _MAX_ID:
            raise ReviewNotFound(f"no review item has the id {review_id}")
        now = self.clock()
        with self.engine.begin() as connection:
            won = connection.execute(
                reviews.update()
                .where(reviews.c.id == review_id, reviews.c.status == "open")
                .values(status=status, decided_at=now, reviewer=reviewer, note=note)
            ).rowcount
            item = _fetch(connection, review_id)
            if won != 1:
                raise ReviewClosed(item)
            enqueue(connection, event_type=REVIEW_DECIDED, payload=decided_event(item), now=now)
        return item


def _fetch(connection: sa.Connection, review_id: int) -> ReviewItem:
    row = None
    if 1 <= review_id <= _MAX_ID:
        row = connection.execute(sa.select(reviews).where(reviews.c.id == review_id)).one_or_none()
    if row is None:
        raise ReviewNotFound(f"no review item has the id {review_id}")
    return ReviewItem.from_row(row)


def _page(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidContent(f"limit={limit} is out of range; use 1 to {MAX_PAGE}")
    return limit


def _status_for(decision: str) -> str:
    try:
        return DECISIONS[decision]
    except (KeyError, TypeError):
        raise InvalidContent(
            f"decision must be approve (the content is fine) or reject (it is not), "
            f"got {str(decision)[:40]!r}"
        ) from None


def _check_text(name: str, value: object, longest: int, *, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise InvalidContent(f"{name} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise InvalidContent(f"{name} is empty; say who decided")
    if len(value) > longest:
        raise InvalidContent(f"{name} is {len(value)} characters long; at most {longest}")
    if not is_unicode(value) or "\x00" in value:
        raise InvalidContent(f"{name} holds a lone surrogate or a NUL character")
