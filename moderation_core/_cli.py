"""The ``moderation`` command (also ``python -m moderation_core``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ._config import load_config
from ._errors import AllProvidersFailed, ConfigError, InvalidContent, ModerationError
from ._model import Content, ContentType, Decision, Verdict
from ._moderator import Moderator
from ._plugins import default_plugin_manager, provider_registry
from ._serve import serve_emulator

__all__ = ["main"]

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_PROVIDERS_FAILED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
CHUNK_LINES = 1000

_FAIL_ON = {"block": Decision.BLOCK, "review": Decision.REVIEW}
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MODERATION_CONFIG",
    help="TOML config (default: the offline local engine). Env: MODERATION_CONFIG.",
)


def verdict_record(verdict: Verdict) -> dict[str, Any]:
    """A verdict as JSON-ready data (the vendor's raw payload left out)."""
    return {
        "decision": verdict.decision.value,
        "label": verdict.label.value,
        "sublabel": verdict.sublabel,
        "score": verdict.score,
        "keywords": list(verdict.keywords),
        "masked_text": verdict.masked_text,
        "provider": verdict.provider,
        "vendor_label": verdict.vendor_label,
        "request_id": verdict.request_id,
        "content_id": verdict.content_id,
        "fallback": verdict.fallback,
    }


def error_record(error: BaseException) -> dict[str, Any]:
    record: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, AllProvidersFailed):
        record["errors"] = [
            {
                "type": type(e).__name__,
                "provider": getattr(e, "provider", None),
                "code": getattr(e, "code", None),
                "message": str(e),
            }
            for e in error.exceptions
        ]
    return record


class _CliError(click.ClickException):
    exit_code = EXIT_USAGE


