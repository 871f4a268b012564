"""``AsyncModerator._evaluations``, what ``moderation worker`` evaluates one fetch
with: the outcomes and errors each message's own ``evaluate`` gives, in order, with the
vendor checks of one context sent together (one route, full vendor batches)."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from typing import Any

import attrs
import httpx
import pluggy
import redis

from moderation_core import (
    Action,
    AllProvidersFailed,
    AsyncModerator,
    Content,
    InvalidContent,
    Outcome,
)
from tests.fakes import FakeVendor


@attrs.frozen
class Message:
    contents: list[str | Content]
    scene: str | None = None
    sender: str | None = None
    receiver: str | None = None


def config(batch_size: int = 10, **moderation: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": ["fake"], "batch_window": 0, **moderation},
        "providers": {
            "fake": {
                "type": "fake",
                "base_url": "http://vendor.fake",
                "batch_size": batch_size,
                "types": ["text"],
            }
        },
        "policy": {"mute": {"after": 1, "within": "1h", "for": "1h"}},
    }


def moderator(
    pm: pluggy.PluginManager, vendor: FakeVendor, batch_size: int = 10, **moderation: Any
) -> AsyncModerator:
    return AsyncModerator(
        config(batch_size, **moderation),
        plugin_manager=pm,
        transport=httpx.MockTransport(vendor),
    )


async def one_by_one(
    pm: pluggy.PluginManager, messages: list[Message], **moderation: Any
) -> list[Outcome | Exception]:
    """Each message's own evaluate, on a moderator of its own."""
    answers: list[Outcome | Exception] = []
    async with moderator(pm, FakeVendor(), **moderation) as mod:
        for m in messages:
            try:
                answers.append(
                    await mod.evaluate(
                        m.contents, scene=m.scene, sender=m.sender, receiver=m.receiver
                    )
                )
            except Exception as exc:
                answers.append(exc)
    return answers


def shown(answer: Outcome | Exception) -> Any:
    if isinstance(answer, Outcome):
        return answer.to_dict()
    return (type(answer).__name__, str(answer))


async def test_outcomes_equal_evaluate_with_one_request_per_context_batch(
    plugin_manager: pluggy.PluginManager,
) -> None:
    messages = [
        Message([f"hello {n}" if n % 7 else f"block {n}"], scene="Group" if n % 2 else "C2C")
        for n in range(25)
    ]
    messages.append(Message(["review this", Content.text("and this", id="x")], scene="Group"))
    vendor = FakeVendor()
    async with moderator(plugin_manager, vendor) as mod:
        answers = await mod._evaluations(messages)

    assert [shown(a) for a in answers] == [
        shown(a) for a in await one_by_one(plugin_manager, messages)
    ]
    # 14 contents of Group and 13 of C2C: full batches of 10, never a request per message.
    assert sorted(len(body["items"]) for body in vendor.checks) == [3, 4, 10, 10]
    for body in vendor.checks:
        scenes = {m.scene for m in messages if any(c in body["items"] for c in m.contents)}
        assert scenes == {body["scene"]}  # one context per request
    assert len(vendor.checks) == math.ceil(14 / 10) + math.ceil(13 / 10)


async def test_each_error_is_its_own_message(plugin_manager: pluggy.PluginManager) -> None:
    messages = [
        Message(["fine"]),
        Message([]),  # nothing to evaluate
        Message(["fine", Content.image("https://example.com/a.png")]),  # no provider takes it
        Message([""]),  # an empty text
        Message(["fine"], scene="bad\ud800"),  # a scene that is not valid Unicode
        Message(["also fine"]),
    ]
    async with moderator(plugin_manager, FakeVendor()) as mod:
        answers = await mod._evaluations(messages)

    expected = await one_by_one(plugin_manager, messages)
    assert [shown(a) for a in answers] == [shown(a) for a in expected]
    assert [type(a) for a in answers] == [
        Outcome,
        InvalidContent,
        InvalidContent,
        InvalidContent,
        InvalidContent,
        Outcome,
    ]
    assert str(answers[2]).startswith("item 1: ")  # its index in its own message


