"""The vendor-neutral model: what is checked (Content), what comes back (Verdict),
what a vendor pushes later by webhook (WebhookEvent), and what policy decides
(Action, Outcome).

Frozen attrs classes that know nothing about JSON or vendor key names; each provider
maps its vendor's payload onto them with its own converter.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping
from typing import Any

import attrs

from ._errors import InvalidContent, ProviderError

__all__ = [
    "Action",
    "CheckContext",
    "Content",
    "ContentType",
    "Decision",
    "Label",
    "Outcome",
    "Secret",
    "Verdict",
    "WebhookEvent",
]


class ContentType(enum.Enum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"

    # Members are singletons; Enum's own __hash__ runs Python code on every set lookup.
    __hash__ = object.__hash__


class Decision(enum.Enum):
    """What a provider decided. Ordered PASS < PENDING < REVIEW < BLOCK.

    PENDING means the answer arrives later by webhook (audio and video on some vendors);
    it ranks above PASS so that "harshest wins" never prefers an unknown over a finding,
    nor a clean answer over an unknown.
    """

    PASS = "PASS"  # noqa: S105 - a decision, not a password
    PENDING = "PENDING"
    REVIEW = "REVIEW"
    BLOCK = "BLOCK"

    __hash__ = object.__hash__

    @property
    def rank(self) -> int:
        return _DECISION_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.rank >= other.rank


_DECISION_RANK = {Decision.PASS: 0, Decision.PENDING: 1, Decision.REVIEW: 2, Decision.BLOCK: 3}


class Label(enum.Enum):
    """The shared label taxonomy. OTHER: a vendor label outside it (kept in
    ``Verdict.vendor_label``); UNKNOWN: the vendor said it could not tell."""

    NORMAL = "NORMAL"
    POLITICS = "POLITICS"
    PORN = "PORN"
    SEXY = "SEXY"
    ABUSE = "ABUSE"
    HATE = "HATE"
    VIOLENCE = "VIOLENCE"
    SELF_HARM = "SELF_HARM"
    ILLEGAL = "ILLEGAL"
    AD = "AD"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"

    __hash__ = object.__hash__


class Action(enum.Enum):
    """What policy decides for a message."""

    ALLOW = "ALLOW"
    REVIEW = "REVIEW"
    BLOCK = "BLOCK"
    MASK = "MASK"


class Secret:
    """A credential read from config. Its repr and str never show the value.

    Deliberately not an attrs class: ``attrs.asdict``/``astuple`` and cattrs recurse
    into attrs classes and would copy the value out; a plain slotted class is left as
    is, so they hand back this object and its masked repr."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a string, not a {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def get(self) -> str:
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Secret cannot be changed")

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time: a comparison must not tell an attacker how much matched.
        mine, theirs = (v.encode("utf-8", "surrogatepass") for v in (self._value, other._value))
        return hmac.compare_digest(mine, theirs)

    def __hash__(self) -> int:
        return hash((Secret, self._value))


_MEDIA_SCHEMES = ("http://", "https://")


def is_unicode(text: str) -> bool:
    """False when text holds a lone surrogate (``json.loads`` makes them from
    ``"\\ud800"``): no vendor can encode it, so it must never reach a provider.
    ASCII, the common case, costs one C-level scan."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_unicode(text: str, what: str) -> None:
    """InvalidContent when ``text`` (a ``what``) is not valid Unicode."""
    if not is_unicode(text):
        raise InvalidContent(f"{what} is not valid Unicode (it holds a lone surrogate)")


def check_call_string(value: object, what: str) -> None:
    """InvalidContent unless value is None or a valid-Unicode str: for a scene, sender,
    receiver or mute reason, which providers and Redis send on as text."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidContent(f"{what} must be a string or None, got {type(value).__name__}")
    check_unicode(value, what)


def _check_value(instance: Content, _attribute: attrs.Attribute[str], value: object) -> None:
    kind = instance.type.value
    if not isinstance(value, str):
        raise InvalidContent(f"{kind} content must be a string, got {type(value).__name__}")
    check_unicode(value, f"{kind} content")
    if instance.type is ContentType.TEXT:
        if not value or value.isspace():
            raise InvalidContent("text is empty or whitespace only; there is nothing to check")
    else:
        scheme_ok = value[:8].lower().startswith(_MEDIA_SCHEMES)
        if not scheme_ok or len(value) <= len("https://") - 1 or any(c.isspace() for c in value):
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise InvalidContent(f"{kind} must be an http(s) URL, got {shown!r}")


def _check_id(_instance: Content, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str | int) or isinstance(value, bool)):
        raise InvalidContent(f"content id must be a str or int, got {type(value).__name__}")
    if isinstance(value, str):
        check_unicode(value, "content id")  # some vendors send it on (Tencent DataId)


