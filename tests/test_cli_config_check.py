"""`moderation config check` and a `redis_url` that does not answer (issue 9 item 3).

A valid config whose Redis is down still works, degraded, so the command exits 0, but
it must say so: one warning naming the URL with its password masked."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner

from moderation_core._cli import main

PASSWORD = "s3cret-redis-pass"  # made up; the output must never show it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_with_redis(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "moderation.toml"
    config.write_text(
        f'[moderation]\nredis_url = "{url}"\n\n[providers.mine]\ntype = "local"\n',
        encoding="utf-8",
    )
    return config


def test_a_redis_url_that_does_not_answer_is_a_warning_with_the_password_masked(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = config_with_redis(tmp_path, f"redis://user:{PASSWORD}@127.0.0.1:{port}/0")
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    assert "warning" in result.stderr
    assert f"redis://user:***@127.0.0.1:{port}/0" in result.stderr
    assert "does not answer" in result.stderr
    assert "in-process" in result.stderr
    assert PASSWORD not in result.output


def test_a_password_in_the_query_is_masked_too(tmp_path: Path) -> None:
    port = free_port()
    config = config_with_redis(tmp_path, f"redis://127.0.0.1:{port}/0?password={PASSWORD}")
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr
    assert PASSWORD not in result.output


def test_a_redis_that_answers_gives_no_warning(tmp_path: Path, redis_url: str) -> None:
    result = CliRunner().invoke(
        main, ["config", "check", str(config_with_redis(tmp_path, redis_url))]
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert "answers" in result.stderr


def test_no_redis_url_means_no_ping(tmp_path: Path) -> None:
    config = tmp_path / "moderation.toml"
    config.write_text('[providers.mine]\ntype = "local"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 0
    assert result.stderr == ""
