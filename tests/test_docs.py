"""Docs that tests keep honest: every code block in README.md and docs/, the README's
commands, the hooks' signatures, the example plugin's code and every documented config key.

How the pages are run (``test_page_code_blocks_run``); the default is that a block runs:

- Every ```python block runs, in page order, in one namespace per page, so a block may
  use what an earlier block of the same page set up; a block with a top-level ``await``
  runs in ``asyncio.run``. Assertions in a block state what its prose claims.
- Every ```toml block is a whole config, loaded the way ``moderation config check``
  loads it (``load_config``, then a ``Moderator``, which builds every provider and the
  policy), then saved as ``moderation.toml`` in the page's folder for the blocks after it.
- ``<!-- doctest: fragment -->`` on the line before a ```toml fence: part of a config
  (a ``[policy]`` table, say), loaded on top of the default config (the local engine).
- ``<!-- doctest: skip REASON -->`` on the line before a fence: not run (a listing of
  signatures, a pyproject.toml, a framework's handler); the reason is required.
- Each page runs in a fresh temporary folder holding ``PAGE_FILES[page]``, with the
  Tencent Chat and Huanxin emulators served over real HTTP and the variables of the
  ``emulators`` fixture set, so a block that needs a vendor reads
  ``${TENCENT_IM_BASE_URL}`` (or ``os.environ``) and friends; the example plugin is
  installed for docs/plugins.md, as its prose says to.
- Fences may be indented (inside a list item). Other languages (sh, plain) are not run.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import re
import sys
import textwrap
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import moderation_core
from moderation_core import Moderator, default_plugin_manager, make_plugin_manager
from moderation_core._config import DEFAULT_CONFIG, ModerationSettings, load_config
from moderation_core._plugins import HookSpecs, provider_registry
from moderation_core._serve import EmulatorServer, serve_emulator
from moderation_huanxin import HuanxinConfig
from moderation_huanxin import emulator as huanxin_emulator
from moderation_tencent_chat import TencentChatConfig
from moderation_tencent_chat import emulator as tencent_emulator

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PLUGINS = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXAMPLE_PLUGIN = ROOT / "examples" / "moderation_example"

# Files a page takes for granted in the folder it is read from.
PAGE_FILES: dict[str, dict[str, str]] = {
    "docs/config.md": {"moderation.toml": '[providers.local]\ntype = "local"\n'},
    "docs/providers/local.md": {
        "words/abuse.txt": "# one term a line\n蠢货\n",
        "words/brands.txt": "acme\n",
    },
}

FENCE = re.compile(r"^\s*```(\w*)")
MARKER = re.compile(r"^<!-- doctest: (skip \S.*|fragment) -->$")


@attrs.frozen
class Block:
    language: str
    code: str
    line: int  # of the fence, 1-based
    marker: str | None  # "fragment", "skip ...", or None


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_readme_opens_with_the_two_commands() -> None:
    first_block = code_blocks(README, "sh")[0].splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == ["./dev demo", "./dev test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\n./dev test\n" in ci


def page_blocks(page: Path) -> list[Block]:
    """The page's fenced blocks, each with the doctest marker on the line before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    start: int | None = None
    language = ""
    for number, line in enumerate(lines):
        fence = FENCE.match(line)
        if fence is None:
            continue
        if start is None:
            start, language = number, fence.group(1)
            continue
        marker = MARKER.match(lines[start - 1].strip()) if start else None
        code = textwrap.dedent("\n".join(lines[start + 1 : number]) + "\n")
        blocks.append(Block(language, code, start + 1, marker.group(1) if marker else None))
        start = None
    return blocks


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, str]]:
    """The vendor emulators over real HTTP, and the environment the docs' blocks read."""
    tencent = serve_emulator(tencent_emulator.make_emulator())
    huanxin = serve_emulator(huanxin_emulator.make_emulator())
    servers: list[EmulatorServer] = [tencent, huanxin]
    try:
        yield {
            "TENCENT_IM_BASE_URL": tencent.url,
            "TENCENT_IM_SECRET_KEY": tencent_emulator.DEMO_SECRET_KEY,
            "HUANXIN_BASE_URL": huanxin.url,
            "HUANXIN_CLIENT_ID": huanxin_emulator.DEFAULT_CLIENT_ID,
            "HUANXIN_CLIENT_SECRET": huanxin_emulator.DEFAULT_CLIENT_SECRET,
            "HUANXIN_CALLBACK_SECRET": "docs-callback-secret",
            "ACME_API_KEY": "demo-key",
            "MODERATION_API_KEY": "docs-service-key",
        }
    finally:
        for server in servers:
            server.stop()


