"""Every store test runs against both databases: a SQLite file in a temporary folder
and the real PostgreSQL on 127.0.0.1:5432, each test in a schema of its own (named in
the URL's ``search_path``, so subprocesses given the URL land in it too).

PostgreSQL missing: those cases are skipped locally and fail under ``CI=true``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from moderation_core.store import create_store_engine, store_url, upgrade

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_admin() -> sa.Engine:
    engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        message = f"PostgreSQL is not reachable at 127.0.0.1:5432: {type(exc).__name__}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ``[store] url`` for an empty database of either kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    admin = _postgres_admin()
    schema = f"mc_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'create schema "{schema}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture
def store_engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on a database migrated to the newest revision."""
    engine = create_store_engine(store_url(database_url))
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