def _moderator(config_path: Path | None) -> Moderator:
    try:
        return Moderator(config_path) if config_path else Moderator()
    except ConfigError as exc:
        raise _CliError(f"config: {exc}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="moderation-core")
def main() -> None:
    """Check chat messages, images, clips and profiles with one vocabulary
    (PASS / REVIEW / BLOCK plus a shared label), whichever vendor is configured.

    With no --config, the offline local engine answers: no account, no network.
    """


@main.command()
@click.argument("texts", nargs=-1)
@click.option(
    "--image", "images", multiple=True, metavar="URL", help="An image URL to check (repeatable)."
)
@click.option(
    "--audio", "audios", multiple=True, metavar="URL", help="An audio URL to check (repeatable)."
)
@click.option(
    "--video", "videos", multiple=True, metavar="URL", help="A video URL to check (repeatable)."
)
@click.option("--scene", help="Scene / moderation config, e.g. C2C, Group, UserInfo.")
@click.option("--sender", help="Sender id, passed to vendors that record it.")
@click.option("--receiver", help="Receiver or group id.")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON record per content.")
@click.option(
    "--file",
    "in_file",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
    help="Check a JSONL file: each line a JSON string (text) or an object with "
    '"text" (or "type" and "value"/"url"), optional "id", "scene", "sender", "receiver".',
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default="-",
    show_default=True,
    help="With --file: where to write one JSON result per input line.",
)
@click.option("--no-progress", is_flag=True, help="With --file: no progress bar.")
@click.option(
    "--fail-on",
    type=click.Choice(["block", "review"]),
    help="Exit 1 when any content is blocked (block) or flagged at all (review).",
)
def check(
    texts: tuple[str, ...],
    images: tuple[str, ...],
    audios: tuple[str, ...],
    videos: tuple[str, ...],
    scene: str | None,
    sender: str | None,
    receiver: str | None,
    config_path: Path | None,
    as_json: bool,
    in_file: Path | None,
    out_file: Path,
    no_progress: bool,
    fail_on: str | None,
) -> None:
    """Check TEXTS and media URLs, or a whole JSONL file with --file.

    \b
    Examples:
      moderation check "你好" "加我微信 abc12345"
      moderation check --image https://example.com/a.jpg --config moderation.toml
      moderation check --file in.jsonl --out out.jsonl --fail-on block

    Exit status: 0 done, 1 findings at or above --fail-on, 2 usage or config
    error, 3 every provider failed.
    """
    threshold = _FAIL_ON.get(fail_on) if fail_on else None
    if in_file is not None:
        if texts or images or audios or videos:
            raise _CliError("give either TEXTS/--image/--audio/--video or --file, not both")
        worst = _check_file(
            _moderator(config_path), in_file, out_file, scene, sender, receiver, not no_progress
        )
    else:
        contents: list[Content | str] = [
            *texts,
            *(Content.image(u) for u in images if _url_ok(u)),
            *(Content.audio(u) for u in audios if _url_ok(u)),
            *(Content.video(u) for u in videos if _url_ok(u)),
        ]
        if not contents:
            raise _CliError("nothing to check: give TEXTS, --image/--audio/--video URLs or --file")
        worst = _check_args(_moderator(config_path), contents, scene, sender, receiver, as_json)
    if threshold is not None and worst is not None and worst >= threshold:
        sys.exit(EXIT_FINDINGS)


def _url_ok(url: str) -> bool:
    if not url.lower().startswith(("http://", "https://")):
        raise _CliError(f"media must be an http(s) URL, got {url!r}")
    return True


def _check_args(
    moderator: Moderator,
    contents: Sequence[Content | str],
    scene: str | None,
    sender: str | None,
    receiver: str | None,
    as_json: bool,
) -> Decision | None:
    with moderator:
        try:
            results = moderator.check_many(
                contents, scene=scene, sender=sender, receiver=receiver, return_exceptions=True
            )
        except InvalidContent as exc:
            raise _CliError(str(exc)) from None
    shown = [c if isinstance(c, str) else c.value for c in contents]
    if as_json:
        for text, result in zip(shown, results, strict=True):
            record = (
                verdict_record(result)
                if isinstance(result, Verdict)
                else {"error": error_record(result)}
            )
            click.echo(json.dumps({"input": text, **record}, ensure_ascii=False))
    else:
        _print_table(shown, results)
    if any(isinstance(r, ModerationError) for r in results):
        sys.exit(EXIT_PROVIDERS_FAILED)
    return max((r.decision for r in results if isinstance(r, Verdict)), default=None)


_STYLE = {"PASS": "green", "REVIEW": "yellow", "BLOCK": "bold red", "PENDING": "cyan"}


def _print_table(shown: Sequence[str], results: Sequence[Verdict | ModerationError]) -> None:
    table = Table(show_lines=False, header_style="bold")
    for column in ("decision", "label", "keywords", "text (masked)", "provider"):
        table.add_column(column, overflow="fold")
    for text, result in zip(shown, results, strict=True):
        if isinstance(result, Verdict):
            label = result.label.value + (f"/{result.sublabel}" if result.sublabel else "")
            style = _STYLE[result.decision.value]
            table.add_row(
                f"[{style}]{result.decision.value}[/]",
                label,
                " | ".join(result.keywords),
                result.masked_text or text,
                result.provider or "-",
            )
        else:
            table.add_row("[bold magenta]ERROR[/]", type(result).__name__, "", str(result), "-")
    Console(soft_wrap=False).print(table)


def _parse_line(line: str) -> tuple[Content, tuple[str | None, str | None, str | None]]:
    """One JSONL input line into a Content and its (scene, sender, receiver)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidContent(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if isinstance(data, str):
        return Content.text(data), (None, None, None)
    if not isinstance(data, dict):
        raise InvalidContent("expected a JSON string or object")
    content_id = data.get("id")
    if "text" in data:
        content = Content(ContentType.TEXT, data["text"], id=content_id)
    else:
        kind = str(data.get("type", "")).lower()
        try:
            content_type = ContentType(kind)
        except ValueError:
            raise InvalidContent(
                'expected "text", or "type" (text, image, audio, video) with "value" or "url"'
            ) from None
        value: Any = data.get("value", data.get("url"))
        content = Content(content_type, value, id=content_id)
    context = tuple(
        (str(data[k]) if data.get(k) is not None else None) for k in ("scene", "sender", "receiver")
    )
    return content, (context[0], context[1], context[2])


def _read_chunks(stream: IO[str], progress: Progress | None, task: Any) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in stream:
        chunk.append(line)
        if progress is not None:
            progress.advance(task, len(line.encode()))
        if len(chunk) == CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_file(
    moderator: Moderator,
    in_path: Path,
    out_path: Path,
    scene: str | None,
    sender: str | None,
    receiver: str | None,
    show_progress: bool,
) -> Decision | None:
    worst: Decision | None = None
    err = Console(stderr=True)
    total = in_path.stat().st_size if str(in_path) != "-" else None
    progress = Progress(
        TextColumn("checking"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not (show_progress and err.is_terminal),
    )
    line_number = 0
    with (
        moderator,
        click.open_file(str(in_path), "r", encoding="utf-8") as source,
        click.open_file(str(out_path), "w", encoding="utf-8") as sink,
        progress,
    ):
        task = progress.add_task("check", total=total)
        for chunk in _read_chunks(source, progress, task):
            records: list[dict[str, Any]] = []
            groups: dict[tuple[str | None, str | None, str | None], list[tuple[int, Content]]] = {}
            for offset, line in enumerate(chunk):
                number = line_number + offset + 1
                record: dict[str, Any] = {"line": number}
                records.append(record)
                if not line.strip():
                    record["error"] = {"type": "InvalidContent", "message": "empty line"}
                    continue
                try:
                    content, (s, f, r) = _parse_line(line)
                except InvalidContent as exc:
                    record["error"] = error_record(exc)
                    continue
                record["id"] = content.id
                context = (s or scene, f or sender, r or receiver)
                groups.setdefault(context, []).append((offset, content))
            for (s, f, r), members in groups.items():
                try:
                    results = moderator.check_many(
                        [c for _, c in members],
                        scene=s,
                        sender=f,
                        receiver=r,
                        return_exceptions=True,
                    )
                except InvalidContent:
                    # Some item no provider takes: check one by one so only it fails.
                    results = [_check_one(moderator, c, s, f, r) for _, c in members]
                for (offset, _), result in zip(members, results, strict=True):
                    if isinstance(result, Verdict):
                        records[offset].update(verdict_record(result))
                        worst = result.decision if worst is None else max(worst, result.decision)
                    else:
                        records[offset]["error"] = error_record(result)
            for record in records:
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            line_number += len(chunk)
    return worst


def _check_one(
    moderator: Moderator,
    content: Content,
    scene: str | None,
    sender: str | None,
    receiver: str | None,
) -> Verdict | ModerationError:
    try:
        return moderator.check(content, scene=scene, sender=sender, receiver=receiver)
    except ModerationError as exc:
        return exc


@main.command()
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def providers(config_path: Path | None, as_json: bool) -> None:
    """List installed provider types, and the configured providers' capabilities."""
    registry = provider_registry(default_plugin_manager())
    moderator = _moderator(config_path)
    configured: list[dict[str, Any]] = [dict(p.describe()) for p in moderator.providers]
    installed: list[dict[str, Any]] = [
        {
            "type": kind,
            "description": registry.get(kind).description,
            "emulator": registry.get(kind).emulator is not None,
        }
        for kind in registry
    ]
    if as_json:
        click.echo(json.dumps({"installed": installed, "configured": configured}, indent=2))
        return
    console = Console()
    table = Table(title="installed provider types", header_style="bold")
    for column in ("type", "description", "emulator"):
        table.add_column(column)
    for row in installed:
        table.add_row(row["type"], row["description"], "yes" if row["emulator"] else "-")
    console.print(table)
    table = Table(title=f"configured ({moderator.config.source})", header_style="bold")
    for column in ("name", "type", "content types", "batch", "max text bytes", "deferred"):
        table.add_column(column)
    for row in configured:
        table.add_row(
            row["name"],
            row["type"],
            ", ".join(row["content_types"]),
            str(row["batch_size"]),
            str(row["max_text_bytes"] or "-"),
            ", ".join(row["deferred_types"]) or "-",
        )
    console.print(table)


@main.group()
def config() -> None:
    """Work with config files."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE: syntax, keys, environment variables, provider types and lexicons."""
    try:
        moderator = Moderator(load_config(file))
    except ConfigError as exc:
        raise _CliError(str(exc)) from None
    names = ", ".join(f"{p.name} ({p.type})" for p in moderator.providers)
    moderator.close()
    click.echo(f"{file}: OK; providers in order: {names}")


@main.command()
@click.argument("provider_type")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9000, show_default=True)
@click.option(
    "--threads/--no-threads",
    default=True,
    show_default=True,
    help="Answer from a thread pool (needed for slow-answer faults) or inline (faster).",
)
@click.option(
    "--set",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An emulator option, e.g. --set rate_limit=200 (see the provider's docs).",
)
def emulate(
    provider_type: str, host: str, port: int, threads: bool, options: tuple[str, ...]
) -> None:
    """Serve PROVIDER_TYPE's vendor emulator over HTTP (for demos, tests, benchmarks)."""
    registry = provider_registry(default_plugin_manager())
    try:
        factory = registry.get(provider_type).emulator
    except ConfigError as exc:
        raise _CliError(str(exc)) from None
    if factory is None:
        raise _CliError(f"provider type {provider_type!r} has no emulator")
    settings: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise _CliError(f"--set takes KEY=VALUE, got {option!r}")
        settings[key.strip()] = value.strip()
    try:
        emulator = factory(**settings)
    except (TypeError, ValueError) as exc:
        raise _CliError(f"emulator option: {exc}") from None
    server = serve_emulator(emulator, host, port, threaded=threads)
    click.echo(f"{provider_type} emulator listening on {server.url} (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        # Ctrl-C is how this command is meant to end: stop quietly, with the shell's status.
        server.stop()
        sys.exit(EXIT_INTERRUPTED)
    server.stop()
