"""Issue 13's "Done when": one config lists Tencent Chat, Alibaba Cloud Green, NetEase
Yidun, Shumei and the local engine, and falls back along them through each vendor's
emulator served over real HTTP, with the earlier ones failing (each with a transient
fault of its own vendor's kind, so the next one is asked)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest

from moderation_aliyun import emulator as aliyun_emulator
from moderation_core import AsyncModerator, Decision, Label, Moderator, ProviderUnavailable
from moderation_core.testing import RecordingTransport, serve
from moderation_shumei import emulator as shumei_emulator
from moderation_tencent_chat import emulator as tencent_emulator
from moderation_yidun import emulator as yidun_emulator

TEXT = "你这个傻逼"  # every vendor's emulator, and the local engine, block it as ABUSE


@attrs.frozen
class Vendor:
    name: str  # the key under [providers]
    make: Callable[..., Any]  # the emulator factory
    fault: str  # what it answers while failing: a transient error of its own vendor's
    table: Callable[[str], str]  # base_url -> the TOML table's keys


VENDORS = (
    Vendor(
        "tencent",
        tencent_emulator.make_emulator,
        "93001",  # internal error, retry
        lambda url: (
            f"""type = "tencent_chat"
sdkappid = {tencent_emulator.DEMO_SDKAPPID}
identifier = "admin"
secret_key = "{tencent_emulator.DEMO_SECRET_KEY}"
base_url = "{url}"
"""
        ),
    ),
    Vendor(
        "aliyun",
        aliyun_emulator.make_emulator,
        "ServiceUnavailable",  # the gateway's HTTP 503
        lambda url: (
            f"""type = "aliyun_green"
access_key_id = "{aliyun_emulator.DEMO_ACCESS_KEY_ID}"
access_key_secret = "{aliyun_emulator.DEMO_ACCESS_KEY_SECRET}"
base_url = "{url}"
"""
        ),
    ),
    Vendor(
        "yidun",
        yidun_emulator.make_emulator,
        "503",  # service unavailable
        lambda url: (
            f"""type = "yidun"
secret_id = "{yidun_emulator.DEMO_SECRET_ID}"
secret_key = "{yidun_emulator.DEMO_SECRET_KEY}"
business_id = "{yidun_emulator.DEMO_BUSINESS_ID}"
base_url = "{url}"
"""
        ),
    ),
    Vendor(
        "shumei",
        shumei_emulator.make_emulator,
        "1903",  # service failure
        lambda url: (
            f"""type = "shumei"
access_key = "{shumei_emulator.DEMO_ACCESS_KEY}"
app_id = "{shumei_emulator.DEMO_APP_ID}"
base_url = "{url}"
"""
        ),
    ),
)
CHAIN = [*(v.name for v in VENDORS), "local"]


@attrs.frozen
class Served:
    config: Path
    recordings: dict[str, RecordingTransport]


@contextmanager
def served_chain(tmp_path: Path, failing: int) -> Iterator[Served]:
    """Every vendor's emulator on a port of its own, the first ``failing`` of them
    answering their fault, and one moderation.toml listing them all, then local."""
    with ExitStack() as stack:
        tables = []
        recordings = {}
        for index, vendor in enumerate(VENDORS):
            options = {"fault": vendor.fault} if index < failing else {}
            recording = RecordingTransport(vendor.make(**options))
            recordings[vendor.name] = recording
            url = stack.enter_context(serve(recording.handle_request))
            tables.append(f"[providers.{vendor.name}]\n{vendor.table(url)}")
        names = ", ".join(f'"{name}"' for name in CHAIN)
        config = tmp_path / "moderation.toml"
        config.write_text(
            f'[moderation]\nproviders = [{names}]\nstrategy = "fallback"\n\n'
            + "\n".join(tables)
            + '\n[providers.local]\ntype = "local"\n',
            encoding="utf-8",
        )
        yield Served(config, recordings)


@pytest.mark.parametrize("failing", range(len(CHAIN)), ids=lambda n: f"{n}-failing")
def test_falls_back_along_the_chain(tmp_path: Path, failing: int) -> None:
    with served_chain(tmp_path, failing) as chain, Moderator.from_config(chain.config) as mod:
        verdict = mod.check(TEXT, sender="u1", receiver="u2")
    assert verdict.provider == CHAIN[failing]
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.ABUSE)
    assert [e.provider for e in verdict.errors] == CHAIN[:failing]
    assert all(isinstance(e, ProviderUnavailable) for e in verdict.errors)
    assert verdict.failed_over is (failing > 0)
    assert not verdict.fallback
    # Each vendor was asked exactly when the ones before it had failed.
    asked = [name for name, recording in chain.recordings.items() if recording.requests]
    assert asked == CHAIN[: min(failing + 1, len(VENDORS))]


async def test_async_falls_back_to_aliyun(tmp_path: Path) -> None:
    with served_chain(tmp_path, 1) as chain:
        async with AsyncModerator.from_config(chain.config) as mod:
            verdict = await mod.check(TEXT)
    assert (verdict.provider, verdict.vendor_label) == ("aliyun", "inappropriate_profanity")
    assert [e.provider for e in verdict.errors] == ["tencent"]


def test_a_block_is_an_answer_not_a_reason_to_fall_back(tmp_path: Path) -> None:
    with served_chain(tmp_path, 1) as chain, Moderator.from_config(chain.config) as mod:
        verdict = mod.check(TEXT)
    assert verdict.provider == "aliyun"
    assert verdict.decision is Decision.BLOCK
    assert [name for name, r in chain.recordings.items() if r.requests] == ["tencent", "aliyun"]
