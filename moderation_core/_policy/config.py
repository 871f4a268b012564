"""The ``[policy]`` table: its keys, structured with unknown keys refused, and each
scene's rules compiled from the global ones and the scene's overrides."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Final, NewType

import attrs

from moderation_core._config import Config, make_config_converter, structure_config
from moderation_core._errors import ConfigError
from moderation_core._model import Action, Label

from .terms import TermList

__all__ = [
    "Band",
    "ContextRule",
    "MuteRule",
    "PolicySettings",
    "Rules",
    "SceneRules",
    "compile_rules",
    "format_duration",
    "load_settings",
    "parse_duration",
]

Duration = NewType("Duration", float)  # seconds, written "60s", "1h", "1h30m" or a number

ACTIONS: Final = ("allow", "review", "block", "mask")
ON_FAILURE: Final = ("allow", "review", "block", "raise")
DEFAULT_PREFIX: Final = "moderation_core:policy"
_DECISION_KEYS: Final = ("REVIEW", "BLOCK")  # an actions key for any label so decided
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
# The longest duration: 100 years. A longer mute is a mute until unmuted (no duration).
MAX_DURATION: Final = 36525 * 86400.0


def parse_duration(value: object) -> float:
    """Seconds from ``"90s"``, ``"15m"``, ``"1h30m"``, ``"7d"``, a timedelta or a
    positive number, at most ``MAX_DURATION`` (a ValueError otherwise)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int past float's range
            seconds = math.inf
    elif isinstance(value, str):
        compact = value.replace(" ", "")
        parts = _DURATION_PART.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise ValueError(
                f"expected a duration like '60s', '1h' or '1h30m', got {_shown(value)}"
            )
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        kind = type(value).__name__
        raise ValueError(f"expected a duration like '60s' or '1h', got {kind} {_shown(value)}")
    if not seconds > 0:  # also NaN
        raise ValueError(f"a duration must be positive, got {_shown(value)}")
    if seconds > MAX_DURATION:  # also inf; past it, datetime overflows
        raise ValueError(
            f"a duration must be at most {format_duration(MAX_DURATION)}, got {_shown(value)}"
        )
    return seconds


