"""Alembic's environment for the store: always run with a connection handed in
through ``config.attributes`` by ``moderation_core.store._engine.upgrade``."""

from __future__ import annotations

from alembic import context

from moderation_core.store._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise RuntimeError("run migrations through `moderation db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
)
with context.begin_transaction():
    context.run_migrations()
