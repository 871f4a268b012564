"""Fuzz targets over the public surface: whatever comes in, only a ModerationError
subclass comes out (or TypeError, for an argument of the wrong Python type), and an
error is never a silent PASS.

The same targets found the issue-9 bugs at tens of thousands of examples; here they
run at a modest count on every test run (raise it with HYPOTHESIS_PROFILE=fuzz)."""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation_core import (
    AsyncModerator,
    Content,
    Decision,
    ModerationError,
    Moderator,
    Verdict,
    load_config,
)

settings.register_profile(
    "suite",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("fuzz", max_examples=5_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

# Text as an attacker writes it: any code point, lone surrogates included (json.loads
# produces them from "\ud800"), control characters, CJK, and shapes that stress rules.
T = TypeVar("T")

SURROGATES = st.sampled_from(["\ud800", "\udfff", "\udc80", "\ud83d"])
PIECES = st.one_of(
    st.text(),
    SURROGATES,
    st.sampled_from(["@", ".", "..", "http://", "www.", "微信", "傻逼", "\x00", "\u200b", " "]),
    st.integers(0, 10**12).map(str),
)
HOSTILE_TEXT = st.lists(PIECES, max_size=12).map("".join)
IDS = st.one_of(st.none(), st.text(max_size=8), st.integers(), st.floats(), st.binary(max_size=4))
NAMES = st.one_of(st.none(), st.text(max_size=8), SURROGATES)

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), HOSTILE_TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


# fail_mode = "allow" turns any provider failure into a PASS flagged fallback=True: the
# setting under which an engine crash on hostile text used to let the message through.
ALLOW_CONFIG = {"moderation": {"fail_mode": "allow"}, "providers": {"local": {"type": "local"}}}


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _only_typed_errors(call: Callable[[], T]) -> T | None:
    """The call's result, or None when it raised a ModerationError (or TypeError)."""
    try:
        return call()
    except (ModerationError, TypeError):
        return None


@pytest.fixture(scope="module")
def moderator() -> Iterator[Moderator]:
    with Moderator(ALLOW_CONFIG) as mod:
        yield mod


@given(value=HOSTILE_TEXT, id=IDS)
def test_content_text_takes_any_text_or_refuses_it_typed(value: str, id: Any) -> None:
    content = _only_typed_errors(lambda: Content.text(value, id=id))
    if content is not None:
        assert _valid_unicode(content.value)


@given(value=st.one_of(HOSTILE_TEXT, st.binary(max_size=20), JSON_VALUES))
def test_media_factories_refuse_anything_but_http_urls_typed(value: Any) -> None:
    for factory in (Content.image, Content.audio, Content.video):
        content = _only_typed_errors(functools.partial(factory, value))
        if content is not None:
            assert content.value.startswith(("http://", "https://"))


@given(text=HOSTILE_TEXT, scene=NAMES, sender=NAMES, receiver=NAMES)
def test_check_never_fails_open(
    moderator: Moderator, text: str, scene: Any, sender: Any, receiver: Any
) -> None:
    verdict = _only_typed_errors(
        lambda: moderator.check(text, scene=scene, sender=sender, receiver=receiver)
    )
    if verdict is not None:
        assert isinstance(verdict, Verdict)
        # fail_mode = "allow" turns an engine failure into PASS with fallback=True;
        # hostile text must never get there: it is refused, or checked for real.
        assert not verdict.fallback, verdict.errors
        assert _valid_unicode(text)


def _content_or_text(text: str, as_content: bool) -> Content | str:
    if as_content:
        content = _only_typed_errors(lambda: Content.text(text, id="c"))
        if content is not None:
            return content
    return text


@given(items=st.lists(st.builds(_content_or_text, HOSTILE_TEXT, st.booleans()), max_size=6))
def test_check_many_answers_every_item_in_order(moderator: Moderator, items: list[Any]) -> None:
    results = _only_typed_errors(lambda: moderator.check_many(items, return_exceptions=True))
    if results is None:
        return
    assert len(results) == len(items)
    for item, result in zip(items, results, strict=True):
        text = item.value if isinstance(item, Content) else item
        if isinstance(result, Verdict):
            assert _valid_unicode(text)
            assert not result.fallback
        else:
            assert isinstance(result, ModerationError)


@given(text=HOSTILE_TEXT, scene=NAMES, sender=NAMES)
def test_evaluate_never_fails_open(
    moderator: Moderator, text: str, scene: Any, sender: Any
) -> None:
    outcome = _only_typed_errors(lambda: moderator.evaluate(text, scene=scene, sender=sender))
    if outcome is not None and outcome.verdict is not None:
        assert not outcome.verdict.fallback
        assert _valid_unicode(text)


@given(text=HOSTILE_TEXT)
async def test_async_check_never_fails_open(text: str) -> None:
    async with AsyncModerator(ALLOW_CONFIG) as mod:
        try:
            verdict = await mod.check(text)
        except ModerationError:
            return
    assert not verdict.fallback
    assert _valid_unicode(text)


@given(
    data=st.one_of(
        JSON_VALUES,
        JSON_VALUES.map(json.dumps),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=40),
        HOSTILE_TEXT,
        st.integers(1, 3000).map(lambda n: "[" * n),
        st.integers(1, 3000).map(lambda n: '{"a":' * n),
    ),
    fields=st.one_of(st.none(), HOSTILE_TEXT, st.sampled_from(["data.content|content", "a.b"])),
)
def test_from_custom_takes_any_payload_or_refuses_it_typed(data: Any, fields: Any) -> None:
    contents = _only_typed_errors(lambda: Content.from_custom(data, fields))
    if contents is not None:
        assert all(isinstance(c, Content) for c in contents)
        assert all(_valid_unicode(c.value) for c in contents)