async def test_every_provider_failing_fails_each_message_alone(
    plugin_manager: pluggy.PluginManager,
) -> None:
    messages = [Message(["one"]), Message(["two"]), Message(["three"], sender="u1")]
    async with moderator(plugin_manager, FakeVendor(fail=True), fail_mode="raise") as mod:
        answers = await mod._evaluations(messages)
    assert [type(a) for a in answers] == [AllProvidersFailed] * 3


async def test_mutes_and_blocks_apply_per_sender(plugin_manager: pluggy.PluginManager) -> None:
    vendor = FakeVendor()
    async with moderator(plugin_manager, vendor) as mod:
        first = await mod._evaluations([Message(["a block"], sender="u1"), Message(["hi"])])
        sent = len(vendor.checks)
        second = await mod._evaluations(
            [Message(["hello"], sender="u1"), Message(["hello"], sender="u2")]
        )
    assert [a.action for a in first if isinstance(a, Outcome)] == [Action.BLOCK, Action.ALLOW]
    muted, other = second
    assert isinstance(muted, Outcome)
    assert isinstance(other, Outcome)
    assert muted.action is Action.BLOCK
    assert muted.verdict is None  # no provider was asked for the muted sender
    assert other.action is Action.ALLOW
    assert [body["items"] for body in vendor.checks[sent:]] == [["hello"]]


async def test_shared_state_is_asked_for_a_batch_at_once_and_seen_by_another_worker(
    plugin_manager: pluggy.PluginManager, redis_url: str
) -> None:
    prefix = f"test-evaluate-many-{secrets.token_hex(4)}"
    shared = config(redis_url=redis_url)
    shared["policy"]["redis_prefix"] = prefix
    vendor = FakeVendor()
    transport = httpx.MockTransport(vendor)
    try:
        async with (
            AsyncModerator(shared, plugin_manager=plugin_manager, transport=transport) as one,
            AsyncModerator(shared, plugin_manager=plugin_manager, transport=transport) as two,
        ):
            first = await one._evaluations(
                [Message(["a block"], sender="u1"), Message(["fine"], sender="u2")]
            )
            second = await two._evaluations(
                [Message(["hello"], sender="u1"), Message(["hello"], sender="u2")]
            )
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    assert [a.action for a in first if isinstance(a, Outcome)] == [Action.BLOCK, Action.ALLOW]
    muted, other = second
    assert isinstance(muted, Outcome)
    assert isinstance(other, Outcome)
    assert muted.action is Action.BLOCK  # the mute the first moderator set, read from Redis
    assert muted.reason.startswith("sender u1 is muted")
    assert other.action is Action.ALLOW


async def test_messages_of_different_senders_are_checked_side_by_side(
    plugin_manager: pluggy.PluginManager,
) -> None:
    # Each sender's message is a request of its own (one context per request): the vendor
    # answers none of them until all three are in, so checks one after another would time
    # out instead.
    arrived: list[str] = []
    all_in = asyncio.Event()

    async def vendor(request: httpx.Request) -> httpx.Response:
        arrived.append(request.content.decode())
        if len(arrived) == 3:
            all_in.set()
        try:
            await asyncio.wait_for(all_in.wait(), 5)
        except TimeoutError:
            return httpx.Response(503, text="checked one after another")
        items = json.loads(request.content)["items"]
        return httpx.Response(
            200, json={"results": [{"decision": "PASS", "label": "NORMAL"} for _ in items]}
        )

    messages = [Message([f"hello {n}"], sender=f"u{n}") for n in range(3)]
    async with AsyncModerator(
        config(), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        answers = await mod._evaluations(messages)
    assert [a.action for a in answers if isinstance(a, Outcome)] == [Action.ALLOW] * 3
    assert len(arrived) == 3
