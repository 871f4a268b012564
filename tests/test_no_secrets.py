"""No secret may land in a recorded file: every cassette and fixture in the repo is
scanned for the test suite's fake credentials and for the shapes real ones take."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from pathlib import Path

import httpx
import pytest

from moderation_core import (
    AllProvidersFailed,
    AsyncModerator,
    Decision,
    ModerationError,
    Moderator,
    ProtocolError,
    ProviderUnavailable,
    Secret,
    Verdict,
)
from moderation_tencent_chat import TencentChatProvider
from tests import fake_secrets as secrets

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ("*.yaml", "*.yml", "*.json", "*.jsonl")
SKIP = {".venv", ".git", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

# Shapes of real secrets: an unfiltered UserSig in a query, an Easemob app token, a
# client secret field with a value, an Authorization header with a bearer credential.
SHAPES = [
    re.compile(r"usersig=(?!FILTERED)[A-Za-z0-9*_-]{20,}"),
    re.compile(r"YWMt[A-Za-z0-9_-]{10,}"),
    re.compile(r"\"?client_secret\"?\s*[:=]\s*\"?(?!FILTERED)[A-Za-z0-9_-]{8,}"),
    re.compile(r"Bearer (?!FILTERED)[A-Za-z0-9._-]{8,}"),
]


def recorded_files() -> list[Path]:
    found = (path for pattern in RECORDED for path in ROOT.rglob(pattern))
    return sorted(p for p in found if not SKIP.intersection(p.relative_to(ROOT).parts))


def test_scanner_finds_what_it_should(tmp_path: Path) -> None:
    leaked = (
        f"uri: https://x/v4?usersig=eJyrVgrxCdYrSy1SslJQMtIzUNJRAI&k={secrets.TENCENT_SECRET_KEY}"
    )
    assert any(shape.search(leaked) for shape in SHAPES)
    assert secrets.TENCENT_SECRET_KEY in leaked
    assert not any(shape.search("uri: https://x/v4?usersig=FILTERED&random=1") for shape in SHAPES)


@pytest.mark.parametrize("path", recorded_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_recorded_file_holds_no_secret(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    for secret in secrets.ALL:
        assert secret not in text, f"{path} contains a test credential"
    for shape in SHAPES:
        match = shape.search(text)
        assert match is None, f"{path} looks like it holds a secret: {match.group(0)[:24]}..."


# -- issue 9 items 22 and 27: what a failed request leaves behind --------------------------

TENCENT_TABLE = {
    "type": "tencent_chat",
    "sdkappid": 1400000000,
    "identifier": "admin",
    "secret_key": secrets.TENCENT_SECRET_KEY,
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chain(error: BaseException) -> list[BaseException]:
    """The error, everything in its groups, causes and contexts."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            todo += list(current.exceptions)
    return seen


def _library_locals(error: BaseException) -> list[object]:
    """The locals of every library frame on the tracebacks of the chain: what an error
    tracker such as Sentry records."""
    found: list[object] = []
    for exc in _chain(error):
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if "/tests/" not in name and ("moderation" in name):
                found += list(tb.tb_frame.f_locals.values())
            tb = tb.tb_next
    return found


def _assert_no_sig(error: BaseException, sig: str) -> None:
    assert sig
    for exc in _chain(error):
        assert sig not in str(exc)
        assert sig not in repr(exc)
        assert not isinstance(exc, httpx.HTTPError), "the httpx error (and its URL) survived"
    for value in _library_locals(error):
        text = repr(value)
        if isinstance(value, httpx.Request | httpx.Response):
            text += str(value.request.url if isinstance(value, httpx.Response) else value.url)
        assert sig not in text, f"a frame local holds the UserSig: {text[:80]}"


def _usersig(mod: Moderator) -> str:
    provider = mod.providers[0]
    assert isinstance(provider, TencentChatProvider)
    return provider._usersig.current


def test_a_transport_error_leaves_no_usersig_in_its_chain_or_frames() -> None:
    table = {**TENCENT_TABLE, "base_url": f"http://127.0.0.1:{_closed_port()}"}
    with Moderator({"providers": {"t": table}}) as mod:
        with pytest.raises(AllProvidersFailed) as caught:
            mod.check("hello")
        sig = _usersig(mod)
    (error,) = caught.value.exceptions
    assert isinstance(error, ProviderUnavailable)
    _assert_no_sig(caught.value, sig)