def install_example_plugin(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``pip install -e examples/moderation_example`` exposes: its entry point and module."""
    dist = site / "moderation_example-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: moderation-example\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[moderation_core]\nacme = moderation_example\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, "moderation_example", raising=False)


def load_toml_block(block: Block) -> None:
    """Check a config block as ``moderation config check`` does, then save it for later blocks."""
    data: dict[str, Any] = tomllib.loads(block.code)
    if block.marker == "fragment":
        data = {**DEFAULT_CONFIG, **data}
    else:
        Path("moderation.toml").write_text(block.code, encoding="utf-8")
    # A fresh plugin manager: the process-wide one was made before a page installed a plugin.
    Moderator(load_config(data), plugin_manager=make_plugin_manager()).close()


def run_python_block(block: Block, page: str, namespace: dict[str, Any]) -> None:
    # Padded so that a traceback names the page's own line numbers.
    source = "\n" * block.line + block.code
    code = compile(source, page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))  # noqa: S307 - our own docs
    else:
        exec(code, namespace)  # noqa: S102 - our own docs


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_page_code_blocks_run(
    page: Path,
    emulators: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    name = str(page.relative_to(ROOT))
    for variable, value in emulators.items():
        monkeypatch.setenv(variable, value)
    folder = tmp_path / "page"
    for relative, text in PAGE_FILES.get(name, {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, encoding="utf-8")
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    if name == "docs/plugins.md":
        install_example_plugin(tmp_path / "site", monkeypatch)
        # Discovery is once per process: forget the one made before this install, and after it.
        default_plugin_manager.cache_clear()
        request.addfinalizer(default_plugin_manager.cache_clear)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    try:
        for block in page_blocks(page):
            if block.marker is not None and block.marker.startswith("skip"):
                continue
            if block.language == "python":
                run_python_block(block, name, namespace)
            elif block.language == "toml":
                load_toml_block(block)
    finally:
        for value in namespace.values():
            if isinstance(value, Moderator):
                value.close()


def test_doctest_markers_sit_on_a_fence() -> None:
    """A marker that is not right above a fence would silently run the block it meant to skip."""
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.strip().startswith("<!-- doctest"):
                assert MARKER.match(line.strip()), f"{page}:{number + 1}: unknown marker {line}"
                following = lines[number + 1] if number + 1 < len(lines) else ""
                assert FENCE.match(following), f"{page}:{number + 1}: marker not above a fence"


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    documented = code_blocks(PLUGINS, "python")[0]
    hooks = [name for name in vars(HookSpecs) if not name.startswith("_")]
    assert hooks
    for name in hooks:
        signature = inspect.signature(getattr(HookSpecs, name))
        params = [p for p in signature.parameters.values() if p.name != "self"]
        shown = ", ".join(f"{p.name}: {p.annotation}" for p in params)
        returns = signature.return_annotation
        assert f"def {name}({shown}) -> {returns}:" in documented, name


def test_docs_show_the_example_plugin_as_it_is() -> None:
    example = ROOT / "examples" / "moderation_example"
    assert (example / "moderation_example.py").read_text(encoding="utf-8").rstrip() in PLUGINS
    assert (example / "pyproject.toml").read_text(encoding="utf-8").rstrip() in PLUGINS


def test_every_moderation_key_is_in_the_config_reference() -> None:
    reference = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    for field in ModerationSettings.__attrs_attrs__:
        assert f"| `{field.name}` |" in reference, field.name


def _http_provider_defaults() -> dict[str, float | None]:
    registry = provider_registry(default_plugin_manager())
    defaults: dict[str, float | None] = {}
    for provider_type in registry:
        fields = attrs.fields_dict(registry.get(provider_type).config_class)
        if "rate_limit" in fields:
            defaults[provider_type] = fields["rate_limit"].default
    return defaults


@pytest.mark.parametrize(("provider_type", "default"), sorted(_http_provider_defaults().items()))
def test_default_rate_limits_are_the_code_s(provider_type: str, default: float | None) -> None:
    """config.md's rate_limit row names every built-in HTTP provider's default."""
    reference = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    row = next(line for line in reference.splitlines() if line.startswith("| `rate_limit` |"))
    if default is None:
        assert f"`{provider_type}`" in row.split("none for", 1)[1]
        return
    assert f"`{provider_type}`: {default:g}" in row


@pytest.mark.parametrize(
    ("provider_type", "config_class"),
    [("tencent_chat", TencentChatConfig), ("huanxin", HuanxinConfig)],
)
def test_the_chat_vendor_pages_state_their_default_rate_limit(
    provider_type: str, config_class: type
) -> None:
    default = f"{attrs.fields(config_class).rate_limit.default:g}"
    page = (ROOT / "docs" / "providers" / f"{provider_type}.md").read_text(encoding="utf-8")
    assert f"# rate_limit = {default} " in page
    assert re.search(rf"default(s to)? {default}\b", page)


def test_public_surface_is_sorted_and_complete() -> None:
    exported = moderation_core.__all__
    assert exported == sorted(exported)
    # Subpackages (moderation_core.testing, .service) are public by their own __all__.
    public = {
        name
        for name, value in vars(moderation_core).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(exported)
    # Plugins mark hook implementations; the hook specs are the core's own.
    assert "hookimpl" in exported
    assert "hookspec" not in exported
