"""Both pre-send loops end to end over real HTTP: a user's message -> the platform
(an emulator playing Tencent IM or Easemob) -> ``moderation serve`` in a child process
-> the policy and its vendor (the Tencent Chat emulator) -> the platform delivers,
rejects, drops or rewrites it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moderation_core._serve import serving
from moderation_huanxin.platform import EasemobPlatform
from moderation_tencent_chat.emulator import make_emulator
from moderation_tencent_chat.platform import TencentImPlatform
from tests import fake_secrets as secrets
from tests.service.helpers import free_port, serve_process, write_toml
from tests.service.hook_helpers import (
    BLOCKED,
    CLEAN,
    FACE,
    SDKAPPID,
    SECRET,
    SEXY,
    SPAM,
    TOKEN,
    text,
)

# Easemob's wait is the rule's setting (200 ms by default); a child process on a busy
# test machine gets a roomier one, and the hook a budget inside it.
EASEMOB_WAIT = 2.0

CONFIG = """
[moderation]
providers = ["tencent", "local"]

[providers.tencent]
type       = "tencent_chat"
sdkappid   = 1400000000
identifier = "admin"
secret_key = "${{TENCENT_IM_SECRET_KEY}}"
base_url   = "{vendor}"

[providers.local]
type = "local"

[policy]
actions = {{ AD = "mask" }}

[serve.hooks.tencent_chat]
sdkappid   = 1400000000
token      = "${{TENCENT_IM_CALLBACK_TOKEN}}"
review     = "discard"
reject_code = 120001

[serve.hooks.huanxin]
secret     = "${{HUANXIN_CALLBACK_SECRET}}"
budget_ms  = 1500
"""

ENV = {
    "TENCENT_IM_SECRET_KEY": secrets.TENCENT_SECRET_KEY,
    "TENCENT_IM_CALLBACK_TOKEN": TOKEN,
    "HUANXIN_CALLBACK_SECRET": SECRET,
}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    emulator = make_emulator(sdkappid=SDKAPPID, secret_key=secrets.TENCENT_SECRET_KEY)
    with serving(emulator) as vendor:
        config = write_toml(tmp_path / "moderation.toml", CONFIG.format(vendor=vendor.url))
        with serve_process(config, env=ENV) as (url, _child):
            yield url


def test_the_tencent_im_loop(service: str) -> None:
    im = TencentImPlatform(f"{service}/v1/hooks/tencent_chat", sdkappid=SDKAPPID, token=TOKEN)
    try:
        clean = im.send_c2c("alice", "bob", [text(CLEAN), FACE])
        rejected = im.send_c2c("alice", "bob", BLOCKED)
        group_rejected = im.send_group("alice", "@TGS#g1", BLOCKED)
        dropped = im.send_c2c("alice", "bob", SEXY)
        rewritten = im.send_group("alice", "@TGS#g1", [FACE, text(SPAM)])
        forged = TencentImPlatform(
            f"{service}/v1/hooks/tencent_chat", sdkappid=SDKAPPID, token="forged", fallback="drop"
        ).send_c2c("mallory", "bob", CLEAN)
    finally:
        im.close()
    assert (clean.outcome, clean.msg_body) == ("delivered", (text(CLEAN), FACE))
    assert (rejected.outcome, rejected.error_code) == ("rejected", 120001)
    assert "ABUSE" in rejected.error_info  # a custom code shows the sender the reason
    assert (group_rejected.outcome, group_rejected.error_code) == ("rejected", 10016)
    assert (dropped.outcome, dropped.error_code) == ("dropped", 0)
    assert rewritten.outcome == "delivered"
    assert rewritten.rewritten
    assert rewritten.msg_body is not None
    assert rewritten.msg_body[0] == FACE
    assert "微信" not in rewritten.msg_body[1]["MsgContent"]["Text"]
    # A forged callback: 403 from the hook, then IM's own fallback (here: drop, 80003).
    assert (forged.outcome, forged.error_code, forged.fallback) == ("dropped", 80003, "http 403")
    for delivery in (clean, rejected, dropped, rewritten):
        assert delivery.fallback is None


def test_the_easemob_loop(service: str) -> None:
    easemob = EasemobPlatform(f"{service}/v1/hooks/huanxin", secret=SECRET, timeout=EASEMOB_WAIT)
    try:
        clean = easemob.send("chat", "alice", "bob", CLEAN)
        rejected = easemob.send("groupchat", "alice", "g1", BLOCKED)
        rewritten = easemob.send("chatroom", "alice", "room1", SPAM, bodies=True)
    finally:
        easemob.close()
    assert (clean.outcome, clean.payload) == ("delivered", {"msg": CLEAN, "type": "txt"})
    assert rejected.outcome == "rejected"
    assert rejected.error is not None
    assert "ABUSE" in rejected.error
    assert rewritten.outcome == "delivered"
    assert rewritten.payload is not None
    assert "微信" not in rewritten.payload["bodies"][0]["msg"]
    for delivery in (clean, rejected, rewritten):
        assert delivery.fallback is None


def emulate(*args: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "moderation_core", "emulate", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    line = child.stderr.readline()
    assert "listening on" in line, line
    return child


def test_the_cli_emulators_play_the_platforms(tmp_path: Path) -> None:
    # One `moderation emulate tencent_chat` is both the vendor the service asks and the
    # IM platform that calls the service's hook.
    port = free_port()
    vendor = f"http://127.0.0.1:{port}"
    config = write_toml(tmp_path / "moderation.toml", CONFIG.format(vendor=vendor))
    with serve_process(config, env=ENV) as (url, _child):
        tencent = emulate(
            "tencent_chat",
            "--port",
            str(port),
            "--callback-url",
            f"{url}/v1/hooks/tencent_chat",
            "--set",
            f"secret_key={secrets.TENCENT_SECRET_KEY}",
            "--set",
            f"callback_token={TOKEN}",
        )
        easemob_port = free_port()
        easemob = emulate(
            "huanxin",
            "--port",
            str(easemob_port),
            "--callback-url",
            f"{url}/v1/hooks/huanxin",
            "--set",
            f"callback_secret={SECRET}",
            "--set",
            f"callback_timeout={EASEMOB_WAIT}",
        )
        try:
            sent = httpx.post(
                f"{vendor}/platform/send",
                json={"scene": "C2C", "from": "alice", "to": "bob", "text": BLOCKED},
                timeout=10,
            ).json()
            masked = httpx.post(
                f"http://127.0.0.1:{easemob_port}/platform/send",
                json={"chat_type": "chat", "from": "alice", "to": "bob", "text": SPAM},
                timeout=10,
            ).json()
            refused = httpx.post(f"{vendor}/platform/send", json={"scene": "C2C"}, timeout=10)
        finally:
            for child in (tencent, easemob):
                child.terminate()
                child.wait(timeout=10)
    assert (sent["outcome"], sent["error_code"], sent["fallback"]) == ("rejected", 120001, None)
    assert masked["outcome"] == "delivered"
    assert masked["answer"]["valid"] is True
    assert "微信" not in masked["payload"]["msg"]
    assert refused.status_code == 400


def test_the_cli_says_when_a_provider_does_not_play_a_platform() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "moderation_core", "emulate", "local", "--callback-url", "http://x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "platform" in result.stderr or "emulator" in result.stderr
