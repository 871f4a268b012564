"""`./dev`, the one entry point: its help text and `./dev bench` (issue 9 items 19, 20)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BASH = shutil.which("bash")  # one resolved path for every subprocess below (ruff S607)

pytestmark = pytest.mark.skipif(BASH is None, reason="./dev is a bash script")


def project_copy(tmp_path: Path, benchmarks: dict[str, str]) -> Path:
    """A throwaway project holding `dev`, a bench/ folder and a .venv that is already
    bootstrapped (its stamp matches), so `./dev` runs without installing anything."""
    shutil.copy(ROOT / "dev", tmp_path / "dev")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (tmp_path / "bench").mkdir()
    for name, source in benchmarks.items():
        (tmp_path / "bench" / name).write_text(source, encoding="utf-8")
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    stamp = hashlib.sha256(
        (tmp_path / "pyproject.toml").read_bytes() + (tmp_path / "dev").read_bytes()
    )
    (tmp_path / ".venv" / ".installed").write_text(stamp.hexdigest() + "\n", encoding="utf-8")
    return tmp_path


def run_dev(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BASH), str(project / "dev"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_help_shows_the_jobs_not_the_script() -> None:
    done = subprocess.run(
        [str(BASH), str(ROOT / "dev"), "help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "./dev bench" in done.stdout
    assert "set -" not in done.stdout
    assert "pipefail" not in done.stdout


def test_bench_runs_every_benchmark_with_its_defaults_and_reports_failures(
    tmp_path: Path,
) -> None:
    project = project_copy(
        tmp_path,
        {
            "_common.py": "raise SystemExit('a helper was run as a benchmark')\n",
            "_emulator.py": "raise SystemExit('a helper was run as a benchmark')\n",
            "alpha.py": "import sys\nprint('alpha ran', sys.argv[1:])\nsys.exit(3)\n",
            "beta.py": "import sys\nprint('beta ran', sys.argv[1:])\n",
        },
    )
    done = run_dev(project, "bench")
    assert done.returncode != 0
    assert "helper" not in done.stdout + done.stderr
    # alpha failed first; beta still ran, with no options of anyone else's
    assert "alpha ran []" in done.stdout
    assert "beta ran []" in done.stdout
    assert "bench/alpha.py" in done.stderr
    assert "bench/beta.py" not in done.stderr


def test_bench_succeeds_when_every_benchmark_does(tmp_path: Path) -> None:
    project = project_copy(
        tmp_path, {"_common.py": "raise SystemExit(1)\n", "one.py": "print(1)\n"}
    )
    done = run_dev(project, "bench")
    assert done.returncode == 0, done.stderr


def test_bench_name_runs_one_benchmark_with_its_options(tmp_path: Path) -> None:
    project = project_copy(
        tmp_path,
        {"one.py": "import sys\nprint('one', sys.argv[1:])\n", "two.py": "print('two')\n"},
    )
    done = run_dev(project, "bench", "one", "--rounds", "5")
    assert done.returncode == 0, done.stderr
    assert "one ['--rounds', '5']" in done.stdout
    assert "two" not in done.stdout