@attrs.frozen(slots=True)
class Content:
    """One thing to check: text, or the http(s) URL of an image, audio clip or video.

    ``id`` is the caller's own identifier (str or int), echoed as ``Verdict.content_id``.
    """

    type: ContentType = attrs.field(validator=attrs.validators.instance_of(ContentType))
    value: str = attrs.field(validator=_check_value)
    id: str | int | None = attrs.field(default=None, validator=_check_id, kw_only=True)

    @classmethod
    def text(cls, text: str, *, id: str | int | None = None) -> Content:
        return cls(ContentType.TEXT, text, id=id)

    @classmethod
    def image(cls, url: str, *, id: str | int | None = None) -> Content:
        return cls(ContentType.IMAGE, url, id=id)

    @classmethod
    def audio(cls, url: str, *, id: str | int | None = None) -> Content:
        return cls(ContentType.AUDIO, url, id=id)

    @classmethod
    def video(cls, url: str, *, id: str | int | None = None) -> Content:
        return cls(ContentType.VIDEO, url, id=id)

    @classmethod
    def coerce(cls, item: Content | str) -> Content:
        """A plain str is text; a Content is itself; anything else is InvalidContent."""
        if isinstance(item, Content):
            return item
        if isinstance(item, str):
            return _text_content(item)
        raise InvalidContent(f"expected a str or a Content to check, got {type(item).__name__}")

    @classmethod
    def from_custom(
        cls, data: Mapping[str, Any] | str | bytes, fields: str | None = None
    ) -> list[Content]:
        """The contents to check in a custom message payload (a dict or JSON text):
        the preset keys ``IMAuditContentType`` + ``IMAuditContent`` or
        ``IMAuditContents``; or, given ``fields`` like ``"data.content|content"``, the
        first of those fields found, as text; otherwise the whole payload as text.
        A bad payload is InvalidContent, a bad ``fields`` spec ConfigError
        (docs/policy.md, "Custom messages")."""
        from ._custom import contents_from_custom  # noqa: PLC0415 - _custom imports this module

        return contents_from_custom(data, fields)


def _check_context_string(
    _instance: CheckContext, attribute: attrs.Attribute[Any], value: object
) -> None:
    check_call_string(value, attribute.name)


@attrs.frozen(slots=True)
class CheckContext:
    """Who is talking to whom, and where: passed to every provider with the contents.
    Each is None or a str of valid Unicode, else InvalidContent."""

    scene: str | None = attrs.field(default=None, validator=_check_context_string)
    sender: str | None = attrs.field(default=None, validator=_check_context_string)
    receiver: str | None = attrs.field(default=None, validator=_check_context_string)


