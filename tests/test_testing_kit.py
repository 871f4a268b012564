"""moderation_core.testing: the conformance check passes every built-in provider, the
example plugin and the fake one, and fails providers that break the contract; the
emulator server, the clock and the recording transport do what they say."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from moderation_core import (
    CheckContext,
    Content,
    Decision,
    Flow,
    ItemResult,
    Label,
    Moderator,
    ProviderError,
    Verdict,
)
from moderation_core.testing import (
    Clock,
    ConformanceReport,
    RecordingTransport,
    assert_conforms,
    check_provider,
    serve,
)
from moderation_huanxin import emulator as huanxin_emulator
from moderation_tencent_chat import emulator as tencent_emulator
from tests.fakes import FakeProvider, FakeVendor

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "moderation_example"


@pytest.fixture(scope="module")
def example() -> Iterator[Any]:
    sys.path.insert(0, str(EXAMPLE))
    try:
        # Importable only once its folder is on the path (tests/test_plugins.py installs
        # it through entry points; these tests need only its module).
        yield importlib.import_module("moderation_example")
    finally:
        sys.path.remove(str(EXAMPLE))
        sys.modules.pop("moderation_example", None)


def outcomes(report: ConformanceReport) -> dict[str, str]:
    return {r.name: r.outcome for r in report.results}


def failed(report: ConformanceReport) -> str:
    return " | ".join(f"{r.name}: {r.detail}" for r in report.failures)


# -- every provider we ship passes -----------------------------------------------------


def test_local_conforms() -> None:
    report = assert_conforms({"type": "local"})
    assert "skipped" in outcomes(report)["credential refresh and answers to faults"]


def test_tencent_chat_conforms() -> None:
    table = {
        "type": "tencent_chat",
        "sdkappid": tencent_emulator.DEMO_SDKAPPID,
        "identifier": "admin",
        "secret_key": tencent_emulator.DEMO_SECRET_KEY,
        "base_url": "http://tencent-chat.test",
    }
    report = assert_conforms(table, item_error="[[item:90001]]")
    assert outcomes(report)["a per-item error is a ProviderError in its own place"] == "passed"


def test_huanxin_conforms_including_the_token_refresh() -> None:
    table = {
        "type": "huanxin",
        "base_url": "http://huanxin.test",
        "org_name": "demo-org",
        "app_name": "demo-app",
        "client_id": huanxin_emulator.DEFAULT_CLIENT_ID,
        "client_secret": huanxin_emulator.DEFAULT_CLIENT_SECRET,
    }
    report = assert_conforms(table, item_error="[[fault:not_open]]")
    refresh = "a refused credential is fetched again once; refused twice is an AuthError"
    assert outcomes(report)[refresh] == "passed"


def test_the_example_plugin_conforms(example: Any) -> None:
    report = check_provider(
        {"type": "acme", "api_key": "demo-key"}, provider_class=example.AcmeProvider
    )
    assert report.ok, str(report)
    assert report.provider_type == "acme"


def test_the_fake_provider_conforms_with_its_token_and_item_errors() -> None:
    report = check_provider(
        {"type": "fake", "use_token": True, "batch_size": 4},
        provider_class=FakeProvider,
        emulator=lambda: FakeVendor(check_tokens=True),
        samples=["fine", "block this", "review this"],
        item_error="item-fail",
    )
    assert report.ok, str(report)
    assert "skipped" not in outcomes(report).values()


# -- and it catches providers that break the contract -----------------------------------


def acme(example: Any, **methods: Any) -> type[Any]:
    """The example provider with some methods replaced, under a type of its own."""
    name = f"acme_{'_'.join(methods)}"
    attributes: dict[str, Any] = {"provider_type": name, **methods}
    return type(name, (example.AcmeProvider,), attributes)


def check(provider_class: type[Any], **options: Any) -> ConformanceReport:
    table = {"type": provider_class.provider_type, "api_key": "demo-key"}
    return check_provider(table, provider_class=provider_class, **options)


def test_a_provider_that_fails_open_is_caught(example: Any) -> None:
    original = example.AcmeProvider.flow

    def flow(self: Any, contents: Sequence[Content], context: CheckContext) -> Flow:
        try:
            results: list[ItemResult] = yield from original(self, contents, context)
            return results
        except (ProviderError, KeyError, TypeError, ValueError):
            return [Verdict(decision=Decision.PASS) for _ in contents]

    report = check(acme(example, flow=flow))
    assert not report.ok
    assert "fails open" in failed(report)
    assert outcomes(report)["HTTP 503 is a ProviderUnavailable, never a verdict"] == "failed"


def test_a_provider_that_answers_out_of_order_is_caught(example: Any) -> None:
    original = example.AcmeProvider.flow

    def flow(self: Any, contents: Sequence[Content], context: CheckContext) -> Flow:
        results: list[ItemResult] = yield from original(self, contents, context)
        return results[::-1]

    report = check(acme(example, flow=flow))
    assert outcomes(report)["a batch answers each content in place, as it would alone"] == "failed"


def test_a_provider_that_puts_its_key_in_an_error_is_caught(example: Any) -> None:
    original = example.AcmeProvider.flow

    def flow(self: Any, contents: Sequence[Content], context: CheckContext) -> Flow:
        try:
            results: list[ItemResult] = yield from original(self, contents, context)
            return results
        except ProviderError as exc:
            raise ProviderError(f"{exc} with key {self.config.api_key.get()}") from None

    report = check(acme(example, flow=flow))
    secrets = outcomes(report)["no secret in a repr, a log line or an exception"]
    assert secrets == "failed"
    assert "demo-key" not in str(report)  # the report itself masks it


def test_a_provider_whose_capabilities_lie_is_caught(example: Any) -> None:
    from moderation_core import Capabilities, ContentType  # noqa: PLC0415

    image = frozenset({ContentType.IMAGE})
    caps = Capabilities(content_types=frozenset(ContentType), deferred_types=image)
    report = check(acme(example, capabilities=property(lambda _self: caps)))
    content_types = "every declared content type gets a verdict; deferred ones are PENDING"
    assert outcomes(report)[content_types] == "failed"


def test_samples_judged_alike_fail_the_order_check_instead_of_passing_it(example: Any) -> None:
    report = check(example.AcmeProvider, samples=["hello", "good day"])
    assert "pass samples=" in failed(report)


def test_an_http_provider_without_an_emulator_fails(example: Any) -> None:
    report = check(acme(example, emulator_factory=None))
    assert not report.ok
    assert "emulator" in failed(report)


def test_the_check_runs_inside_a_running_event_loop(example: Any) -> None:
    async def inside() -> ConformanceReport:
        return check(example.AcmeProvider)

    assert asyncio.run(inside()).ok


# -- the tools -------------------------------------------------------------------------


def test_serve_answers_over_real_http(example: Any) -> None:
    with serve(example.make_emulator()) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        config = {"type": "acme", "api_key": "demo-key", "base_url": base_url}
        table = {"moderation": {"providers": ["acme"]}, "providers": {"acme": config}}
        pm = _acme_plugins(example)
        with Moderator(table, plugin_manager=pm) as mod:
            verdict = mod.check("you idiot")
    assert (verdict.decision, verdict.label, verdict.provider) == (
        Decision.BLOCK,
        Label.ABUSE,
        "acme",
    )


def _acme_plugins(example: Any) -> Any:
    from moderation_core import make_plugin_manager, register_plugin  # noqa: PLC0415

    pm = make_plugin_manager(load_entrypoints=False)
    register_plugin(pm, example)
    return pm


def test_the_recording_transport_keeps_each_exchange_sync_and_async() -> None:
    vendor = FakeVendor()
    recording = RecordingTransport(vendor)
    request = httpx.Request("POST", "http://fake.test/check", json={"items": ["block me"]})
    response = recording.handle_request(request)

    async def send_async() -> httpx.Response:
        again = httpx.Request("POST", "http://fake.test/check", json={"items": ["fine"]})
        return await recording.handle_async_request(again)

    async_response = asyncio.run(send_async())
    assert [e.response for e in recording.exchanges] == [response, async_response]
    assert recording.paths() == ["/check", "/check"]
    first = recording.exchanges[0]
    assert first.response is not None
    assert first.response.json()["results"][0]["decision"] == "BLOCK"
    assert first.request.content == request.content
    recording.clear()
    assert recording.exchanges == []


def test_the_recording_transport_keeps_a_request_whose_transport_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    recording = RecordingTransport(refuse)
    with pytest.raises(httpx.ConnectError):
        recording.handle_request(httpx.Request("GET", "http://x.test/a"))
    (exchange,) = recording.exchanges
    assert (exchange.request.url.path, exchange.response) == ("/a", None)


def test_the_recording_transport_wraps_a_transport_and_refuses_the_wrong_mode() -> None:
    class AsyncOnly(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(204)

    recording = RecordingTransport(AsyncOnly())
    with pytest.raises(TypeError, match="async transport"):
        recording.handle_request(httpx.Request("GET", "http://x.test/"))


def test_the_clock_moves_only_when_told() -> None:
    clock = Clock()
    start = clock()
    clock.advance(2.5)
    assert clock() == start + 2.5
    clock.now = 10.0
    assert clock() == 10.0
