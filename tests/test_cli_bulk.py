"""The bulk CLI (issue 9 items 2, 5-8): `check --file`, `check -` and piped stdin.

Every input line yields exactly one output record, in input order; the exit status
follows the one table in `check --help` in every mode; a summary goes to stderr."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from moderation_core._cli import main
from tests import fake_secrets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def records_in(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def invoke(*args: str, stdin: bytes | str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


@pytest.fixture
def dead_vendor_config(tmp_path: Path) -> Path:
    """Tencent at a port nobody listens on, no retries: every check fails."""
    config = tmp_path / "dead.toml"
    config.write_text(
        "[providers.tencent]\n"
        'type = "tencent_chat"\n'
        "sdkappid = 1400000000\n"
        'identifier = "admin"\n'
        f'secret_key = "{fake_secrets.TENCENT_SECRET_KEY}"\n'
        f'base_url = "http://127.0.0.1:{free_port()}"\n'
        "retries = 0\n",
        encoding="utf-8",
    )
    return config


# --- item 5: exit statuses and the summary line -------------------------------------


def test_file_mode_exits_3_when_every_line_failed(tmp_path: Path, dead_vendor_config: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(f"消息 {i}") + "\n" for i in range(20)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = invoke("check", "--config", str(dead_vendor_config), "--file", str(source),
                    "--out", str(out))  # fmt: skip
    assert result.exit_code == 3, result.output
    records = records_in(out.read_text(encoding="utf-8"))
    assert [r["line"] for r in records] == list(range(1, 21))
    assert all("decision" not in r and r["error"]["type"] for r in records)
    assert "20 lines: 0 checked, 0 flagged, 20 failed, 0 malformed" in result.stderr
    assert fake_secrets.TENCENT_SECRET_KEY not in result.output + out.read_text(encoding="utf-8")


def test_every_mode_exits_3_when_a_vendor_is_dead(tmp_path: Path, dead_vendor_config: Path) -> None:
    config = ["--config", str(dead_vendor_config)]
    assert invoke("check", *config, "hello").exit_code == 3
    assert invoke("check", *config, "--json", "hello").exit_code == 3
    assert invoke("check", *config, "-", stdin="hello\n").exit_code == 3
    assert invoke("check", *config, stdin="hello\n").exit_code == 3


def test_malformed_lines_exit_3_and_are_counted(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('"ok"\n{not json\n"你这个傻逼"\n' + "[" * 100_000 + "\n", encoding="utf-8")
    result = invoke("check", "--file", str(source), "--fail-on", "block")
    assert result.exit_code == 3  # an unanswered line outranks a finding
    assert "4 lines: 2 checked, 1 flagged, 0 failed, 2 malformed" in result.stderr
    assert records_in(result.stdout)[3]["error"]["type"] == "InvalidContent"


@pytest.mark.parametrize(
    ("lines", "fail_on", "status", "summary"),
    [
        (["hello", "今天天气不错"], "block", 0, "2 lines: 2 checked, 0 flagged"),
        (["hello", "加我微信: abc12345"], "block", 0, "2 lines: 2 checked, 1 flagged"),
        (["hello", "加我微信: abc12345"], "review", 1, "2 lines: 2 checked, 1 flagged"),
        (["你这个傻逼"], "block", 1, "1 lines: 1 checked, 1 flagged, 0 failed, 0 malformed"),
    ],
)
def test_clean_and_flagged_runs_follow_the_table(
    tmp_path: Path, lines: list[str], fail_on: str, status: int, summary: str
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("check", "--file", str(source), "--format", "text", "--fail-on", fail_on)
    assert result.exit_code == status, result.output
    assert summary in result.stderr
    assert len(records_in(result.stdout)) == len(lines)


# --- item 6: --out is never the input; temp file and rename; --resume ----------------


@pytest.mark.parametrize("alias", ["same", "relative", "symlink", "hardlink"])
def test_out_naming_the_input_is_refused_and_the_input_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alias: str
) -> None:
    source = tmp_path / "in.jsonl"
    content = '"hello"\n"你这个傻逼"\n'
    source.write_text(content, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    out = {
        "same": str(source),
        "relative": "./sub/../in.jsonl",
        "symlink": str(tmp_path / "link.jsonl"),
        "hardlink": str(tmp_path / "hard.jsonl"),
    }[alias]
    (tmp_path / "sub").mkdir()
    if alias == "symlink":
        (tmp_path / "link.jsonl").symlink_to(source)
    if alias == "hardlink":
        os.link(source, tmp_path / "hard.jsonl")
    result = invoke("check", "--file", str(source), "--out", out)
    assert result.exit_code == 2
    assert "is the input file" in result.output
    assert source.read_text(encoding="utf-8") == content


def test_a_killed_run_leaves_the_previous_out_untouched(tmp_path: Path) -> None:
    """Results go to a temporary file beside OUT, renamed over it only at the end."""
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n", encoding="utf-8")
    child = _started_bulk_run(tmp_path, out, 1000)
    child.kill()
    child.wait(timeout=30)
    assert out.read_text(encoding="utf-8") == "previous results\n"


def test_a_finished_run_replaces_out_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('"hello"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n", encoding="utf-8")
    out.chmod(0o640)
    result = invoke("check", "--file", str(source), "--out", str(out))
    assert result.exit_code == 0
    assert records_in(out.read_text(encoding="utf-8"))[0]["decision"] == "PASS"
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_resume_keeps_answered_lines_and_checks_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one\ntwo\n你这个傻逼\nfour\nfive\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    earlier = [{"line": n, "decision": "PASS", "provider": "earlier-run"} for n in (1, 2)]
    # ...and a last line torn by a kill, which is checked again
    out.write_text("".join(json.dumps(r) + "\n" for r in earlier) + '{"line": 3, "dec',
                   encoding="utf-8")  # fmt: skip
    result = invoke("check", "--file", str(source), "--format", "text", "--out", str(out),
                    "--resume", "--fail-on", "block")  # fmt: skip
    assert result.exit_code == 1, result.output
    records = records_in(out.read_text(encoding="utf-8"))
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert records[:2] == earlier
    assert records[2]["decision"] == "BLOCK"
    assert all(r["provider"] == "local" for r in records[2:])
    assert "5 lines: 5 checked, 1 flagged" in result.stderr


def test_resume_counts_earlier_findings_and_failures(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one\ntwo\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"line": 1, "decision": "BLOCK"}) + "\n", encoding="utf-8")
    result = invoke("check", "--file", str(source), "--format", "text", "--out", str(out),
                    "--resume", "--fail-on", "block")  # fmt: skip
    assert result.exit_code == 1  # the BLOCK answered before still counts

    out.write_text(json.dumps({"line": 1, "error": {"type": "AllProvidersFailed"}}) + "\n",
                   encoding="utf-8")  # fmt: skip
    result = invoke("check", "--file", str(source), "--format", "text", "--out", str(out),
                    "--resume")  # fmt: skip
    assert result.exit_code == 3


def test_resume_refuses_an_out_that_is_not_this_commands_output(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one\ntwo\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"line": 2, "decision": "PASS"}) + "\n", encoding="utf-8")
    result = invoke("check", "--file", str(source), "--out", str(out), "--resume")
    assert result.exit_code == 2
    assert "not this command's output" in result.output
    assert invoke("check", "--file", str(source), "--resume").exit_code == 2  # needs --out FILE

    for junk in ({"line": 1, "decision": "MAYBE"}, {"line": 1, "error": "x"}, {"line": 1}):
        out.write_text(json.dumps(junk) + "\n", encoding="utf-8")
        result = invoke("check", "--file", str(source), "--out", str(out), "--resume")
        assert result.exit_code == 2, junk
        assert "not this command's output" in result.output

    answers_more = "".join(json.dumps({"line": n, "decision": "PASS"}) + "\n" for n in (1, 2, 3))
    out.write_text(answers_more, encoding="utf-8")
    result = invoke("check", "--file", str(source), "--out", str(out), "--resume")
    assert result.exit_code == 2
    assert "the input has only 2" in result.output


def _started_bulk_run(tmp_path: Path, out: Path, lines: int) -> subprocess.Popen[bytes]:
    """A real `moderation check -` reading a pipe that stays open after ``lines`` lines,
    stopped once it has written their records (so a signal lands mid-run)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "moderation_core", "check", "-", "--out", str(out)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdin is not None
    child.stdin.write("".join(f"消息 {i}\n" for i in range(lines)).encode())
    child.stdin.flush()
    deadline = time.monotonic() + 60  # a guard against a hang, not an assertion on speed
    while time.monotonic() < deadline:
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        if partial and partial[0].read_bytes().count(b"\n") == lines:
            return child
        time.sleep(0.05)
    child.kill()
    pytest.fail("the run never wrote its records")


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_leaves_whole_lines_and_resume_finishes_the_job(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    out = tmp_path / "out.jsonl"
    child = _started_bulk_run(tmp_path, out, 2000)  # two chunks of 1,000
    child.send_signal(signum)
    assert child.wait(timeout=30) == status
    assert child.stderr is not None
    note = child.stderr.read().decode()
    assert "after input line 2000" in note
    assert "--resume" in note
    assert "Traceback" not in note
    written = out.read_bytes()
    assert written.endswith(b"\n")
    assert [r["line"] for r in records_in(written.decode())] == list(range(1, 2001))

    source = tmp_path / "in.txt"
    source.write_text("".join(f"消息 {i}\n" for i in range(2500)), encoding="utf-8")
    result = invoke("check", "--file", str(source), "--format", "text", "--out", str(out),
                    "--resume")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["line"] for r in records_in(out.read_text(encoding="utf-8"))] == list(range(1, 2501))