@attrs.frozen(slots=True)
class Verdict:
    """One provider's answer for one content, in the shared vocabulary.

    ``provider`` is the name the config gives the provider (its key under
    ``[providers]``); ``vendor_label`` is the vendor's own label string; ``raw`` is the
    vendor's payload for this item, for debugging and audit.

    ``errors`` holds every provider error met for this content, in the order tried
    (typed ``ProviderError``s, whose messages never carry secrets). ``fallback`` keeps
    one meaning: True when no provider answered and ``fail_mode`` decided instead, and
    ``errors`` then says why. With ``fallback`` False, non-empty ``errors`` mean the
    verdict's ``provider`` answered after the providers named there failed (a failover;
    with ``strategy = "strictest"``, beside them); ``failed_over`` says so.

    ``cached`` is True when the verdict came from the verdict cache (``[moderation.cache]``)
    or from a concurrent check of the same content, not from a vendor call of its own:
    ``request_id`` and ``raw`` are then those of the call that answered first, and
    ``content_id`` is this content's. ``prefiltered`` is True when the local pre-filter
    (``[moderation] prefilter = "local"``) blocked the content and no vendor was asked;
    ``provider`` then names the local provider. ``check_id`` names the audit record
    of the check when the moderator has a store (``Moderator.result(check_id)``).
    """

    decision: Decision
    label: Label = Label.NORMAL
    sublabel: str | None = None
    score: int | None = None
    keywords: tuple[str, ...] = ()
    masked_text: str | None = None
    provider: str | None = None
    vendor_label: str | None = None
    request_id: str | None = None
    content_id: str | int | None = None
    raw: Mapping[str, Any] | None = attrs.field(default=None, eq=False, repr=False)
    fallback: bool = False
    errors: tuple[ProviderError, ...] = attrs.field(default=(), eq=False, repr=False)
    cached: bool = False
    prefiltered: bool = False
    # Vendor items this verdict cost when the router counted more (or less) than one
    # call of ``provider``: a long text's chunks, strictest's several providers. None:
    # the usual one (none for a provider that sends no requests). For the audit log's
    # ``billable``; not part of the answer.
    vendor_items: int | None = attrs.field(default=None, eq=False, repr=False)
    # The audit record's id, with a [store] (docs/store.md); not part of the answer.
    # Last: the store's ``with_check_id`` builds a verdict positionally.
    check_id: str | None = attrs.field(default=None, eq=False)

    @property
    def flagged(self) -> bool:
        """True for REVIEW and BLOCK."""
        return self.decision is Decision.REVIEW or self.decision is Decision.BLOCK

    @property
    def failed_over(self) -> bool:
        """True when a provider answered after others failed on this content."""
        return bool(self.errors) and not self.fallback

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (SERVICE.md's VERDICT): enums by name, keywords as a
        list, ``raw`` and ``errors`` left out; ``json.dumps(v.to_dict())`` works."""
        from ._json_form import verdict_to_dict  # noqa: PLC0415 - _json_form imports this module

        return verdict_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """A Verdict from its ``to_dict`` form; unknown keys are ignored, a known key of
        the wrong type is InvalidContent."""
        from ._json_form import verdict_from_dict  # noqa: PLC0415 - _json_form imports this module

        return verdict_from_dict(data)


@attrs.frozen(slots=True)
class Outcome:
    """What policy decided: ``action``, the ``text`` that may be delivered, a ``reason``
    a moderator can read, and the ``verdict`` it rests on (None if no vendor was asked).
    ``check_id`` names the evaluate's audit record when the moderator has a store, with
    or without a verdict (``Moderator.result(check_id)``)."""

    action: Action
    text: str | None
    reason: str
    verdict: Verdict | None = None
    # The audit record's id, with a [store] (docs/store.md); not part of the answer.
    check_id: str | None = attrs.field(default=None, eq=False)

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (SERVICE.md's OUTCOME), the verdict as ``Verdict.to_dict``."""
        from ._json_form import outcome_to_dict  # noqa: PLC0415 - _json_form imports this module

        return outcome_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        """An Outcome from its ``to_dict`` form (see ``Verdict.from_dict``)."""
        from ._json_form import outcome_from_dict  # noqa: PLC0415 - _json_form imports this module

        return outcome_from_dict(data)


@attrs.frozen(slots=True, kw_only=True)
class WebhookEvent:
    """A moderation result a vendor pushed by webhook, in the shared vocabulary, so an
    app handles every vendor's callback with one piece of code.

    - ``verdict``: what the vendor's moderation decided about the content.
    - ``provider_type``: the provider type that parsed it (``"tencent_chat"``,
      ``"huanxin"``); ``verdict.provider`` is the config's name for the provider.
    - ``event_id``: a stable dedupe key for this event, the same each time one event is
      delivered: the vendor's delivery id when it gives one (Huanxin ``callId``), else
      ``dedupe_key`` of the vendor's request id and the payload (Tencent). Offer it to
      a ``ReplayCache`` to drop replays and retries. Every built-in parser fills it.
    - ``request_id``: the vendor's id of the moderation request; when
      ``answers_pending`` it equals the ``request_id`` of the PENDING verdict of the
      earlier check. None when the vendor gives none.
    - ``answers_pending``: True when the event completes an earlier check that answered
      PENDING (audio and video); False for results of moderating delivered messages.
    - ``scene``: the vendor's scene for the check (the ``scene`` of a check), or None.
    - ``sender``: the user who sent the content.
    - ``receiver``: the peer user of a one-to-one chat; None for group messages.
    - ``group``: the group or chat room of a group message; None for one-to-one.
    - ``message_id``: the vendor's id of the message, None when there is none (e.g. the
      message was never delivered, or the check was not about a message).
    - ``content_type``: what was checked; None when the vendor does not say in these
      terms (e.g. a custom message).
    - ``contents``: the checked text entries, or the media URL; empty when not sent.
    - ``action``: what the vendor already did to the message (ALLOW: delivered,
      BLOCK: withheld or withdrawn, MASK: delivered with words replaced); None when the
      vendor only reports and the app decides.
    - ``timestamp``: when the vendor received the message, in seconds since the epoch;
      None when the vendor does not say.
    - ``raw``: the vendor's payload as received; vendor-only fields live here.
    """

    verdict: Verdict
    provider_type: str
    event_id: str | None = None
    request_id: str | None = None
    answers_pending: bool = False
    scene: str | None = None
    sender: str | None = None
    receiver: str | None = None
    group: str | None = None
    message_id: str | None = None
    content_type: ContentType | None = None
    contents: tuple[str, ...] = ()
    action: Action | None = None
    timestamp: float | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


def _text_content(
    text: str,
    *,
    _new: Any = object.__new__,
    _set: Any = object.__setattr__,
    _text: ContentType = ContentType.TEXT,
) -> Content:
    """``Content.text(text)`` without attrs' validators, for the hot path of
    ``check_many`` over plain strings (the one check that matters is done here)."""
    if not text or text.isspace():
        raise InvalidContent("text is empty or whitespace only; there is nothing to check")
    if not text.isascii():
        check_unicode(text, "text content")
    content: Content = _new(Content)
    _set(content, "type", _text)
    _set(content, "value", text)
    _set(content, "id", None)
    return content
