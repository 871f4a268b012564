"""Media results that arrive later (docs/store.md, "Media results and the webhook"): a
vendor's callback turns a PENDING check final, once, durably.

``complete(engine, event, clock=...)`` does it all in one transaction:

    insert the callback by its event id  -- already there: a duplicate, change nothing
    find the pending checks by the vendor's request id
      found   -> each turns final with the vendor's verdict; a plain check's REVIEW
                 opens a review item; one ``check.completed`` event per check goes
                 to the outbox
      final   -> already completed by another callback: recorded, nothing changes
      none    -> an orphan: recorded with check_id NULL and the vendor's verdict

The audit writer batches (and spills to its journal while the database is away), so
a quick vendor can call back before its check is in the table. ``adopt_orphans``
completes such orphans once their check arrives; the service runs it beside the
outbox's delivery. Turning a check final is a compare-and-set on ``status``, so two
callbacks, or a callback and an adoption, complete a check once between them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Literal

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from moderation_core._model import Decision, Verdict, WebhookEvent
from moderation_core._replay import dedupe_key

from ._outbox import CHECK_COMPLETED, enqueue
from ._records import storable, storable_text
from ._schema import callbacks, checks, reviews

__all__ = [
    "CompletedCheck",
    "Completion",
    "adopt_orphans",
    "complete",
    "completed_checks",
    "event_key",
]

Outcome = Literal["completed", "duplicate", "orphaned", "already_final"]
_WIDTHS = {"event_id": 256, "provider_type": 64, "request_id": 256}


@attrs.frozen(kw_only=True)
class CompletedCheck:
    """A check this callback turned final: its id, the final verdict (the vendor's,
    with the check's provider name, request id, content id and check id) and the id
    of the ``check.completed`` event waiting in the outbox."""

    check_id: str
    verdict: Verdict
    outbox_event_id: str


@attrs.frozen(kw_only=True)
class Completion:
    """What one callback did. ``outcome``: ``completed`` (``checks`` holds what turned
    final), ``duplicate`` (this event id was received before: nothing changed),
    ``already_final`` (the check was completed by an earlier callback; ``check_id``
    names it) or ``orphaned`` (no check has this request id, yet). ``event`` is the
    callback (rebuilt from the store, without ``raw``, for an adopted orphan)."""

    outcome: Outcome
    event_id: str
    event: WebhookEvent = attrs.field(repr=False)
    check_id: str | None = None
    checks: tuple[CompletedCheck, ...] = ()


def _cut(value: str | None, width: int) -> str | None:
    """Cut to the column's width, as the database keeps text (``storable``)."""
    if value is None:
        return None
    return storable_text(value if len(value) <= width else value[:width])


def event_key(event: WebhookEvent) -> str:
    """The callback's durable dedupe key: its ``event_id`` under its provider type (two
    vendors' ids may coincide: one must not pass for the other's duplicate), or for a
    parser that sets none, ``dedupe_key`` of the provider type, request id and payload.
    A key longer than the column is hashed to fit, so it still dedupes."""
    kind = event.provider_type
    key = event.event_id
    if key is None:
        key = dedupe_key(kind, event.request_id, dict(event.raw))
    elif not key.startswith(f"{kind}:"):  # Tencent's ``dedupe_key`` carries it already
        key = f"{kind}:{key}"
    if len(key) > _WIDTHS["event_id"]:
        key = dedupe_key("long-event-id", key)
    return storable_text(key)


def complete(
    engine: sa.Engine,
    event: WebhookEvent,
    *,
    clock: Callable[[], float],
    providers: Collection[str] | None = None,
) -> Completion:
    """Record ``event`` and turn its pending check(s) final (see the module docstring).
    ``providers``, when given, are the config names the check's provider may have
    (those of the event's provider type); None matches on the request id alone.
    Database errors propagate (the caller answers the vendor with a failure, so a
    vendor that retries sends it again): nothing is half done."""
    now = clock()
    key = event_key(event)
    verdict = event.verdict
    with engine.begin() as connection:
        if not _record_callback(connection, key, event, now):
            return Completion(outcome="duplicate", event_id=key, event=event)
        if event.request_id is None:
            return Completion(outcome="orphaned", event_id=key, event=event)
        done = _complete_checks(connection, event.request_id, verdict, now, providers)
        if done:
            _link(connection, key, done[0].check_id)
            return Completion(
                outcome="completed",
                event_id=key,
                event=event,
                check_id=done[0].check_id,
                checks=tuple(done),
            )
        final = connection.execute(
            _by_request(event.request_id, providers).with_only_columns(checks.c.check_id).limit(1)
        ).scalar()
        if final is not None:
            _link(connection, key, final)
            return Completion(outcome="already_final", event_id=key, event=event, check_id=final)
    return Completion(outcome="orphaned", event_id=key, event=event)


def adopt_orphans(
    engine: sa.Engine,
    *,
    clock: Callable[[], float],
    since: float,
    limit: int = 100,
    providers: Mapping[str, Collection[str]] | None = None,
) -> list[Completion]:
    """Complete the orphaned callbacks received since ``since`` whose pending check has
    reached the store after them; each is then linked to its check. Returns what was
    completed (for the ``check_completed`` hook and the outbox's wake-up).

    ``providers`` maps a provider type to the config names of its providers, as
    ``complete`` takes them: an orphan completes only a check of a provider of its own
    type (two vendors' request ids may coincide); a type not in it, or no mapping,
    matches on the request id alone."""
    names = providers or {}
    own_vendor = sa.or_(
        callbacks.c.provider_type.not_in(list(names)),
        *(
            sa.and_(callbacks.c.provider_type == kind, checks.c.provider.in_(list(named)))
            for kind, named in names.items()
        ),
    )
    waiting = (
        sa.select(
            callbacks.c.event_id,
            callbacks.c.provider_type,
            callbacks.c.request_id,
            callbacks.c.verdict,
        )
        .where(callbacks.c.check_id.is_(None))
        .where(callbacks.c.request_id.is_not(None))
        .where(callbacks.c.verdict.is_not(None))
        .where(callbacks.c.received_at >= since)
        .where(
            sa.exists()
            .where(checks.c.request_id == callbacks.c.request_id)
            .where(checks.c.status == "pending")
            .where(own_vendor)
        )
        .order_by(callbacks.c.received_at)
        .limit(limit)
    )
    with engine.connect() as connection:
        found = connection.execute(waiting).all()
    adopted: list[Completion] = []
    for row in found:
        verdict = Verdict.from_dict(row.verdict)
        event = WebhookEvent(
            verdict=verdict,
            provider_type=row.provider_type,
            event_id=row.event_id,
            request_id=row.request_id,
            answers_pending=True,
        )
        # Two workers may adopt one orphan at once: completing is a compare-and-set,
        # so one of them turns the check final and the other finds nothing to do.
        with engine.begin() as connection:
            done = _complete_checks(
                connection, row.request_id, verdict, clock(), names.get(row.provider_type)
            )
            if done:
                _link(connection, row.event_id, done[0].check_id)
        if done:
            adopted.append(
                Completion(
                    outcome="completed",
                    event_id=row.event_id,
                    event=event,
                    check_id=done[0].check_id,
                    checks=tuple(done),
                )
            )
    return adopted


# -- inside the transaction ------------------------------------------------------------


def _record_callback(connection: sa.Connection, key: str, event: WebhookEvent, now: float) -> bool:
    """Insert the callback; False when its event id is already there."""
    values: dict[str, Any] = {
        "event_id": key,
        "provider_type": _cut(event.provider_type, _WIDTHS["provider_type"]),
        "request_id": _cut(event.request_id, _WIDTHS["request_id"]),
        "check_id": None,
        "received_at": now,
        "verdict": storable(event.verdict.to_dict()),
    }
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(callbacks)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(callbacks.c.event_id)
    )
    # RETURNING, not rowcount: a driver may not count the rows of an upsert.
    return connection.execute(statement).first() is not None