# --- item 7: a line that is not UTF-8 is an error record -----------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "text"])
def test_an_undecodable_line_is_an_error_record_and_the_run_goes_on(
    tmp_path: Path, fmt: str
) -> None:
    source = tmp_path / "in"
    good = '"hello"' if fmt == "jsonl" else "hello"
    source.write_bytes(f"{good}\n".encode() + b'"bad \xff\xfe byte"\n' + f"{good}\n".encode())
    out = tmp_path / "out.jsonl"
    result = invoke("check", "--file", str(source), "--format", fmt, "--out", str(out))
    assert result.exit_code == 3, result.output
    records = records_in(out.read_text(encoding="utf-8"))
    assert [r["line"] for r in records] == [1, 2, 3]
    assert records[1]["error"]["type"] == "InvalidContent"
    assert "not valid UTF-8" in records[1]["error"]["message"]
    assert records[0]["decision"] == records[2]["decision"] == "PASS"
    assert "1 malformed" in result.stderr


# --- item 8: stdin, one message a line; --format ------------------------------------


@pytest.mark.parametrize("args", [["check", "-"], ["check"]])
def test_stdin_is_read_one_message_a_line(args: list[str]) -> None:
    result = invoke(*args, "--fail-on", "block", stdin="今天天气不错\n你这个傻逼\n")
    assert result.exit_code == 1, result.output
    records = records_in(result.stdout)
    assert [(r["line"], r["decision"]) for r in records] == [(1, "PASS"), (2, "BLOCK")]