def test_from_custom_refuses_deep_nesting_typed() -> None:
    for payload in ("[" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        assert _only_typed_errors(functools.partial(Content.from_custom, payload)) is None


DURATIONS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    HOSTILE_TEXT,
    st.sampled_from(["1h", "99999999999999d", "-5m", "0s", "1e400s", "nan"]),
)


@given(sender=HOSTILE_TEXT, scene=NAMES, duration=DURATIONS)
def test_mute_sender_takes_any_duration_or_refuses_it_typed(
    moderator: Moderator, sender: str, scene: Any, duration: Any
) -> None:
    mute = _only_typed_errors(lambda: moderator.mute_sender(sender, scene=scene, duration=duration))
    if mute is not None:
        moderator.unmute_sender(sender, scene=scene)
        if isinstance(duration, float) and not math.isfinite(duration):
            assert duration == math.inf  # "forever" is the only non-finite duration taken


CONFIG_KEYS = st.sampled_from(
    [
        "providers", "strategy", "fail_mode", "long_text", "redis_url", "deadline",
        "batch_window", "type", "base_url", "timeout", "rate_limit", "retries", "builtin",
        "rules", "lexicons", "allow", "actions", "thresholds", "mute", "context", "x",
    ]
)  # fmt: skip
CONFIG_VALUES = st.recursive(
    st.one_of(
        JSON_SCALARS,
        st.sampled_from(["local", "fallback", "::::", "${NO_SUCH_VAR}", "tencent_chat", "inf"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(CONFIG_KEYS, inner, max_size=4)
    ),
    max_leaves=12,
)
CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "moderation": st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=4),
        "providers": st.dictionaries(
            st.one_of(st.text(max_size=6), st.just("local")),
            st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=4),
            max_size=2,
        ),
        "policy": st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=3),
        1: CONFIG_VALUES,
    },
)


@given(config=CONFIGS)
def test_any_config_loads_or_is_a_config_error(config: dict[Any, Any]) -> None:
    loaded = _only_typed_errors(lambda: load_config(config))
    if loaded is None:
        return

    def build() -> None:
        Moderator(loaded).close()

    _only_typed_errors(build)


@given(text=st.text(min_size=1, max_size=50).filter(str.strip))
def test_valid_text_gets_a_real_verdict(moderator: Moderator, text: str) -> None:
    """The other side of never failing open: ordinary text is checked, not refused."""
    verdict = moderator.check(text)
    assert verdict.decision in (Decision.PASS, Decision.REVIEW, Decision.BLOCK)
    assert not verdict.fallback
