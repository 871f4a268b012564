"""The whole path: config dict -> Moderator -> HTTP -> emulator, in-process and over
real HTTP on 127.0.0.1, sync and async; a pending audio check answered by webhook."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from moderation_core import (
    AsyncModerator,
    AuthError,
    CheckContext,
    Content,
    Decision,
    Label,
    Moderator,
    RateLimited,
    Verdict,
)
from moderation_core._serve import serving
from moderation_core.testing import Clock
from tests import fake_secrets as secrets
from tests.support.providers import failure

from .helpers import config, emulator, provider

MIXED: list[Content | str] = [
    "今天天气不错",
    "你这个傻逼",
    Content.image("https://cdn.example.com/bikini_1.jpg", id="img-1"),
    "加我微信 abc",
]


def _assert_mixed(verdicts: Sequence[Verdict]) -> None:
    clean, abuse, sexy, ad = verdicts
    assert clean.decision is Decision.PASS
    assert (abuse.decision, abuse.label, abuse.masked_text) == (
        Decision.BLOCK,
        Label.ABUSE,
        "你这个**",
    )
    assert (sexy.decision, sexy.label, sexy.content_id) == (
        Decision.REVIEW,
        Label.SEXY,
        "img-1",
    )
    assert (ad.label, ad.masked_text) == (Label.AD, "**** abc")


def test_end_to_end_through_mock_transport() -> None:
    emu = emulator()
    with Moderator.from_config(config(), transport=httpx.MockTransport(emu)) as mod:
        _assert_mixed(mod.check_many(MIXED, scene="Group", sender="u1", receiver="g1"))
        assert mod.check("abc", scene="C2C").request_id == "91fa78f3-18c8-4b20-9c56-5845df18f634"
    assert emu.requests == 2  # one batch, one single


async def test_async_end_to_end_through_mock_transport() -> None:
    emu = emulator()
    async with AsyncModerator.from_config(config(), transport=httpx.MockTransport(emu)) as mod:
        _assert_mixed(await mod.check_many(MIXED, scene="Group"))


def test_end_to_end_over_real_http() -> None:
    emu = emulator()
    with serving(emu) as server, Moderator.from_config(config(base_url=server.url)) as mod:
        _assert_mixed(mod.check_many(MIXED))
        verdict = mod.check(Content.audio("https://cdn.example.com/gun.mp3", id="a1"))
    assert verdict.decision is Decision.PENDING
    assert emu.pending == (verdict.request_id,)


async def test_async_end_to_end_over_real_http() -> None:
    emu = emulator()
    with serving(emu) as server:
        async with AsyncModerator.from_config(config(base_url=server.url)) as mod:
            verdicts = await asyncio.gather(*(mod.check(f"hello {i}") for i in range(20)))
            batch = await mod.check_many(MIXED)
    assert all(v.decision is Decision.PASS for v in verdicts)
    _assert_mixed(batch)


def test_pending_audio_is_answered_by_a_signed_webhook() -> None:
    clock = Clock()
    emu = emulator(clock=clock, webhook_token=secrets.TENCENT_WEBHOOK_TOKEN)
    cfg = config(webhook_token=secrets.TENCENT_WEBHOOK_TOKEN)
    with Moderator.from_config(cfg, transport=httpx.MockTransport(emu)) as mod:
        pending = mod.check(
            Content.video("https://cdn.example.com/weapon.mp4"), sender="u1", receiver="u2"
        )
        (prov,) = mod.providers
    query, body = emu.result_notify(pending.request_id or "")
    event = provider(clock, webhook_token=secrets.TENCENT_WEBHOOK_TOKEN).parse_webhook(query, body)
    assert event.request_id == pending.request_id
    assert event.answers_pending
    assert (event.sender, event.receiver) == ("u1", "u2")
    assert (event.verdict.decision, event.verdict.label) == (Decision.BLOCK, Label.VIOLENCE)
    assert prov.name == "tencent"


def test_usersig_revoked_by_the_service_is_replaced_once() -> None:
    clock = Clock()
    emu = emulator(clock=clock, revoked_before=clock.now + 1)
    prov = provider(clock)
    prov._usersig.get()  # a sig made before the revocation
    clock.advance(10)
    handler = httpx.MockTransport(emu)
    with httpx.Client(transport=handler) as client:
        flow = prov.flow([Content.text("hello")], CheckContext())
        request = next(flow)
        try:
            while True:
                request = flow.send(client.send(request))
        except StopIteration as done:
            (verdict,) = done.value
    assert verdict.decision is Decision.PASS
    assert emu.requests == 2


def test_wrong_key_is_an_auth_error_and_rate_limit_is_rate_limited() -> None:
    emu = emulator(secret_key="a-different-key", rate_limit=None)
    with Moderator.from_config(config(), transport=httpx.MockTransport(emu)) as mod:
        error = failure(mod)
    assert isinstance(error, AuthError)
    assert error.code == 70003
    emu = emulator(rate_limit=1, clock=Clock())
    with Moderator.from_config(config(), transport=httpx.MockTransport(emu)) as mod:
        mod.check("one")
        error = failure(mod, "two")
    assert isinstance(error, RateLimited)
    assert error.code == 60007