def test_dash_with_other_texts_is_a_usage_error() -> None:
    assert invoke("check", "-", "hello").exit_code == 2


def test_file_format_text_reads_plain_lines_and_jsonl_stays_the_default(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.write_text('{"text": "你这个傻逼"}\n', encoding="utf-8")
    as_jsonl = records_in(invoke("check", "--file", str(source)).stdout)
    as_text = records_in(invoke("check", "--file", str(source), "--format", "text").stdout)
    assert as_jsonl[0]["decision"] == "BLOCK"
    assert as_text[0]["decision"] == "BLOCK"  # the whole line was the message
    assert as_text[0]["masked_text"].startswith('{"text"')


# --- item 2: text that is not valid Unicode is an error for that input ---------------


def test_a_lone_surrogate_in_a_json_line_is_an_error_record_never_a_pass(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('"fine"\n"\\ud800"\n{"text": "a\\udc00b", "id": "m-3"}\n', encoding="utf-8")
    result = invoke("check", "--file", str(source))
    assert result.exit_code == 3, result.output
    records = records_in(result.stdout)
    assert records[0]["decision"] == "PASS"
    for record in records[1:]:
        assert "decision" not in record
        assert record["error"]["type"] == "InvalidContent"
    assert "2 malformed" in result.stderr


def test_an_undecodable_argument_is_an_error_row_not_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "moderation_core", "check", "--json", "hello", b"bad \xff byte"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert b"Traceback" not in done.stderr
    first, second = records_in(done.stdout.decode())
    assert first["decision"] == "PASS"
    assert second["error"]["type"] == "InvalidContent"
    assert "PASS" not in json.dumps(second)