def _by_request(request_id: str, providers: Collection[str] | None) -> sa.Select[Any]:
    query = sa.select(checks).where(checks.c.request_id == _cut(request_id, 256))
    if providers is not None:
        query = query.where(checks.c.provider.in_(list(providers)))
    return query


def _complete_checks(
    connection: sa.Connection,
    request_id: str,
    verdict: Verdict,
    now: float,
    providers: Collection[str] | None,
) -> list[CompletedCheck]:
    pending = connection.execute(
        _by_request(request_id, providers)
        .where(checks.c.status == "pending")
        .order_by(checks.c.created_at)
    ).all()
    return [done for row in pending if (done := _finish(connection, row, verdict, now))]


def _final_verdict(row: sa.Row[Any], vendor: Verdict) -> Verdict:
    """The vendor's verdict as this check's: the config's provider name, the request
    id, the caller's content id and the check id of the stored PENDING verdict."""
    stored = Verdict.from_dict(row.verdict) if row.verdict else None
    return attrs.evolve(
        vendor,
        provider=row.provider or vendor.provider,
        request_id=row.request_id,
        content_id=stored.content_id if stored is not None else None,
        check_id=row.check_id,
        raw=None,
    )


def _finish(
    connection: sa.Connection, row: sa.Row[Any], vendor: Verdict, now: float
) -> CompletedCheck | None:
    final = _final_verdict(row, vendor)
    form: dict[str, Any] = storable(final.to_dict())
    turned = connection.execute(
        checks.update()
        .where(checks.c.check_id == row.check_id)
        .where(checks.c.status == "pending")  # compare-and-set: one completion per check
        .values(
            status="final",
            completed_at=now,
            decision=final.decision.name,
            label=final.label.name,
            sublabel=_cut(final.sublabel, 256),
            score=final.score,
            keywords=form["keywords"],
            verdict=form,
        )
    )
    if turned.rowcount != 1:
        return None
    if row.kind == "check" and final.decision is Decision.REVIEW:
        _open_review(connection, row, final, now)
    event_id = enqueue(
        connection,
        event_type=CHECK_COMPLETED,
        payload=_payload(row, form, now),
        now=now,
    )
    return CompletedCheck(check_id=row.check_id, verdict=final, outbox_event_id=event_id)


