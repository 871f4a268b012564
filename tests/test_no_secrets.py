"""No secret may land in a recorded file: every cassette and fixture in the repo is
scanned for the test suite's fake credentials and for the shapes real ones take."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import fake_secrets as secrets

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ("*.yaml", "*.yml", "*.json", "*.jsonl")
SKIP = {".venv", ".git", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

# Shapes of real secrets: an unfiltered UserSig in a query, an Easemob app token, a
# client secret field with a value, an Authorization header with a bearer credential.
SHAPES = [
    re.compile(r"usersig=(?!FILTERED)[A-Za-z0-9*_-]{20,}"),
    re.compile(r"YWMt[A-Za-z0-9_-]{10,}"),
    re.compile(r"\"?client_secret\"?\s*[:=]\s*\"?(?!FILTERED)[A-Za-z0-9_-]{8,}"),
    re.compile(r"Bearer (?!FILTERED)[A-Za-z0-9._-]{8,}"),
]


def recorded_files() -> list[Path]:
    found = (path for pattern in RECORDED for path in ROOT.rglob(pattern))
    return sorted(p for p in found if not SKIP.intersection(p.relative_to(ROOT).parts))


def test_scanner_finds_what_it_should(tmp_path: Path) -> None:
    leaked = (
        f"uri: https://x/v4?usersig=eJyrVgrxCdYrSy1SslJQMtIzUNJRAI&k={secrets.TENCENT_SECRET_KEY}"
    )
    assert any(shape.search(leaked) for shape in SHAPES)
    assert secrets.TENCENT_SECRET_KEY in leaked
    assert not any(shape.search("uri: https://x/v4?usersig=FILTERED&random=1") for shape in SHAPES)


@pytest.mark.parametrize("path", recorded_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_recorded_file_holds_no_secret(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    for secret in secrets.ALL:
        assert secret not in text, f"{path} contains a test credential"
    for shape in SHAPES:
        match = shape.search(text)
        assert match is None, f"{path} looks like it holds a secret: {match.group(0)[:24]}..."