def _shown(value: object) -> str:
    """The value for an error message, cut short: it may be anything a caller passed."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _structure_duration(value: object, _type: object) -> Duration:
    if isinstance(value, timedelta):
        raise ValueError("expected a duration like '60s' or '1h'")
    return Duration(parse_duration(value))


def _one_of(choices: tuple[str, ...]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}; got {value!r}")

    return check


def _at_least(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}; got {value}")

    return check


def _score(_inst: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not 0 <= value <= 100:
        raise ValueError(f"{attribute.name} must be a score from 0 to 100; got {value}")


@attrs.define(kw_only=True)
class Band:
    """Score bands for one label: ``review`` and/or ``block``, scores 0-100."""

    review: int | None = attrs.field(default=None, validator=_score)
    block: int | None = attrs.field(default=None, validator=_score)


@attrs.define(kw_only=True)
class MuteRule:
    """``mute = { after = 3, within = "1h", for = "24h" }``."""

    after: int = attrs.field(validator=_at_least(1))
    within: Duration
    for_: Duration


@attrs.define(kw_only=True)
class ContextRule:
    """``context = { messages = 5, within = "60s", provider = "local" }``."""

    messages: int = attrs.field(default=5, validator=_at_least(2))
    within: Duration = Duration(60.0)
    provider: str = "local"


@attrs.define(kw_only=True)
class Rules:
    """The keys a scene may set. None: not set here (the global value applies); in a
    scene, ``mute = false`` / ``context = false`` turn a global one off."""

    actions: dict[str, str] | None = None
    thresholds: dict[str, Band] | None = None
    trusted_senders: list[str] | None = None
    blocked_terms: list[str] | None = None
    allowed_terms: list[str] | None = None
    on_failure: str | None = attrs.field(default=None, validator=_one_of(ON_FAILURE))
    mute: MuteRule | bool | None = None
    context: ContextRule | bool | None = None


@attrs.define(kw_only=True)
class PolicySettings(Rules):
    """The ``[policy]`` table: the global rules, per-scene overrides and where shared
    state lives in Redis."""

    scenes: dict[str, Rules] = attrs.field(factory=dict)
    redis_prefix: str = DEFAULT_PREFIX


def _converter() -> Any:
    converter = make_config_converter()
    converter.register_structure_hook(Duration, _structure_duration)
    converter.register_structure_hook(
        MuteRule,
        _forbid_extra(converter, MuteRule, for_="for"),
    )
    for rule in (MuteRule, ContextRule):

        def structure_toggle(value: object, _type: object, rule: type = rule) -> object:
            if value is False:
                return False
            if isinstance(value, bool) or not isinstance(value, Mapping):
                raise ValueError("expected a table, or false to turn it off in a scene")
            return converter.structure(value, rule)

        converter.register_structure_hook_func(_is(rule | bool | None), structure_toggle)
    converter.register_structure_hook_func(_is(list[str]), _strict_str_list)
    return converter


def _is(wanted: object) -> Callable[[object], bool]:
    def matches(kind: object) -> bool:
        return kind == wanted

    return matches


def _strict_str_list(value: object, _type: object) -> list[str]:
    # A lone string would otherwise become a list of its characters.
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return list(value)


def _forbid_extra(converter: Any, cls: type, **renames: str) -> Any:
    from cattrs.gen import make_dict_structure_fn, override  # noqa: PLC0415 - setup only

    overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
    return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **overrides)


def load_settings(config: Config) -> PolicySettings:
    """The ``[policy]`` table of a config, structured; a ConfigError names every problem."""
    where = config.where("policy")
    try:
        return structure_config(_converter(), PolicySettings, dict(config.policy), where)
    except ConfigError as exc:  # cattrs names a missing key by its attribute
        raise ConfigError(str(exc).replace(".for_:", ".for:")) from None


# -- compiled rules ------------------------------------------------------------------


@attrs.frozen
class SceneRules:
    """The rules in force in one scene, compiled."""

    scene: str | None
    actions: Mapping[str, Action]
    thresholds: Mapping[Label, Band]
    trusted: tuple[str, ...]
    blocked: TermList | None
    allowed: TermList | None
    on_failure: str | None
    mute: MuteRule | None
    context: ContextRule | None


def compile_rules(
    settings: PolicySettings, scene: str | None, where: str, providers: Sequence[str]
) -> SceneRules:
    own = settings.scenes[scene] if scene is not None else Rules()
    prefix = f"scenes.{scene}." if scene is not None else ""

    def pick(name: str) -> tuple[Any, str]:
        value = getattr(own, name)
        return (getattr(settings, name), name) if value is None else (value, prefix + name)

    actions, key = pick("actions")
    compiled_actions = {}
    for name, action in (actions or {}).items():
        if action.lower() not in ACTIONS:
            raise ConfigError(
                f"{where} {key}.{name}: must be one of {', '.join(ACTIONS)}; got {action!r}"
            )
        label = _label_key(name, f"{where} {key}", allow_decisions=True)
        compiled_actions[label] = Action[action.upper()]
    thresholds, key = pick("thresholds")
    compiled_bands = {}
    for name, band in (thresholds or {}).items():
        if band.review is None and band.block is None:
            raise ConfigError(f"{where} {key}.{name}: give review, block or both")
        if band.review is not None and band.block is not None and band.review > band.block:
            raise ConfigError(
                f"{where} {key}.{name}: review ({band.review}) is above block ({band.block})"
            )
        compiled_bands[Label[_label_key(name, f"{where} {key}", allow_decisions=False)]] = band
    blocked, blocked_key = pick("blocked_terms")
    allowed, allowed_key = pick("allowed_terms")
    mute, _ = pick("mute")
    context, context_key = pick("context")
    if isinstance(context, ContextRule) and context.provider not in providers:
        raise ConfigError(
            f"{where} {context_key}.provider: no provider named {context.provider!r} "
            f"(configured: {', '.join(providers)})"
        )
    trusted, _ = pick("trusted_senders")
    on_failure, _ = pick("on_failure")
    return SceneRules(
        scene=scene,
        actions=compiled_actions,
        thresholds=compiled_bands,
        trusted=tuple(trusted or ()),
        blocked=TermList(blocked, f"{where} {blocked_key}") if blocked else None,
        allowed=TermList(allowed, f"{where} {allowed_key}") if allowed else None,
        on_failure=on_failure,
        mute=mute if isinstance(mute, MuteRule) else None,
        context=context if isinstance(context, ContextRule) else None,
    )


def _label_key(name: str, where: str, *, allow_decisions: bool) -> str:
    upper = name.upper()
    if upper in Label.__members__ or (allow_decisions and upper in _DECISION_KEYS):
        return upper
    extra = "; or REVIEW / BLOCK for any label so decided" if allow_decisions else ""
    raise ConfigError(
        f"{where}: unknown label {name!r} (labels: {', '.join(Label.__members__)}{extra})"
    )