@pytest.mark.parametrize("body", [b"garbage", b'{"ActionStatus": "OK", "ErrorCode": 0}'])
def test_a_parse_error_leaves_no_usersig_in_its_chain_or_frames(body: bytes) -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, content=body))
    table = {**TENCENT_TABLE, "base_url": "http://tencent-chat.test"}
    with Moderator({"providers": {"t": table}}, transport=transport) as mod:
        with pytest.raises(AllProvidersFailed) as caught:
            mod.check("hello")
        sig = _usersig(mod)
    assert isinstance(caught.value.exceptions[0], ProtocolError)
    _assert_no_sig(caught.value, sig)


DEEP = b"[" * 100_000


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_deeply_nested_vendor_answer_is_a_protocol_error_and_falls_back(kind: str) -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, content=DEEP))
    config = {
        "moderation": {"providers": ["t", "local"]},
        "providers": {
            "t": {**TENCENT_TABLE, "base_url": "http://tencent-chat.test"},
            "local": {"type": "local"},
        },
    }
    if kind == "sync":
        with Moderator(config, transport=transport) as mod:
            verdict = mod.check("傻逼")
    else:

        async def run() -> Verdict:
            async with AsyncModerator(
                config, transport=httpx.MockTransport(transport.handler)
            ) as amod:
                return await amod.check("傻逼")

        verdict = asyncio.run(run())
    assert verdict.provider == "local"
    assert verdict.decision is Decision.BLOCK


def test_a_deeply_nested_vendor_answer_gets_the_fail_mode() -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, content=DEEP))
    table = {**TENCENT_TABLE, "base_url": "http://tencent-chat.test"}
    config = {"moderation": {"fail_mode": "review"}, "providers": {"t": table}}
    with Moderator(config, transport=transport) as mod:
        assert mod.check("hello").decision is Decision.REVIEW
    with (
        Moderator({"providers": {"t": table}}, transport=transport) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (error,) = caught.value.exceptions
    assert isinstance(error, ProtocolError)
    assert "nested too deeply" in str(error)


# -- issue 9 item 4: webhook errors of every provider hold no token -----------------------


def _assert_secret_absent(error: BaseException, secret: str, logs: str) -> None:
    for exc in _chain(error):
        assert secret not in str(exc)
        assert secret not in repr(exc)
    assert secret not in logs


_TENCENT_QUERIES = [
    {"SdkAppid": "1400000000"},
    {"SdkAppid": "1400000000", "RequestTime": "1700000000", "Sign": "0" * 64},
    {"SdkAppid": "1400000000", "RequestTime": "nan", "Sign": secrets.TENCENT_WEBHOOK_TOKEN},
    {"SdkAppid": "1400000000", "RequestTime": "9" * 400, "Sign": "x"},
]


@pytest.mark.parametrize("query", _TENCENT_QUERIES)
@pytest.mark.parametrize("body", [b"{}", b"not json", DEEP, b'{"CtxcbResult": 1}'])
def test_tencent_webhook_errors_hold_no_token(
    caplog: pytest.LogCaptureFixture, query: dict[str, str], body: bytes
) -> None:

    table = {**TENCENT_TABLE, "webhook_token": secrets.TENCENT_WEBHOOK_TOKEN}
    provider = TencentChatProvider.from_config("t", table, "<dict> [providers.t]")
    with caplog.at_level(logging.DEBUG), pytest.raises(ModerationError) as caught:
        provider.parse_webhook(query, body, now=1_700_000_000)
    _assert_secret_absent(caught.value, secrets.TENCENT_WEBHOOK_TOKEN, caplog.text)


_HUANXIN_BODIES = [
    b"{}",
    b"not json",
    DEEP,
    b'{"callId": "x", "security": "0", "timestamp": 1}',
    json.dumps(
        {
            "callId": secrets.HUANXIN_CALLBACK_SECRET,
            "security": secrets.HUANXIN_CALLBACK_SECRET,
            "timestamp": "nan",
        }
    ).encode(),
]


@pytest.mark.parametrize("body", _HUANXIN_BODIES)
def test_huanxin_callback_errors_hold_no_secret(
    caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    from moderation_huanxin import read_callback, verify_callback  # noqa: PLC0415

    for call in (verify_callback, read_callback):
        with caplog.at_level(logging.DEBUG), pytest.raises(ModerationError) as caught:
            call(body, Secret(secrets.HUANXIN_CALLBACK_SECRET), now=1_700_000_000)
        _assert_secret_absent(caught.value, secrets.HUANXIN_CALLBACK_SECRET, caplog.text)
