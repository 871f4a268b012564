"""`moderation serve` as a real process on a free port, driven with plain httpx: the
issue's "done when", graceful shutdown, several workers, and two processes sharing one
Redis (scale-out)."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from openapi_spec_validator import validate

from moderation_core._serve import EmulatorServer, serve_emulator
from moderation_tencent_chat.emulator import make_emulator
from tests import fake_secrets as secrets
from tests.service.helpers import serve_process, serve_processes, stop, write_toml

KEY = "process-test-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
ENV = {"MODERATION_TEST_API_KEY": KEY, "TENCENT_IM_SECRET_KEY": secrets.TENCENT_SECRET_KEY}


def tencent_and_local(url: str) -> str:
    return f"""
[moderation]
providers = ["tencent", "local"]

[providers.tencent]
type       = "tencent_chat"
sdkappid   = 1400000000
identifier = "admin"
secret_key = "${{TENCENT_IM_SECRET_KEY}}"
base_url   = "{url}"

[providers.local]
type = "local"

[serve]
api_keys = ["${{MODERATION_TEST_API_KEY}}"]
"""


def assert_stopped_gracefully(returncode: int | None, err: str) -> None:
    # Uvicorn re-raises the SIGTERM it handled once shutdown is done, so the status says
    # "ended by SIGTERM"; the lifespan (the Moderator closing) ran before that.
    assert returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Application shutdown complete" in err


def emulator(**options: Any) -> Any:
    return make_emulator(
        sdkappid=1400000000, identifier="admin", secret_key=secrets.TENCENT_SECRET_KEY, **options
    )


@pytest.fixture
def tencent() -> Iterator[EmulatorServer]:
    server = serve_emulator(emulator())
    try:
        yield server
    finally:
        server.stop()


def test_serve_with_tencent_and_local_end_to_end(tmp_path: Path, tencent: EmulatorServer) -> None:
    config = write_toml(tmp_path / "moderation.toml", tencent_and_local(tencent.url))
    with serve_process(config, env=ENV) as (url, child):
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"provider:tencent": None}
            refused = client.post("/v1/check", json={"contents": ["hello"]})
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"

            checked = client.post("/v1/check", json={"contents": ["hello", "bomb"]}, headers=AUTH)
            assert checked.status_code == 200
            verdicts = [r["verdict"] for r in checked.json()["results"]]
            assert [(v["decision"], v["provider"]) for v in verdicts] == [
                ("PASS", "tencent"),
                ("BLOCK", "tencent"),
            ]
            assert verdicts[1]["label"] == "VIOLENCE"

            outcome = client.post(
                "/v1/evaluate", json={"contents": ["bomb"], "sender": "u1"}, headers=AUTH
            )
            assert outcome.json()["action"] == "BLOCK"
            validate(client.get("/openapi.json").json())
            metrics = client.get("/metrics").text
            assert 'moderation_checks_total{decision="BLOCK",provider="tencent"}' in metrics

            tencent.stop()  # the vendor goes away: local answers instead
            fallback = client.post("/v1/check", json={"contents": ["hello"]}, headers=AUTH)
            (result,) = fallback.json()["results"]
            assert result["verdict"]["provider"] == "local"
            assert client.get("/readyz").status_code in (200, 503)  # cached up to 5 s
        _, err = stop(child)
    assert_stopped_gracefully(child.returncode, err)
    access = [
        json.loads(line) for line in err.splitlines() if line.startswith('{"event": "access"')
    ]
    assert {(a["path"], a["status"]) for a in access} >= {("/v1/check", 401), ("/v1/check", 200)}
    for leaked in (KEY, secrets.TENCENT_SECRET_KEY, "bomb"):
        assert leaked not in err


def test_sigterm_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(_seconds: float) -> None:  # the emulator's latency: held until released
        entered.set()
        release.wait(20)

    server = serve_emulator(emulator(latency=1.0, sleep=hold))
    config = write_toml(tmp_path / "moderation.toml", tencent_and_local(server.url))
    answers: list[httpx.Response] = []
    try:
        with serve_process(config, env=ENV) as (url, child):
            request = threading.Thread(
                target=lambda: answers.append(
                    httpx.post(
                        f"{url}/v1/check", json={"contents": ["bomb"]}, headers=AUTH, timeout=30
                    )
                )
            )
            request.start()
            assert entered.wait(20)
            child.terminate()  # SIGTERM while the vendor still holds the request
            assert child.stderr is not None
            for line in child.stderr:  # uvicorn says it stopped taking new work
                if "Shutting down" in line:
                    break
            else:
                pytest.fail("serve did not start shutting down")
            assert child.poll() is None  # still waiting for the request
            release.set()
            request.join(30)
            _, err = child.communicate(timeout=20)  # no second signal: that forces an exit
    finally:
        release.set()
        server.stop()
    assert_stopped_gracefully(child.returncode, err)
    (answer,) = answers
    assert answer.status_code == 200
    assert answer.json()["results"][0]["verdict"]["decision"] == "BLOCK"


def test_several_workers_serve_one_port(tmp_path: Path) -> None:
    config = write_toml(tmp_path / "moderation.toml", '[providers.local]\ntype = "local"\n')
    with serve_process(config, "--workers", "2") as (url, child):
        for _ in range(6):  # a connection each, so either worker may answer
            response = httpx.post(f"{url}/v1/check", json={"contents": ["加我微信 abc123456"]})
            assert response.json()["results"][0]["verdict"]["label"] == "AD"
        metrics = httpx.get(f"{url}/metrics").text  # every worker's, summed
        assert 'moderation_checks_total{decision="REVIEW",provider="local"} 6.0' in metrics
        _, err = stop(child)
    assert_stopped_gracefully(child.returncode, err)


def test_two_processes_share_mutes_and_context_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    prefix = f"test-serve-{uuid.uuid4().hex}"
    config = write_toml(
        tmp_path / "moderation.toml",
        f"""
