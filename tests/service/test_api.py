"""/v1/check, /v1/evaluate, the probes, metrics, request ids, keys and limits, driven
in process through httpx's ASGI transport (SERVICE.md is the contract)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from moderation_core import ConfigError, make_plugin_manager
from moderation_core.service import create_app
from moderation_core.testing import Clock
from moderation_tencent_chat.emulator import make_emulator
from tests import fake_secrets as secrets
from tests.service.helpers import LOCAL_ONLY, running, serving_app

SPAM = "加我微信 abc123456"
KEY = "test-api-key-0123456789"
TENCENT = {
    "type": "tencent_chat",
    "sdkappid": 1400000000,
    "identifier": "admin",
    "secret_key": secrets.TENCENT_SECRET_KEY,
    "base_url": "http://tencent-chat.test",
}


def tencent_config(**moderation: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": ["tencent"], **moderation},
        "providers": {"tencent": TENCENT},
    }


def tencent_transport() -> httpx.MockTransport:
    return httpx.MockTransport(
        make_emulator(
            sdkappid=1400000000, identifier="admin", secret_key=secrets.TENCENT_SECRET_KEY
        )
    )


def failing_transport() -> httpx.MockTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    return httpx.MockTransport(refuse)


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:moderation-core:problem:{slug}"
    assert body["status"] == status
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# -- /v1/check and /v1/evaluate ---------------------------------------------------------


async def test_check_answers_one_result_per_item_in_order() -> None:
    items = [
        "hello",
        SPAM,
        "",
        {"type": "image", "value": "ftp://nowhere"},
        {"type": "text", "value": "你好", "id": 7},
    ]
    async with serving_app() as client:
        response = await client.post("/v1/check", json={"contents": items, "scene": "Group"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [next(iter(r)) for r in results] == ["verdict", "verdict", "error", "error", "verdict"]
    assert results[0]["verdict"]["decision"] == "PASS"
    assert results[1]["verdict"]["label"] == "AD"
    assert results[1]["verdict"]["masked_text"].startswith("加我")
    assert results[2]["error"] == {
        "type": "InvalidContent",
        "message": "item 2: text is empty or whitespace only; there is nothing to check",
        "retryable": False,
    }
    assert results[3]["error"]["type"] == "InvalidContent"
    assert results[4]["verdict"]["content_id"] == 7


async def test_a_check_no_provider_answers_is_a_retryable_item_error() -> None:
    async with serving_app(tencent_config(), transport=failing_transport()) as client:
        response = await client.post("/v1/check", json={"contents": ["hello"]})
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["error"]["type"] == "AllProvidersFailed"
    assert result["error"]["retryable"] is True


async def test_evaluate_answers_the_outcome() -> None:
    async with serving_app() as client:
        response = await client.post(
            "/v1/evaluate", json={"contents": [SPAM], "scene": "C2C", "sender": "u1"}
        )
    assert response.status_code == 200
    outcome = response.json()
    assert outcome["action"] == "REVIEW"
    assert outcome["text"] == SPAM
    assert outcome["verdict"]["label"] == "AD"
    assert isinstance(outcome["reason"], str)


async def test_evaluate_of_an_invalid_content_is_422() -> None:
    async with serving_app() as client:
        response = await client.post("/v1/evaluate", json={"contents": ["ok", "   "]})
    assert "item 1" in problem(response, 422, "invalid-content")["detail"]


async def test_evaluate_when_every_provider_failed_is_503_with_retry_after() -> None:
    async with serving_app(tencent_config(), transport=failing_transport()) as client:
        response = await client.post("/v1/evaluate", json={"contents": ["hello"]})
    body = problem(response, 503, "providers-failed")
    assert "tencent" in body["detail"]
    assert int(response.headers["retry-after"]) >= 1


async def test_tencent_behind_the_service_answers_its_verdicts() -> None:
    async with serving_app(tencent_config(), transport=tencent_transport()) as client:
        response = await client.post("/v1/check", json={"contents": ["hello", "bomb"]})
    results = response.json()["results"]
    assert [r["verdict"]["decision"] for r in results] == ["PASS", "BLOCK"]
    assert results[1]["verdict"]["provider"] == "tencent"
    assert results[1]["verdict"]["label"] == "VIOLENCE"


# -- request ids ---------------------------------------------------------------------


async def test_every_answer_carries_a_request_id_and_keeps_a_sane_incoming_one() -> None:
    async with serving_app() as client:
        fresh = await client.get("/healthz")
        kept = await client.get("/healthz", headers={"x-request-id": "lb-1234.abc"})
        replaced = await client.get("/healthz", headers={"x-request-id": "bad id\twith\nstuff"})
        missing = await client.get("/no/such/page")
    assert len(fresh.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "lb-1234.abc"
    assert replaced.headers["x-request-id"] != "bad id\twith\nstuff"
    assert problem(missing, 404, "not-found")


async def test_a_too_long_request_id_is_replaced() -> None:
    async with serving_app() as client:
        response = await client.get("/healthz", headers={"x-request-id": "a" * 500})
    assert len(response.headers["x-request-id"]) == 32


# -- API keys --------------------------------------------------------------------------


def keyed(**serve: Any) -> dict[str, Any]:
    return {**LOCAL_ONLY, "serve": {"api_keys": ["another-key-98765", KEY], **serve}}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong-key"},
        {"authorization": f"Basic {KEY}"},
        {"authorization": "Bearer "},
        {"authorization": f"Bearer {KEY}x"},
    ],
)
async def test_v1_needs_a_valid_bearer_key(headers: dict[str, str]) -> None:
    async with serving_app(keyed()) as client:
        response = await client.post("/v1/check", json={"contents": ["hi"]}, headers=headers)
    problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert KEY not in response.text


async def test_a_valid_key_is_let_in_and_probes_need_none() -> None:
    async with serving_app(keyed()) as client:
        ok = await client.post(
            "/v1/check", json={"contents": ["hi"]}, headers={"authorization": f"Bearer {KEY}"}
        )
        probes = [await client.get(p) for p in ("/healthz", "/readyz", "/metrics", "/openapi.json")]
    assert ok.status_code == 200
    assert [p.status_code for p in probes] == [200, 200, 200, 200]


async def test_hooks_are_exempt_from_api_keys() -> None:
    async with serving_app(keyed()) as client:
        response = await client.post("/v1/hooks/no_such_platform", content=b"{}")
    assert response.status_code != 401


async def test_without_keys_v1_answers_only_on_a_loopback_address() -> None:
    app = create_app(LOCAL_ONLY)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://10.1.2.3:8080") as client,
    ):
        refused = await client.post("/v1/check", json={"contents": ["hi"]})
        health = await client.get("/healthz")
    assert "loopback" in problem(refused, 401, "unauthorized")["detail"]
    assert health.status_code == 200


# -- limits --------------------------------------------------------------------------


async def test_a_body_over_max_body_bytes_is_413_before_it_is_read() -> None:
    async with serving_app(keyed(max_body_bytes=1000)) as client:
        response = await client.post(
            "/v1/check",
            content=json.dumps({"contents": ["x" * 2000]}),
            headers={"authorization": f"Bearer {KEY}"},
        )
    problem(response, 413, "body-too-large")


async def test_a_streamed_body_is_cut_off_at_max_body_bytes() -> None:
    chunks_read = 0

    async def endless() -> Any:
        nonlocal chunks_read
        while chunks_read < 10_000:  # far past the limit if nothing stops it
            chunks_read += 1
            yield b" " * 1000

    async with serving_app(keyed(max_body_bytes=10_000)) as client:
        response = await client.post(
            "/v1/check", content=endless(), headers={"authorization": f"Bearer {KEY}"}
        )
    problem(response, 413, "body-too-large")
    assert chunks_read < 100


async def test_more_than_max_contents_is_400() -> None:
    async with serving_app(keyed(max_contents=3)) as client:
        response = await client.post(
            "/v1/check", json={"contents": ["a"] * 4}, headers={"authorization": f"Bearer {KEY}"}
        )
    assert "at most 3" in problem(response, 400, "too-many-contents")["detail"]


# -- bad requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "slug", "words"),
    [
        (b"{", "invalid-json", "line 1"),
        (b"\xff\xfe{}", "invalid-json", "UTF-8"),
        (b'{"contents": ["\xe4\xbd"]}', "invalid-json", "UTF-8"),
        (b"NaN", "invalid-json", "NaN"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid-json", "deep"),
        (b"1" * 5000, "invalid-json", "digits"),
        (b"", "invalid-json", ""),
        (b"[]", "invalid-request", "object"),
        (b"{}", "invalid-request", "contents is required"),
        (b'{"contents": "hi"}', "invalid-request", "list"),
        (b'{"contents": []}', "invalid-request", "empty"),
        (b'{"contents": [1]}', "invalid-request", "contents[0]"),
        (b'{"contents": [null]}', "invalid-request", "contents[0]"),
        (b'{"contents": ["a"], "extra": 1}', "invalid-request", "extra"),
        (b'{"contents": [{"type": "text", "value": "a", "x": 1}]}', "invalid-request", "x"),
        (b'{"contents": [{"type": "pdf", "value": "a"}]}', "invalid-request", "type"),
        (b'{"contents": [{"type": "text"}]}', "invalid-request", "value"),
        (b'{"contents": [{"type": "text", "value": "a", "id": true}]}', "invalid-request", "id"),
        (b'{"contents": [{"type": "text", "value": "a", "id": 1.5}]}', "invalid-request", "id"),
        (b'{"contents": ["a"], "scene": 5}', "invalid-request", "scene"),
        (b'{"contents": ["a"], "sender": "\\ud800"}', "invalid-request", "sender"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/check", "/v1/evaluate"])
async def test_a_bad_request_is_a_problem_never_a_500(
    path: str, body: bytes, slug: str, words: str
) -> None:
    async with serving_app() as client:
        response = await client.post(path, content=body)
    assert words in problem(response, 400, slug)["detail"]


async def test_a_lone_surrogate_in_a_content_is_that_items_error() -> None:
    async with serving_app() as client:
        response = await client.post("/v1/check", content=b'{"contents": ["\\udc80", "ok"]}')
    results = response.json()["results"]
    assert results[0]["error"]["type"] == "InvalidContent"
    assert results[1]["verdict"]["decision"] == "PASS"


async def test_a_wrong_method_is_405() -> None:
    async with serving_app() as client:
        response = await client.get("/v1/check")
    problem(response, 405, "method-not-allowed")


async def test_an_unexpected_crash_is_a_500_problem_without_its_message(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(LOCAL_ONLY)

    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret-ish detail 加我微信")

    monkeypatch.setattr(app.state.service.moderator, "check_many", explode)
    async with running(app) as client:
        response = await client.post("/v1/check", json={"contents": ["hello"]})
    body = problem(response, 500, "internal-error")
    assert "secret-ish" not in response.text
    assert body["request_id"] in body["detail"]
    assert "secret-ish" not in caplog.text
    assert "RuntimeError" in caplog.text


# -- probes ----------------------------------------------------------------------------


async def test_healthz() -> None:
    async with serving_app() as client:
        response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_readyz_probes_http_providers() -> None:
    async with serving_app(tencent_config(), transport=tencent_transport()) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"provider:tencent": None}}


async def test_readyz_names_an_unreachable_provider() -> None:
    async with serving_app(tencent_config(), transport=failing_transport()) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["provider:tencent"] == "unreachable (ConnectError)"


async def test_readyz_names_a_redis_that_does_not_answer() -> None:
    config = {**LOCAL_ONLY, "moderation": {"redis_url": "redis://127.0.0.1:1/0"}}
    async with serving_app(config) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("no answer to PING")


async def test_readyz_pings_redis(redis_url: str) -> None:
    config = {**LOCAL_ONLY, "moderation": {"redis_url": redis_url}}
    async with serving_app(config) as client:
        response = await client.get("/readyz")
    assert response.json() == {"status": "ready", "checks": {"redis": None}}


async def test_readyz_reuses_an_answer_for_its_ttl() -> None:
    calls = 0

    def count(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404)

    clock = Clock(100.0)
    app = create_app(tencent_config(), transport=httpx.MockTransport(count))
    app.state.service.readiness.clock = clock
    async with running(app) as client:
        for _ in range(3):
            assert (await client.get("/readyz")).status_code == 200
        clock.advance(60)
        await client.get("/readyz")
    assert calls == 2


# -- metrics and logs ------------------------------------------------------------------


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    line = f"{name}{{{wanted}}} " if labels else f"{name} "
    for row in text.splitlines():
        if row.startswith(line):
            return float(row[len(line) :])
    return 0.0


async def test_metrics_count_requests_checks_and_failures() -> None:
    async with serving_app() as client:
        await client.post("/v1/check", json={"contents": ["hello", SPAM, "hi"]})
        await client.post("/v1/check", content=b"{")
        text = (await client.get("/metrics")).text
    assert metric(text, "moderation_http_requests_total", endpoint="/v1/check", status="200") == 1
    assert metric(text, "moderation_http_requests_total", endpoint="/v1/check", status="400") == 1
    assert metric(text, "moderation_checks_total", decision="PASS", provider="local") == 2
    assert metric(text, "moderation_checks_total", decision="REVIEW", provider="local") == 1
    count = metric(text, "moderation_http_request_duration_seconds_count", endpoint="/v1/check")
    assert count == 2


async def test_metrics_count_provider_failures() -> None:
    async with serving_app(tencent_config(), transport=failing_transport()) as client:
        await client.post("/v1/check", json={"contents": ["hello"]})
        text = (await client.get("/metrics")).text
    failures = metric(
        text, "moderation_provider_failures_total", provider="tencent", error="ProviderUnavailable"
    )
    assert failures == 1


async def test_metrics_follow_the_shared_state_hook() -> None:
    pm = make_plugin_manager()
    async with serving_app(LOCAL_ONLY, plugin_manager=pm) as client:
        pm.hook.shared_state_changed(healthy=False, reason="redis down")
        down = (await client.get("/metrics")).text
        pm.hook.shared_state_changed(healthy=True, reason="redis back")
        up = (await client.get("/metrics")).text
    assert metric(down, "moderation_shared_state_healthy") == 0
    assert metric(down, "moderation_shared_state_outages_total") == 1
    assert metric(up, "moderation_shared_state_healthy") == 1


async def test_the_access_log_is_one_json_line_without_text_keys_or_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="moderation_core.service.access")
    async with serving_app(keyed()) as client:
        await client.post(
            "/v1/check?Sign=abcdef0123456789",
            json={"contents": [SPAM]},
            headers={"authorization": f"Bearer {KEY}", "x-request-id": "req-1"},
        )
    (record,) = [r for r in caplog.records if r.name == "moderation_core.service.access"]
    line = json.loads(record.getMessage())
    assert line["request_id"] == "req-1"
    assert line["path"] == "/v1/check"
    assert line["status"] == 200
    assert line["method"] == "POST"
    for leaked in (SPAM, "微信", KEY, "abcdef0123456789"):
        assert leaked not in caplog.text


# -- config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serve", "words"),
    [
        ({"api_key": ["x"]}, "unknown key(s) api_key"),
        ({"api_keys": "x"}, "api_keys must be a list of strings"),
        ({"api_keys": [""]}, "api_keys must hold non-empty strings"),
        ({"max_body_bytes": 0}, "max_body_bytes must be more than 0"),
        ({"max_contents": "100"}, "max_contents must be a whole number"),
        ({"hooks": {"tencent_chat": 1}}, "hooks must be a table of hook tables"),
    ],
)
def test_a_bad_serve_table_is_a_config_error_naming_the_key(
    serve: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError, match=r"\[serve\]") as caught:
        create_app({**LOCAL_ONLY, "serve": serve})
    assert words in str(caught.value)


def test_a_key_never_shows_in_a_config_repr_or_error() -> None:
    app = create_app({**LOCAL_ONLY, "serve": {"api_keys": [KEY]}})
    assert KEY not in repr(app.state.service.config)
    assert KEY not in repr(app.state.service.settings)
    with pytest.raises(ConfigError) as caught:
        create_app({**LOCAL_ONLY, "serve": {"api_keys": [KEY, "with space"]}})
    assert KEY not in str(caught.value)
    assert "with space" not in str(caught.value)


def test_serve_refuses_a_public_host_without_keys() -> None:
    from moderation_core._config import load_config  # noqa: PLC0415
    from moderation_core.service._run import check_bind  # noqa: PLC0415

    check_bind(load_config(LOCAL_ONLY), "127.0.0.1")
    check_bind(load_config(LOCAL_ONLY), "::1")
    check_bind(load_config(keyed()), "0.0.0.0")  # noqa: S104 - the point of the test
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):  # noqa: S104
        with pytest.raises(ConfigError, match=r"api_keys is empty.*not a loopback"):
            check_bind(load_config(LOCAL_ONLY), host)


async def test_a_mounted_app_still_asks_for_its_key() -> None:
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.routing import Mount  # noqa: PLC0415

    inner = create_app(keyed())
    outer = Starlette(routes=[Mount("/moderation", app=inner)])
    async with running(outer) as client, inner.router.lifespan_context(inner):
        refused = await client.post("/moderation/v1/check", json={"contents": ["hi"]})
        hidden = await client.get("/moderation/v1/anything-else")
        health = await client.get("/moderation/healthz")
        allowed = await client.post(
            "/moderation/v1/check",
            json={"contents": ["hi"]},
            headers={"authorization": f"Bearer {KEY}"},
        )
    problem(refused, 401, "unauthorized")
    problem(hidden, 401, "unauthorized")  # unknown paths are guarded too
    assert health.status_code == 200
    assert allowed.status_code == 200
