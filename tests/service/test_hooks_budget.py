"""The budget: a vendor that hangs gets the hook's ``on_timeout`` answer to the
platform while the vendor still holds the check, and the late result is still
recorded. Ordering and answers are asserted, never elapsed time: the vendor answers
only when the test lets it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from moderation_core.service import create_app
from tests.service.helpers import running
from tests.service.hook_helpers import (
    BLOCKED,
    HANG,
    Vendor,
    easemob_platform,
    hook_config,
    metric,
    tencent_platform,
)


async def late_results(client: httpx.AsyncClient, hook: str, outcome: str) -> float:
    """The late-result counter once it moved (the late check finishes on its own)."""
    for _ in range(500):
        value = metric(
            (await client.get("/metrics")).text,
            "moderation_hook_late_results_total",
            hook=hook,
            outcome=outcome,
        )
        if value:
            return value
        await asyncio.sleep(0.01)
    return 0.0


@pytest.mark.parametrize(
    ("on_timeout", "outcome", "code"), [("allow", "delivered", 0), ("block", "rejected", 120005)]
)
async def test_a_hanging_vendor_gets_the_on_timeout_answer_and_its_late_result_is_counted(
    on_timeout: str, outcome: str, code: int
) -> None:
    vendor = Vendor()
    config = hook_config(tencent={"budget_ms": 50, "on_timeout": on_timeout, "reject_code": 120005})
    app = create_app(config, transport=vendor.transport)
    async with running(app) as client:
        delivery = await tencent_platform(app).asend_c2c("u1", "u2", f"{BLOCKED} {HANG}")
        # The platform has its answer while the vendor still holds the check.
        assert vendor.hung.is_set()
        assert not vendor.released.is_set()
        assert delivery.fallback is None  # the hook answered, before IM's own 2 s
        assert delivery.outcome == outcome
        assert delivery.answer is not None
        assert delivery.answer["ErrorCode"] == code
        assert "budget" in delivery.answer["ErrorInfo"] or code == 0
        vendor.release()
        # Not cancelled: the vendor's late BLOCK is recorded.
        assert await late_results(client, "tencent_chat", "BLOCK") == 1
        exposition = (await client.get("/metrics")).text
    cause = {"hook": "tencent_chat", "cause": "timeout"}
    answer = "deliver" if on_timeout == "allow" else "reject"
    assert metric(exposition, "moderation_hook_answers_total", answer=answer, **cause) == 1


async def test_easemob_gets_its_on_timeout_answer_while_the_vendor_hangs() -> None:
    vendor = Vendor()
    config = hook_config(huanxin={"budget_ms": 50, "on_timeout": "block"})
    app = create_app(config, transport=vendor.transport)
    async with running(app) as client:
        delivery = await easemob_platform(app).asend("chat", "u1", "u2", f"hi {HANG}")
        assert not vendor.released.is_set()
        assert delivery.fallback is None
        assert delivery.outcome == "rejected"
        assert delivery.answer is not None
        assert delivery.answer["valid"] is False
        vendor.release()
        assert await late_results(client, "huanxin", "ALLOW") == 1


def refusing_transport() -> httpx.MockTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    return httpx.MockTransport(refuse)


@pytest.mark.parametrize(("on_timeout", "outcome"), [("allow", "delivered"), ("block", "rejected")])
async def test_every_provider_failing_is_answered_per_on_timeout(
    on_timeout: str, outcome: str
) -> None:
    config = hook_config(tencent={"on_timeout": on_timeout}, huanxin={"on_timeout": on_timeout})
    app = create_app(config, transport=refusing_transport())
    async with running(app) as client:
        tencent = await tencent_platform(app).asend_c2c("u1", "u2", BLOCKED)
        easemob = await easemob_platform(app).asend("chat", "u1", "u2", BLOCKED)
        exposition = (await client.get("/metrics")).text
    assert tencent.outcome == outcome
    assert easemob.outcome == outcome
    assert tencent.fallback is None
    assert easemob.fallback is None
    for hook in ("tencent_chat", "huanxin"):
        answer = "deliver" if on_timeout == "allow" else "reject"
        assert (
            metric(
                exposition,
                "moderation_hook_answers_total",
                hook=hook,
                answer=answer,
                cause="failed",
            )
            == 1
        )


async def test_the_policy_on_failure_answers_before_on_timeout_does() -> None:
    # With [policy] on_failure the policy has an outcome for a dead vendor: REVIEW.
    config = hook_config(
        tencent={"on_timeout": "allow", "review": "discard"}, policy={"on_failure": "review"}
    )
    app = create_app(config, transport=refusing_transport())
    async with running(app):
        delivery = await tencent_platform(app).asend_c2c("u1", "u2", BLOCKED)
    assert delivery.outcome == "dropped"
    assert delivery.answer is not None
    assert delivery.answer["ErrorCode"] == 2