[moderation]
redis_url = "{redis_url}"

[providers.local]
type = "local"

[policy]
redis_prefix = "{prefix}"
mute = {{ after = 2, within = "1h", for = "1h" }}
context = {{ messages = 3, within = "60s" }}
""",
    )
    try:
        with serve_processes(config, 2) as [(first, _), (second, _)]:
            servers = [first, second]

            def say(turn: int, text: str, sender: str) -> dict[str, Any]:
                response = httpx.post(
                    f"{servers[turn % 2]}/v1/evaluate",
                    json={"contents": [text], "scene": "C2C", "sender": sender, "receiver": "u2"},
                )
                assert response.status_code == 200, response.text
                outcome: dict[str, Any] = response.json()
                return outcome

            # One conversation, its pieces alternating between the processes: one context.
            pieces = ["电话 138", "0013", "8000"]
            outcomes = [say(turn, text, "spammer") for turn, text in enumerate(pieces)]
            assert [o["action"] for o in outcomes] == ["ALLOW", "ALLOW", "REVIEW"]
            assert outcomes[2]["reason"].startswith("context:")

            # Two blocks, one on each process: one mute, seen by both.
            assert say(0, "傻逼", "troll")["action"] == "BLOCK"
            second_block = say(1, "操你妈", "troll")
            assert "now muted" in second_block["reason"]
            for turn in (0, 1):
                muted = say(turn, "hello", "troll")
                assert muted["action"] == "BLOCK"
                assert "is muted" in muted["reason"]
                assert muted["verdict"] is None
            for url in servers:
                assert httpx.get(f"{url}/readyz").json()["checks"] == {"redis": None}
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_serve_refuses_a_public_host_without_api_keys(tmp_path: Path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from moderation_core._cli import main  # noqa: PLC0415

    config = write_toml(tmp_path / "moderation.toml", '[providers.local]\ntype = "local"\n')
    result = CliRunner().invoke(main, ["serve", "--config", str(config), "--host", "0.0.0.0"])  # noqa: S104
    assert result.exit_code == 2
    assert "api_keys is empty" in result.output
    assert "not a loopback address" in result.output


def test_serve_reports_a_bad_serve_table_before_listening(tmp_path: Path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from moderation_core._cli import main  # noqa: PLC0415

    config = write_toml(
        tmp_path / "moderation.toml",
        '[providers.local]\ntype = "local"\n\n[serve]\nmax_body_byte = 10\n',
    )
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown key(s) max_body_byte" in result.output
