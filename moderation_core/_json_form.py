"""The one public JSON form of Verdict and Outcome (``to_dict`` / ``from_dict``).

The service's answers, the CLI's ``--json`` and ``--file`` records and the tests all use
this form, so they agree. Enums travel as their names (``"BLOCK"``, ``"AD"``), keywords
as a list. Left out: ``raw`` (a vendor payload, possibly large, possibly personal) and
``errors`` (exceptions; a ``fallback`` verdict says why elsewhere). Written by hand
rather than with a cattrs converter because the model must not own a converter
(STYLE.md 1) and the form is a dozen fields whose reading must reject, not coerce.

``check_id`` is in the form only when set (a moderator with a store). ``from_dict``
reads what ``to_dict`` wrote, ignoring keys it does not know (a newer server may add
fields); a known key with the wrong type is
InvalidContent naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ._errors import InvalidContent
from ._model import Action, Decision, Label, Outcome, Verdict

__all__ = [
    "json_kind",
    "outcome_from_dict",
    "outcome_to_dict",
    "verdict_from_dict",
    "verdict_to_dict",
]

E = TypeVar("E", Decision, Label, Action)


def verdict_to_dict(verdict: Verdict) -> dict[str, Any]:
    form = {
        # _name_, the member's name, read without the ``name`` property's call.
        "decision": verdict.decision._name_,
        "label": verdict.label._name_,
        "sublabel": verdict.sublabel,
        "score": verdict.score,
        "keywords": list(verdict.keywords),
        "masked_text": verdict.masked_text,
        "provider": verdict.provider,
        "vendor_label": verdict.vendor_label,
        "request_id": verdict.request_id,
        "content_id": verdict.content_id,
        "fallback": verdict.fallback,
        "cached": verdict.cached,
        "prefiltered": verdict.prefiltered,
    }
    if verdict.check_id is not None:
        form["check_id"] = verdict.check_id
    return form


def verdict_from_dict(data: object) -> Verdict:
    table = _table(data, "a verdict")
    score = table.get("score")
    if score is not None and (not isinstance(score, int) or isinstance(score, bool)):
        raise _wrong("score", "a whole number or null", score)
    keywords = table.get("keywords", [])
    if not isinstance(keywords, list | tuple) or not all(isinstance(k, str) for k in keywords):
        raise _wrong("keywords", "a list of strings", keywords)
    content_id = table.get("content_id")
    if content_id is not None and (
        not isinstance(content_id, str | int) or isinstance(content_id, bool)
    ):
        raise _wrong("content_id", "a string, a whole number or null", content_id)
    fallback, cached, prefiltered = (_flag(table, key) for key in _FLAGS)
    return Verdict(
        decision=_member(Decision, table, "decision", required=True),
        label=_member(Label, table, "label", default=Label.NORMAL),
        sublabel=_optional_string(table, "sublabel"),
        score=score,
        keywords=tuple(keywords),
        masked_text=_optional_string(table, "masked_text"),
        provider=_optional_string(table, "provider"),
        vendor_label=_optional_string(table, "vendor_label"),
        request_id=_optional_string(table, "request_id"),
        content_id=content_id,
        fallback=fallback,
        cached=cached,
        prefiltered=prefiltered,
        check_id=_optional_string(table, "check_id"),
    )


def outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    form: dict[str, Any] = {
        "action": outcome.action.name,
        "text": outcome.text,
        "reason": outcome.reason,
        "verdict": None if outcome.verdict is None else verdict_to_dict(outcome.verdict),
    }
    if outcome.check_id is not None:
        form["check_id"] = outcome.check_id
    return form


def outcome_from_dict(data: object) -> Outcome:
    table = _table(data, "an outcome")
    reason = table.get("reason")
    if not isinstance(reason, str):
        raise _wrong("reason", "a string", reason)
    verdict = table.get("verdict")
    return Outcome(
        action=_member(Action, table, "action", required=True),
        text=_optional_string(table, "text"),
        reason=reason,
        verdict=None if verdict is None else verdict_from_dict(verdict),
        check_id=_optional_string(table, "check_id"),
    )


def _table(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidContent(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def _member(
    enum: type[E],
    table: Mapping[str, Any],
    key: str,
    *,
    required: bool = False,
    default: E | None = None,
) -> E:
    value = table.get(key)
    if value is None and not required and default is not None:
        return default
    if isinstance(value, str) and value in enum.__members__:
        return enum[value]
    names = ", ".join(enum.__members__)
    raise _wrong(key, f"one of {names}", value)


_FLAGS = ("fallback", "cached", "prefiltered")


def _flag(table: Mapping[str, Any], key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise _wrong(key, "true or false", value)
    return value


def _optional_string(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise _wrong(key, "a string or null", value)
    return value


def _wrong(key: str, wanted: str, value: object) -> InvalidContent:
    # The type only: the value may be message text or hostile input.
    return InvalidContent(f"{key} must be {wanted}, got {type(value).__name__}")


def json_kind(value: object) -> str:
    """How an error message names a JSON value's type ("a string", "null", ...): the
    service's request parser and the worker's message parser word problems alike."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
