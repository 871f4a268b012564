"""The public surface: a sorted ``__all__`` of names that exist."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

import moderation_huanxin
from moderation_huanxin import emulator as emulator_module
from tests import fake_secrets as secrets

from .helpers import APP, ORG, emulator


def isort_style(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    for module in (moderation_huanxin, emulator_module):
        assert module.__all__ == sorted(module.__all__, key=isort_style)
        for name in module.__all__:
            assert hasattr(module, name), name


def test_emulator_is_thread_safe() -> None:
    emu = emulator(token_rate_limit=None)

    def fetch(_: int) -> str:
        answer = emu(
            httpx.Request(
                "POST",
                f"http://h/{ORG}/{APP}/token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": secrets.HUANXIN_CLIENT_ID,
                    "client_secret": secrets.HUANXIN_CLIENT_SECRET,
                },
            )
        )
        return str(answer.json()["access_token"])

    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(fetch, range(200)))
    assert len(set(tokens)) == 200
    assert emu.token_requests == 200
    assert emu.live_tokens == 200