def _open_review(connection: sa.Connection, row: sa.Row[Any], final: Verdict, now: float) -> None:
    """As the audit writer does for a check that answered REVIEW at once: the person
    sees the kept content, else the masked text (never the text we were told not to
    keep)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(reviews)
        .values(
            check_id=row.check_id,
            status="open",
            opened_at=now,
            provider=row.provider,
            decision=final.decision.name,
            label=final.label.name,
            sublabel=_cut(final.sublabel, 256),
            keywords=storable(list(final.keywords)),
            sender=row.sender,
            scene=row.scene,
            content_type=row.content_type,
            content=row.content if row.content is not None else storable(final.masked_text),
        )
        .on_conflict_do_nothing()
    )
    connection.execute(statement)


def _payload(row: sa.Row[Any], verdict: dict[str, Any], now: float) -> dict[str, Any]:
    """``check.completed``'s ``data``: the check and its final VERDICT, no content."""
    return {
        "check_id": row.check_id,
        "status": "final",
        "verdict": verdict,
        "kind": row.kind,
        "content_type": row.content_type,
        "scene": row.scene,
        "sender": row.sender,
        "receiver": row.receiver,
        "created_at": row.created_at,
        "completed_at": now,
    }


def _link(connection: sa.Connection, key: str, check_id: str) -> None:
    connection.execute(
        callbacks.update().where(callbacks.c.event_id == key).values(check_id=check_id)
    )


def completed_checks(completions: Iterable[Completion]) -> list[CompletedCheck]:
    """Every check the completions turned final, in order."""
    return [done for completion in completions for done in completion.checks]
