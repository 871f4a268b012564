"""A fallback chain of vendors' emulators served over real HTTP, for the chain tests of
issue 13 (tests/providers/aliyun and yidun): each vendor's table, the chain served with
the first N failing (each with a transient fault of its own vendor's kind, so the next
one is asked), and the checks every chain passes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import attrs

from moderation_aliyun import emulator as aliyun_emulator
from moderation_core import Decision, Label, ProviderUnavailable, Verdict
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


TENCENT, ALIYUN, YIDUN, SHUMEI = (
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


def chain_of(vendors: Sequence[Vendor]) -> list[str]:
    """The providers' names in the order tried: the vendors, then the local engine."""
    return [*(v.name for v in vendors), "local"]


@attrs.frozen
class Served:
    config: Path
    recordings: dict[str, RecordingTransport]


@contextmanager
def served_chain(tmp_path: Path, vendors: Sequence[Vendor], failing: int) -> Iterator[Served]:
    """Each vendor's emulator on a port of its own, the first ``failing`` of them
    answering their fault, and one moderation.toml listing them all, then local."""
    with ExitStack() as stack:
        tables = []
        recordings = {}
        for index, vendor in enumerate(vendors):
            options = {"fault": vendor.fault} if index < failing else {}
            recording = RecordingTransport(vendor.make(**options))
            recordings[vendor.name] = recording
            url = stack.enter_context(serve(recording.handle_request))
            tables.append(f"[providers.{vendor.name}]\n{vendor.table(url)}")
        names = ", ".join(f'"{name}"' for name in chain_of(vendors))
        config = tmp_path / "moderation.toml"
        config.write_text(
            f'[moderation]\nproviders = [{names}]\nstrategy = "fallback"\n\n'
            + "\n".join(tables)
            + '\n[providers.local]\ntype = "local"\n',
            encoding="utf-8",
        )
        yield Served(config, recordings)


def assert_fell_back(verdict: Verdict, vendors: Sequence[Vendor], failing: int) -> None:
    """The verdict came from the first vendor not failing (the local engine after all of
    them), with one ProviderUnavailable per vendor before it."""
    chain = chain_of(vendors)
    assert verdict.provider == chain[failing]
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.ABUSE)
    assert [e.provider for e in verdict.errors] == chain[:failing]
    assert all(isinstance(e, ProviderUnavailable) for e in verdict.errors)
    assert verdict.failed_over is (failing > 0)
    assert not verdict.fallback
