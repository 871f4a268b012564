"""The migrations build exactly the tables ``_schema`` describes, on both databases,
and running them twice changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from moderation_core._errors import ConfigError
from moderation_core.store import head_revision, metadata, shown_url, store_url, upgrade


def test_the_migrations_match_the_schema(store_engine: sa.Engine) -> None:
    with store_engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, metadata) == []
        names = set(sa.inspect(connection).get_table_names())
    assert {"checks", "callbacks", "outbox", "reviews", "alembic_version"} <= names


def test_upgrading_twice_is_harmless(store_engine: sa.Engine) -> None:
    upgrade(store_engine)
    with store_engine.connect() as connection:
        version = connection.execute(sa.text("select version_num from alembic_version")).scalar()
    assert version == head_revision()


@pytest.mark.parametrize("url", ["mysql://root@localhost/db", "redis://127.0.0.1", "nonsense"])
def test_an_unknown_scheme_is_a_config_error_naming_it(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        store_url(url)
    assert "[store] url" in str(caught.value)
    if "://" in url:
        assert url.split("://", maxsplit=1)[0] in str(caught.value)


def test_a_password_in_the_url_is_never_shown() -> None:
    url = store_url("postgresql://app:hunter2-secret@db.example/moderation")
    assert "hunter2" not in shown_url(url)
    assert "hunter2" not in shown_url("postgresql://app:hunter2-secret@db.example/moderation")
    with pytest.raises(ConfigError) as caught:
        store_url("oracle://app:hunter2-secret@db.example/x")
    assert "hunter2" not in str(caught.value)


def test_a_relative_sqlite_path_is_read_from_the_config_folder(tmp_path: Path) -> None:
    url = store_url("sqlite:///data/moderation.db", tmp_path)
    assert url.database == str(tmp_path / "data" / "moderation.db")
    assert store_url(f"sqlite:///{tmp_path / 'x.db'}", Path("/elsewhere")).database == str(
        tmp_path / "x.db"
    )
