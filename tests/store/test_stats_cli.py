"""``moderation stats`` on both databases: the table, the JSON (the same as
``GET /v1/stats``), and what it says when the range, the config or the store is wrong."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from moderation_core._cli import EXIT_USAGE, main

from .audit_rows import insert_checks, insert_review


def config_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "moderation.toml"
    path.write_text(
        f'[providers.local]\ntype = "local"\n\n[store]\nurl = "{url}"\n', encoding="utf-8"
    )
    return path


def test_stats_prints_tables_and_json(
    tmp_path: Path, database_url: str, store_engine: sa.Engine
) -> None:
    now = time.time()  # the command's range ends now
    insert_checks(
        store_engine,
        {"created_at": now - 60, "decision": "BLOCK", "label": "AD", "scene": "[red]C2C"},
        {"created_at": now - 60, "decision": "BLOCK", "label": "AD", "latency_ms": 40.0},
        {"created_at": now - 30, "decision": "PASS", "provider": "huanxin", "cached": True},
        {"created_at": now - 2 * 86400, "decision": "REVIEW", "label": "PORN"},
    )
    insert_review(store_engine, status="rejected", decided_at=now - 10, reviewer="ana")
    config = str(config_file(tmp_path, database_url))
    runner = CliRunner()

    table = runner.invoke(main, ["stats", "--config", config, "--by", "label"])
    assert table.exit_code == 0, table.output
    assert "3 checks" in table.output
    assert "AD" in table.output
    assert "66.7%" in table.output  # AD's share
    assert "cache hits 33.3%" in table.output
    assert "huanxin" in table.output
    assert "reviewer agreement" in table.output
    assert "100.0%" in table.output

    scenes = runner.invoke(main, ["stats", "--config", config, "--by", "scene"])
    assert "[red]C2C" in scenes.output  # a scene is text, not markup

    as_json = runner.invoke(main, ["stats", "--config", config, "--json", "--since", "7d"])
    assert as_json.exit_code == 0, as_json.output
    figures = json.loads(as_json.output)
    assert figures["total"] == 4
    assert figures["by"] == "decision"
    assert figures["buckets"][0] == {"key": "BLOCK", "count": 2}
    assert figures["precision"][0]["upheld"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "banana"], "neither a duration"),
        (["--since", "1h", "--until", "2h"], "empty"),
        (["--by", "sender"], "Invalid value for '--by'"),
    ],
)
def test_a_bad_range_is_a_usage_error(
    tmp_path: Path, database_url: str, store_engine: sa.Engine, args: list[str], message: str
) -> None:
    config = str(config_file(tmp_path, database_url))
    result = CliRunner().invoke(main, ["stats", "--config", config, *args])
    assert result.exit_code == EXIT_USAGE
    assert message in result.output


def test_stats_needs_a_config_with_a_store_and_its_database(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["stats"], env={"MODERATION_CONFIG": None})
    assert result.exit_code == EXIT_USAGE
    assert "--config" in result.output

    plain = tmp_path / "plain.toml"
    plain.write_text('[providers.local]\ntype = "local"\n', encoding="utf-8")
    result = runner.invoke(main, ["stats", "--config", str(plain)])
    assert result.exit_code == EXIT_USAGE
    assert "no [store] table" in result.output

    missing = config_file(tmp_path, "sqlite:///nowhere/store.db")
    result = runner.invoke(main, ["stats", "--config", str(missing)])
    assert result.exit_code == EXIT_USAGE
    assert "no database file" in result.output
    assert not (tmp_path / "nowhere").exists()  # reading created nothing

    empty = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()
    result = runner.invoke(
        main, ["stats", "--config", str(config_file(tmp_path, f"sqlite:///{empty}"))]
    )
    assert result.exit_code == EXIT_USAGE
    assert "moderation db upgrade" in result.output


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql://postgres:hunter2-secret@127.0.0.1:1/test?connect_timeout=2"
    result = CliRunner().invoke(main, ["stats", "--config", str(config_file(tmp_path, url))])
    assert result.exit_code == 1
    assert "did not answer" in result.output or "does not answer" in result.output
    assert "hunter2" not in result.output
