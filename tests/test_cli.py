"""The ``moderation`` command, through click's runner and once as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from moderation_core._cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_prints_verdicts(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", "今天天气不错", "你这个傻逼"])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    assert "BLOCK" in result.output
    assert "你这个**" in result.output


def test_check_json(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", "--json", "hello", "加我微信: abc12345"])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first["decision"] == "PASS"
    assert second["decision"] == "REVIEW"
    assert second["label"] == "AD"
    assert second["sublabel"] == "WeChat"
    assert second["input"] == "加我微信: abc12345"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["check", "hello"], 0),
        (["check", "--fail-on", "block", "hello"], 0),
        (["check", "--fail-on", "block", "加我微信: abc12345"], 0),
        (["check", "--fail-on", "review", "加我微信: abc12345"], 1),
        (["check", "--fail-on", "block", "你这个傻逼"], 1),
    ],
)
def test_fail_on_sets_the_exit_status(runner: CliRunner, args: list[str], code: int) -> None:
    assert runner.invoke(main, args).exit_code == code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "nothing to check"),
        (["check", "--image", "ftp://x/a.jpg"], "http(s) URL"),
        (["check", "--fail-on", "sometimes", "x"], "Invalid value for '--fail-on'"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    runner: CliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "hello", "   "], "empty or whitespace"),
        (["check", "--image", "https://x.test/a.jpg"], "no configured provider accepts image"),
    ],
)
def test_an_input_no_provider_can_check_is_an_error_row_and_exit_3(
    runner: CliRunner, args: list[str], message: str
) -> None:
    """An input that cannot be checked gets its own ERROR row; the others still get
    verdicts; the exit status says some input has none (the table in --help)."""
    result = runner.invoke(main, [*args[:1], "--json", *args[1:]])
    assert result.exit_code == 3
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[-1]["error"]["type"] == "InvalidContent"
    assert message in records[-1]["error"]["message"]
    assert all("decision" in r for r in records[:-1])


def test_file_mode_keeps_order_and_reports_bad_lines(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [
        json.dumps("今天天气不错"),
        json.dumps({"text": "你这个傻逼", "id": "m-2"}),
        "{not json",
        json.dumps({"text": ""}),
        "",
        json.dumps({"type": "image", "url": "https://x.test/a.jpg"}),
        json.dumps({"text": "加我微信: abc12345", "scene": "Group", "sender": "u1"}),
        json.dumps([1, 2]),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(main, ["check", "--file", str(source), "--out", str(out)])
    assert result.exit_code == 3, result.output  # some lines got no verdict
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == list(range(1, 9))
    assert records[0]["decision"] == "PASS"
    assert (records[1]["decision"], records[1]["id"]) == ("BLOCK", "m-2")
    assert records[2]["error"]["type"] == "InvalidContent"
    assert "not JSON" in records[2]["error"]["message"]
    assert "empty" in records[3]["error"]["message"]
    assert "empty line" in records[4]["error"]["message"]
    assert "no configured provider accepts image" in records[5]["error"]["message"]
    assert records[6]["decision"] == "REVIEW"
    assert records[7]["error"]["type"] == "InvalidContent"


def test_file_mode_exit_status_follows_fail_on(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps("你这个傻逼") + "\n", encoding="utf-8")
    result = runner.invoke(
        main, ["check", "--file", str(source), "--out", str(tmp_path / "o"), "--fail-on", "block"]
    )
    assert result.exit_code == 1


def test_file_mode_streams_many_lines_in_chunks(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    texts = [f"消息 {i}" + (" 傻逼" if i % 500 == 0 else "") for i in range(2500)]
    source.write_text("\n".join(json.dumps(t, ensure_ascii=False) for t in texts), encoding="utf-8")
    result = runner.invoke(main, ["check", "--file", str(source), "--out", "-"])
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2500
    assert [r["line"] for r in records] == list(range(1, 2501))
    assert [i for i, r in enumerate(records) if r["decision"] == "BLOCK"] == [
        0,
        500,
        1000,
        1500,
        2000,
    ]


def test_providers_lists_installed_and_configured(runner: CliRunner) -> None:
    result = runner.invoke(main, ["providers", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "local" in [p["type"] for p in data["installed"]]
    (configured,) = data["configured"]
    assert configured["name"] == "local"
    assert configured["content_types"] == ["text"]


def test_config_check(runner: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[providers.mine]\ntype = "local"\n', encoding="utf-8")
    result = runner.invoke(main, ["config", "check", str(good)])
    assert result.exit_code == 0
    assert "OK" in result.output
    assert "mine (local)" in result.output

    bad = tmp_path / "bad.toml"
    bad.write_text('[providers.mine]\ntype = "local"\nwords = 1\n', encoding="utf-8")
    result = runner.invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert "unknown key(s) words" in result.output
    assert "bad.toml" in result.output


def test_check_with_a_broken_config_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[providers.x]\ntype = "nope"\n', encoding="utf-8")
    result = runner.invoke(main, ["check", "--config", str(bad), "hello"])
    assert result.exit_code == 2
    assert "unknown provider type 'nope'" in result.output


def test_emulate_refuses_unknown_types(runner: CliRunner) -> None:
    result = runner.invoke(main, ["emulate", "nope"])
    assert result.exit_code == 2
    assert "unknown provider type 'nope'" in result.output


def test_help_helps(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", "--help"])
    assert result.exit_code == 0
    for words in ("--fail-on", "--file", "Exit status", "JSONL"):
        assert words in result.output


def test_python_dash_m_runs_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "moderation_core", "check", "--json", "你这个傻逼"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decision"] == "BLOCK"
