from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from tests.worker.nats_support import NATS_URL, Names, connect, delete_streams


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The real NATS JetStream on 127.0.0.1:4222. Missing: skipped locally, a failure
    under CI."""

    async def probe() -> None:
        nc, js = await connect()
        try:
            await js.account_info()
        finally:
            await nc.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        message = f"NATS JetStream is not reachable at {NATS_URL}: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return NATS_URL


@pytest.fixture
async def names(nats_url: str) -> AsyncIterator[Names]:
    """Unique stream, subject and consumer names; the streams are deleted afterwards."""
    made = Names()
    yield made
    nc, js = await connect(nats_url)
    try:
        await delete_streams(js, made)
    finally:
        await nc.close()
