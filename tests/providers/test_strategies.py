"""Issue 12, "Done when": strategies fallback, strictest and shadow across an old
provider (tencent_chat) and each new one (openai, azure_content_safety), each
answering through its own emulator; and one config switched between them by its type
line and credentials.

The vendors judge differently, which is what the strategies are for:

    text                          openai          azure           tencent_chat
    "hello"                       PASS            PASS            PASS
    "you idiot"                   BLOCK ABUSE     REVIEW HATE     BLOCK ABUSE
    "I want to kill them." /
    "kill them"                   BLOCK VIOLENCE  BLOCK VIOLENCE  PASS
    "加我微信"                     PASS            PASS            REVIEW AD
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from moderation_core import (
    AllProvidersFailed,
    AsyncModerator,
    Decision,
    Label,
    Moderator,
    ProviderError,
    ProviderUnavailable,
    make_plugin_manager,
    register_plugin,
)
from tests.support.strategies import (
    Disagreements,
    Newcomer,
    Vendors,
    strategy_config,
    summary,
    tencent_rows,
    tencent_table,
)

from .azure import helpers as azure
from .openai import helpers as openai

OPENAI = Newcomer(
    name="openai",
    host="openai.test",
    emulator=openai.emulator,
    table=openai.table,
    texts=("hello", "you idiot", "I want to kill them.", "加我微信"),
    verdicts=(
        (Decision.PASS, Label.NORMAL),
        (Decision.BLOCK, Label.ABUSE),
        (Decision.BLOCK, Label.VIOLENCE),
        (Decision.PASS, Label.NORMAL),  # a verdict never moves on, only an error
    ),
    inputs=lambda request: list(json.loads(request.content)["input"]),
    faults=("503", "rate_limit", "quota", "garbage"),
    down="500",
    fault_options={"retry_after_ms": 1},
)
AZURE = Newcomer(
    name="azure",
    host=azure.HOST,
    emulator=azure.emulator,
    table=azure.table,
    texts=("hello", "you idiot", "kill them", "加我微信"),
    verdicts=(
        (Decision.PASS, Label.NORMAL),
        (Decision.REVIEW, Label.HATE),
        (Decision.BLOCK, Label.VIOLENCE),
        (Decision.PASS, Label.NORMAL),
    ),
    inputs=lambda request: [json.loads(request.content)["text"]],
    faults=("busy", "rate_limit", "auth", "garbage"),
    down="busy",
)
NEWCOMERS = [OPENAI, AZURE]
FAULTS = [(n, fault) for n in NEWCOMERS for fault in n.faults]


@pytest.fixture(params=NEWCOMERS, ids=lambda n: n.name)
def new(request: pytest.FixtureRequest) -> Newcomer:
    newcomer: Newcomer = request.param
    return newcomer


# -- fallback --------------------------------------------------------------------------


def test_fallback_the_first_provider_answers_while_it_works(new: Newcomer) -> None:
    vendors = Vendors(new)
    config = strategy_config(new, ("new", "tencent"), "fallback")
    with Moderator(config, transport=vendors.transport()) as mod:
        assert summary(mod.check_many(new.texts)) == new.rows()
    assert not vendors.tencent.requests


@pytest.mark.parametrize(("new", "fault"), FAULTS, ids=[f"{n.name}-{f}" for n, f in FAULTS])
def test_fallback_from_the_new_provider_to_the_old_one_on_an_error(
    new: Newcomer, fault: str
) -> None:
    vendors = Vendors(new, new.failing(fault))
    config = strategy_config(new, ("new", "tencent"), "fallback")
    with Moderator(config, transport=vendors.transport()) as mod:
        verdicts = mod.check_many(new.texts)
    assert summary(verdicts) == tencent_rows()
    assert all(v.failed_over for v in verdicts)
    assert all(isinstance(v.errors[0], ProviderError) for v in verdicts)
    assert {e.provider for v in verdicts for e in v.errors} == {new.name}


def test_fallback_from_the_old_provider_to_the_new_one_on_an_error(new: Newcomer) -> None:
    vendors = Vendors(new, fault="http503")
    config = strategy_config(new, ("tencent", "new"), "fallback")
    with Moderator(config, transport=vendors.transport()) as mod:
        verdicts = mod.check_many(new.texts)
    assert summary(verdicts) == new.rows()
    assert all(isinstance(v.errors[0], ProviderUnavailable) for v in verdicts)


async def test_fallback_async_from_the_old_provider_to_the_new_one(new: Newcomer) -> None:
    vendors = Vendors(new, fault="http503")
    config = strategy_config(new, ("tencent", "new"), "fallback")
    async with AsyncModerator(config, transport=vendors.async_transport()) as mod:
        verdicts = [await mod.check(text) for text in new.texts]
    assert summary(verdicts) == new.rows()


async def test_fallback_async_when_both_fail_names_both(new: Newcomer) -> None:
    vendors = Vendors(new, new.failing(new.down), fault="http500")
    config = strategy_config(new, ("new", "tencent"), "fallback")
    async with AsyncModerator(config, transport=vendors.async_transport()) as mod:
        with pytest.raises(AllProvidersFailed) as caught:
            await mod.check("hello")
    assert [e.provider for e in caught.value.exceptions] == [new.name, "tencent"]


# -- strictest -------------------------------------------------------------------------


def test_strictest_asks_both_and_the_harshest_verdict_wins(new: Newcomer) -> None:
    vendors = Vendors(new)
    config = strategy_config(new, ("tencent", "new"), "strictest")
    with Moderator(config, transport=vendors.transport()) as mod:
        verdicts = mod.check_many(new.texts)
    assert summary(verdicts) == [
        ("tencent", Decision.PASS, Label.NORMAL),  # a tie goes to the earlier provider
        ("tencent", Decision.BLOCK, Label.ABUSE),  # a tie, or the harsher one
        (new.name, Decision.BLOCK, Label.VIOLENCE),  # only the new vendor saw it
        ("tencent", Decision.REVIEW, Label.AD),  # only the old vendor saw it
    ]
    assert vendors.new.requests
    assert vendors.tencent.requests


async def test_strictest_async_tolerates_one_failing_provider(new: Newcomer) -> None:
    vendors = Vendors(new, new.failing(new.down))
    config = strategy_config(new, ("new", "tencent"), "strictest")
    async with AsyncModerator(config, transport=vendors.async_transport()) as mod:
        verdict = await mod.check(new.texts[3])
    assert (verdict.provider, verdict.decision, verdict.label) == (
        "tencent",
        Decision.REVIEW,
        Label.AD,
    )
    assert [e.provider for e in verdict.errors] == [new.name]


# -- shadow ----------------------------------------------------------------------------


def test_shadow_the_old_provider_decides_and_the_new_one_is_compared(new: Newcomer) -> None:
    spy = Disagreements()
    manager = make_plugin_manager()
    register_plugin(manager, spy, name="disagreements")
    vendors = Vendors(new)
    config = strategy_config(new, ("tencent", "new"), "shadow")
    with Moderator(config, transport=vendors.transport(), plugin_manager=manager) as mod:
        verdicts = mod.check_many(new.texts)
    # close() waited for the background checks
    assert summary(verdicts) == tencent_rows()
    assert sorted(spy.seen) == sorted(new.disagreements())
    assert all(
        (decided, compared) == ("tencent", new.name)
        for decided, _, compared, _ in spy.seen.values()
    )
    threat = new.texts[2]
    assert spy.seen[threat] == ("tencent", Decision.PASS, new.name, Decision.BLOCK)
    sent = [text for request in vendors.new.requests for text in new.inputs(request)]
    assert sorted(sent) == sorted(new.texts)


async def test_shadow_async_the_new_provider_decides_and_the_old_one_is_compared(
    new: Newcomer,
) -> None:
    spy = Disagreements()
    manager = make_plugin_manager()
    register_plugin(manager, spy, name="disagreements")
    vendors = Vendors(new)
    config = strategy_config(new, ("new", "tencent"), "shadow")
    async with AsyncModerator(
        config, transport=vendors.async_transport(), plugin_manager=manager
    ) as mod:
        verdicts = [await mod.check(text) for text in new.texts]
    assert summary(verdicts) == new.rows()
    assert sorted(spy.seen) == sorted(new.disagreements())
    ad = new.texts[3]
    assert spy.seen[ad] == (new.name, Decision.PASS, "tencent", Decision.REVIEW)


# -- one type line -----------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["new", "tencent"])
def test_one_config_switches_vendor_by_its_type_line_and_credentials(
    new: Newcomer, vendor: str
) -> None:
    vendors = Vendors(new)
    provider_table: dict[str, Any] = new.table() if vendor == "new" else tencent_table()
    cfg = {"moderation": {"providers": ["main"]}, "providers": {"main": provider_table}}
    with Moderator(cfg, transport=vendors.transport()) as mod:
        verdicts = mod.check_many(new.texts)
    blocked = [t for t, v in zip(new.texts, verdicts, strict=True) if v.decision is Decision.BLOCK]
    assert blocked == (new.blocked() if vendor == "new" else [new.texts[1]])
    assert {v.provider for v in verdicts} == {"main"}
