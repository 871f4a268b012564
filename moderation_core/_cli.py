"""The ``moderation`` command (also ``python -m moderation_core``).

``check`` has two shapes. TEXTS and media URLs on the command line give a table (or
``--json``). Bulk input -- ``--file``, ``check -`` or piped stdin -- streams one JSON
record per input line, in input order, to ``--out``; every input line gets exactly
one record (a verdict or an error), so nothing is lost and ``--resume`` can continue
an interrupted run. Exit statuses are one table for every shape (``EXIT_*`` below).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any, Literal

import attrs
import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ._config import _without_password, load_config
from ._errors import AllProvidersFailed, ConfigError, InvalidContent, ModerationError
from ._model import Content, ContentType, Decision, Verdict
from ._plugins import default_plugin_manager, provider_registry
from ._serve import serve_emulator
from ._sync import Moderator

__all__ = ["main"]

# One exit-status table for every mode (args, stdin, --file); documented in `check --help`
# and docs/cli.md. When several apply, the first in this order wins: interrupted, usage,
# unanswered, findings.
EXIT_FINDINGS = 1  # some verdict met --fail-on
EXIT_USAGE = 2  # bad options or config; nothing was checked
EXIT_UNANSWERED = 3  # some input got an error instead of a verdict (failed or malformed)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
CHUNK_LINES = 1000
REDIS_PING_TIMEOUT = 2.0  # seconds; `config check` must answer promptly when Redis is down

Format = Literal["text", "jsonl"]
CheckContext = tuple[str | None, str | None, str | None]  # scene, sender, receiver

_FAIL_ON = {"block": Decision.BLOCK, "review": Decision.REVIEW}
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MODERATION_CONFIG",
    help="TOML config (default: the offline local engine). Env: MODERATION_CONFIG.",
)


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
    help="Check a file, one input a line (- is stdin). In JSONL each line is a JSON string "
    '(text) or an object with "text" (or "type" and "value"/"url"), optional "id", '
    '"scene", "sender", "receiver".',
)
@click.option(
    "--format",
    "in_format",
    type=click.Choice(["text", "jsonl"]),
    help="With --file or stdin: text (one message a line) or jsonl. "
    "Default: jsonl for --file, text for stdin.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default="-",
    show_default=True,
    help="With --file or stdin: where to write one JSON result per input line. A file is "
    "written to a temporary file and renamed when done; it may not be the input.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="With --out FILE: keep the results already in FILE and check only the input "
    "lines after the last one it answers.",
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
    in_format: Format | None,
    out_file: Path,
    resume: bool,
    no_progress: bool,
    fail_on: str | None,
) -> None:
    """Check TEXTS and media URLs; or many messages, one a line, from a file (--file)
    or stdin (`check -`, or a pipe with no TEXTS).

    \b
    Examples:
      moderation check "你好" "加我微信 abc12345"
      moderation check --image https://example.com/a.jpg --config moderation.toml
      echo "加我微信 abc12345" | moderation check - --fail-on block
      moderation check --file in.jsonl --out out.jsonl --fail-on block
      moderation check --file chat.txt --format text --out out.jsonl --resume

    \b
    Bulk output: one JSON record per input line, in input order, each with its
    "line" number and either the verdict or an "error". A summary line (checked,
    flagged, failed, malformed) goes to stderr at the end.

    \b
    Exit status (the same in every mode; the first that applies wins):
      130  interrupted by Ctrl-C (SIGINT); 143 stopped by SIGTERM. With --out FILE,
           FILE keeps whole records up to the line named on stderr: --resume goes on
      2    usage or config error; nothing was checked
      3    some input got no verdict: every provider failed, or it was invalid,
           malformed JSON or not UTF-8 (its record holds the error)
      1    some verdict met --fail-on
      0    every input checked, none met --fail-on
    """
    threshold = _FAIL_ON.get(fail_on) if fail_on else None
    media = bool(images or audios or videos)
    reads_stdin = texts == ("-",) or (
        not texts and not media and in_file is None and not _stdin_is_terminal()
    )
    try:
        if in_file is not None or reads_stdin:
            if in_file is not None and (texts or media):
                raise _CliError("give either TEXTS/--image/--audio/--video or --file, not both")
            if reads_stdin and media:
                raise _CliError("give either - (stdin) or --image/--audio/--video, not both")
            job = _BulkJob(
                source=in_file or Path("-"),
                out=out_file,
                fmt=in_format or ("jsonl" if in_file is not None else "text"),
                context=(scene, sender, receiver),
                resume=resume,
                show_progress=not no_progress,
                need_input=in_file is None,
            )
            status = _run_bulk(config_path, job, threshold)
        else:
            if "-" in texts:
                raise _CliError("- reads messages from stdin and takes no other TEXTS")
            if in_format is not None or resume:
                raise _CliError("--format and --resume go with --file or stdin input")
            status = _run_args(
                config_path,
                texts,
                images,
                audios,
                videos,
                as_json,
                threshold,
                (scene, sender, receiver),
            )
    except KeyboardInterrupt:
        click.echo("moderation: interrupted", err=True)
        status = EXIT_INTERRUPTED
    sys.exit(status)


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _url_ok(url: str) -> bool:
    if not url.lower().startswith(("http://", "https://")):
        raise _CliError(f"media must be an http(s) URL, got {url!r}")
    return True


def _exit_status(unanswered: int, worst: Decision | None, threshold: Decision | None) -> int:
    if unanswered:
        return EXIT_UNANSWERED
    if threshold is not None and worst is not None and worst >= threshold:
        return EXIT_FINDINGS
    return 0


def _printable(text: str) -> str:
    """Text safe to print: an undecodable argv byte or a lone surrogate is shown escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _run_args(
    config_path: Path | None,
    texts: tuple[str, ...],
    images: tuple[str, ...],
    audios: tuple[str, ...],
    videos: tuple[str, ...],
    as_json: bool,
    threshold: Decision | None,
    context: CheckContext,
) -> int:
    contents: list[Content | str] = [
        *texts,
        *(Content.image(u) for u in images if _url_ok(u)),
        *(Content.audio(u) for u in audios if _url_ok(u)),
        *(Content.video(u) for u in videos if _url_ok(u)),
    ]
    if not contents:
        raise _CliError("nothing to check: give TEXTS, --image/--audio/--video URLs, - or --file")
    with _moderator(config_path) as moderator:
        results = _check_batch(moderator, contents, context)
    shown = [_printable(c if isinstance(c, str) else c.value) for c in contents]
    if as_json:
        for text, result in zip(shown, results, strict=True):
            record = (
                result.to_dict()  # the public JSON form, as the service answers
                if isinstance(result, Verdict)
                else {"error": error_record(result)}
            )
            click.echo(_json_line({"input": text, **record}), nl=False)
    else:
        _print_table(shown, results)
    unanswered = sum(not isinstance(r, Verdict) for r in results)
    worst = max((r.decision for r in results if isinstance(r, Verdict)), default=None)
    return _exit_status(unanswered, worst, threshold)


def _check_batch(
    moderator: Moderator, contents: Sequence[Content | str], context: CheckContext
) -> list[Verdict | ModerationError]:
    """One result per content, in order; an item that fails holds its error."""
    scene, sender, receiver = context
    try:
        return moderator.check_many(
            contents, scene=scene, sender=sender, receiver=receiver, return_exceptions=True
        )
    except Exception:
        return [_check_one(moderator, c, context) for c in contents]


def _check_one(
    moderator: Moderator, content: Content | str, context: CheckContext
) -> Verdict | ModerationError:
    scene, sender, receiver = context
    try:
        return moderator.check(content, scene=scene, sender=sender, receiver=receiver)
    except ModerationError as exc:
        return exc
    except Exception as exc:
        # Only the type: an unexpected error's text may quote a request URL and its secrets.
        return ModerationError(f"unexpected {type(exc).__name__} while checking")


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
            table.add_row(
                "[bold magenta]ERROR[/]", type(result).__name__, "", _printable(str(result)), "-"
            )
    Console(soft_wrap=False).print(table)


# --- bulk input: --file, `check -`, piped stdin ----------------------------------------


@attrs.frozen
class _BulkJob:
    source: Path  # Path("-") is stdin
    out: Path  # Path("-") is stdout
    fmt: Format
    context: CheckContext  # the command line's scene, sender, receiver
    resume: bool
    show_progress: bool
    need_input: bool  # stdin standing in for TEXTS: no input at all is a usage error


@attrs.define
class _Tally:
    """What the records written so far say; drives the summary line and exit status."""

    lines: int = 0
    checked: int = 0
    flagged: int = 0
    failed: int = 0
    malformed: int = 0
    worst: Decision | None = None

    def count(self, record: dict[str, Any]) -> None:
        self.lines += 1
        if "decision" in record:
            decision = Decision(record["decision"])
            self.checked += 1
            self.flagged += decision >= Decision.REVIEW
            self.worst = decision if self.worst is None else max(self.worst, decision)
        elif record.get("error", {}).get("type") == InvalidContent.__name__:
            self.malformed += 1
        else:
            self.failed += 1

    def summary(self) -> str:
        return (
            f"moderation: {self.lines} lines: {self.checked} checked, {self.flagged} flagged, "
            f"{self.failed} failed, {self.malformed} malformed"
        )


class _Stopped(BaseException):
    """SIGINT or SIGTERM during a bulk run; a BaseException so no ``except Exception``
    on the way up can swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _StopSignals:
    """Turn SIGINT and SIGTERM into ``_Stopped``, except while a chunk of records is being
    written: then the stop waits for the write, so the output holds only whole lines."""

    def __init__(self) -> None:
        self._writing = False
        self._pending: int | None = None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._writing:
            self._pending = signum
        else:
            raise _Stopped(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self._pending is not None:
            raise _Stopped(self._pending)


class _Sink:
    """Where records go: stdout, OUT appended to (--resume), or a temporary file beside
    OUT renamed over it at the end, so a failed run never leaves OUT half-written."""

    def __init__(self, out: Path, *, append: bool) -> None:
        self.out = out
        self._temp: Path | None = None
        try:
            if str(out) == "-":
                self.stream: IO[bytes] = sys.stdout.buffer
            elif append:
                self.stream = out.open("ab")
            else:
                fd, name = tempfile.mkstemp(
                    dir=out.parent, prefix=f".{out.name}.", suffix=".partial"
                )
                self._temp = Path(name)
                os.chmod(fd, _mode_for(out))
                self.stream = os.fdopen(fd, "wb")
        except OSError as exc:
            raise _CliError(f"cannot write {out}: {exc.strerror}") from None

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()

    def commit(self) -> None:
        """Whole records written so far become OUT."""
        if str(self.out) == "-":
            return
        self.stream.close()
        if self._temp is not None:
            os.replace(self._temp, self.out)

    def discard(self) -> None:
        if str(self.out) == "-":
            return
        self.stream.close()
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)


def _mode_for(out: Path) -> int:
    """OUT keeps its permissions; a new OUT gets the usual ones (the temp file's 0600 would not)."""
    try:
        return out.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _refuse_same_file(source: Path, out: Path) -> None:
    """Writing results over the input would destroy it while it is read."""
    if str(out) == "-":
        return
    try:
        out_stat = out.stat()
    except OSError:
        return  # OUT does not exist yet, so it is not the input
    try:
        in_stat = os.fstat(sys.stdin.buffer.fileno()) if str(source) == "-" else source.stat()
    except (OSError, ValueError, AttributeError):
        return  # stdin without a file behind it (a test runner's buffer)
    if os.path.samestat(in_stat, out_stat):
        raise _CliError(
            f"--out {out} is the input file (same file, maybe by another name); "
            "it would be overwritten while it is read. Choose another --out."
        )


def _answered_lines(out: Path, tally: _Tally) -> int:
    """For --resume: how many input lines OUT already answers. OUT must hold records for
    lines 1..K in order (what this command writes); a torn last line from a killed run is
    cut off. Counts the kept records into ``tally``."""
    kept_bytes = 0
    try:
        with out.open("rb") as existing:
            for raw in existing:
                if not raw.endswith(b"\n"):
                    break  # torn by a kill: that input line is checked again
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
                expected = tally.lines + 1
                if not _is_record_for(record, expected):
                    raise _CliError(
                        f"--resume: {out} is not this command's output: its record "
                        f"{expected} is not a result for input line {expected}"
                    )
                tally.count(record)
                kept_bytes += len(raw)
        os.truncate(out, kept_bytes)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise _CliError(f"--resume: cannot read {out}: {exc.strerror}") from None
    return tally.lines


def _note(text: str) -> None:
    # Plain stderr, never wrapped: scripts and people grep these lines for the line number.
    click.echo(_printable(text), err=True)


def _is_record_for(record: object, line: int) -> bool:
    """Whether ``record`` is what this command writes for input ``line``."""
    if not isinstance(record, dict) or record.get("line") != line:
        return False
    if "decision" in record:
        return record["decision"] in {d.value for d in Decision}
    error = record.get("error")
    return isinstance(error, dict) and isinstance(error.get("type"), str)


def _run_bulk(config_path: Path | None, job: _BulkJob, threshold: Decision | None) -> int:
    if job.resume and str(job.out) == "-":
        raise _CliError("--resume needs --out FILE (it appends to FILE)")
    _refuse_same_file(job.source, job.out)
    tally = _Tally()
    skip = _answered_lines(job.out, tally) if job.resume else 0
    moderator = _moderator(config_path)
    err = Console(stderr=True)
    if skip:
        _note(f"moderation: resuming after line {skip} ({job.out} already answers it)")
    stop = _StopSignals()
    sink = _Sink(job.out, append=job.resume)
    try:
        with stop.installed(), moderator, _open_source(job.source) as source:
            read = _stream_records(moderator, job, source, sink, stop, tally, skip, err)
    except _Stopped as stopped:
        sink.commit()
        where = f"; {job.out} holds whole records up to it" if str(job.out) != "-" else ""
        resume = ": add --resume to continue" if str(job.out) != "-" else ""
        _note(f"moderation: stopped by {stopped}, after input line {tally.lines}{where}{resume}")
        _note(tally.summary())
        return EXIT_INTERRUPTED if stopped.signum == signal.SIGINT else EXIT_TERMINATED
    except BaseException:
        sink.discard()
        raise
    if job.need_input and read == 0:
        sink.discard()
        raise _CliError("nothing to check: stdin had no lines; give TEXTS, - or --file")
    sink.commit()
    _note(tally.summary())
    if read < skip:
        raise _CliError(
            f"--resume: {job.out} answers {skip} lines but the input has only {read}: "
            "is it the output of another input?"
        )
    return _exit_status(tally.failed + tally.malformed, tally.worst, threshold)


@contextlib.contextmanager
def _open_source(source: Path) -> Iterator[IO[bytes]]:
    if str(source) == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = source.open("rb")
    except OSError as exc:
        raise _CliError(f"cannot read {source}: {exc.strerror}") from None
    with stream:
        yield stream


def _stream_records(
    moderator: Moderator,
    job: _BulkJob,
    source: IO[bytes],
    sink: _Sink,
    stop: _StopSignals,
    tally: _Tally,
    skip: int,
    err: Console,
) -> int:
    """Check and write every input line after ``skip``; returns how many lines were read."""
    total = None if str(job.source) == "-" else job.source.stat().st_size
    progress = Progress(
        TextColumn("checking"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not (job.show_progress and err.is_terminal),
    )
    with progress:
        task = progress.add_task("check", total=total)
        number = 0
        chunk: list[tuple[int, bytes]] = []
        for raw in source:
            number += 1
            progress.advance(task, len(raw))
            if number <= skip:
                continue  # answered by the output being resumed
            chunk.append((number, raw))
            if len(chunk) == CHUNK_LINES:
                _write_chunk(moderator, job, chunk, sink, stop, tally)
                chunk = []
        if chunk:
            _write_chunk(moderator, job, chunk, sink, stop, tally)
    return number


def _write_chunk(
    moderator: Moderator,
    job: _BulkJob,
    chunk: list[tuple[int, bytes]],
    sink: _Sink,
    stop: _StopSignals,
    tally: _Tally,
) -> None:
    records = _answer_chunk(moderator, chunk, job.fmt, job.context)
    data = b"".join(_json_line(record).encode("utf-8") for record in records)
    with stop.deferred():
        sink.write(data)
        for record in records:
            tally.count(record)


def _json_line(record: dict[str, Any]) -> str:
    # A lone surrogate (from an id, say) is written as its JSON \\u escape, never a crash.
    text = json.dumps(record, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _answer_chunk(
    moderator: Moderator, chunk: list[tuple[int, bytes]], fmt: Format, defaults: CheckContext
) -> list[dict[str, Any]]:
    """One record per input line, in order. Lines sharing a scene, sender and receiver are
    checked in one ``check_many`` so vendors can batch them."""
    records: list[dict[str, Any]] = []
    groups: dict[CheckContext, list[tuple[int, Content]]] = {}
    for index, (number, raw) in enumerate(chunk):
        record: dict[str, Any] = {"line": number}
        records.append(record)
        try:
            content, own = _parse_input_line(raw, number, fmt)
        except InvalidContent as exc:
            record["error"] = error_record(exc)
            continue
        record["id"] = content.id
        context = (own[0] or defaults[0], own[1] or defaults[1], own[2] or defaults[2])
        groups.setdefault(context, []).append((index, content))
    for context, members in groups.items():
        results = _check_batch(moderator, [c for _, c in members], context)
        for (index, _), result in zip(members, results, strict=True):
            if isinstance(result, Verdict):
                records[index].update(result.to_dict())
            else:
                records[index]["error"] = error_record(result)
    return records


def _parse_input_line(raw: bytes, number: int, fmt: Format) -> tuple[Content, CheckContext]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidContent(
            f"line is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    if number == 1:
        line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
    line = line.removesuffix("\n").removesuffix("\r")
    if not line.strip():
        raise InvalidContent("empty line")
    if fmt == "text":
        return Content.text(line), (None, None, None)
    return _parse_json_line(line)


def _parse_json_line(line: str) -> tuple[Content, CheckContext]:
    """One JSONL input line into a Content and its (scene, sender, receiver)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidContent(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise InvalidContent("not JSON this command reads: nested too deeply") from None
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
            "emulator": registry.get(kind).emulator_factory is not None,
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
    columns = ("name", "type", "content types", "batch", "max text", "deferred")
    for column in columns:
        table.add_column(column)
    for row in configured:
        table.add_row(
            row["name"],
            row["type"],
            ", ".join(row["content_types"]),
            str(row["batch_size"]),
            _text_limit(row.get("max_text_bytes"), row.get("max_text_chars")),
            ", ".join(row["deferred_types"]) or "-",
        )
    console.print(table)


def _text_limit(max_bytes: int | None, max_chars: int | None) -> str:
    limits = [f"{n:,} {unit}" for n, unit in ((max_bytes, "bytes"), (max_chars, "chars")) if n]
    return " / ".join(limits) or "-"


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
    names = ", ".join(f"{p.name} ({p.provider_type})" for p in moderator.providers)
    redis_url = moderator.config.moderation.redis_url
    moderator.close()
    click.echo(f"{file}: OK; providers in order: {names}")
    if redis_url is not None:
        _warn_unless_redis_answers(redis_url)


def _warn_unless_redis_answers(url: str) -> None:
    """A valid config whose Redis is down still works, degraded (each process keeps its
    own limits, breakers, mutes and context), so this warns and `config check` still
    exits 0: a CI job validating a production config often cannot reach its Redis."""
    import redis  # noqa: PLC0415 - only with redis_url

    shown = _without_password(url)
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_PING_TIMEOUT, socket_timeout=REDIS_PING_TIMEOUT
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        # The type only: a driver's message may echo the URL and its password.
        click.echo(
            f"warning: redis_url {shown} does not answer a PING ({type(exc).__name__}); "
            "until it does, checks run on in-process state (limits, breakers, mutes and "
            "context per process, not shared)",
            err=True,
        )
        return
    click.echo(f"redis_url {shown}: answers", err=True)


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
    help="An emulator option, e.g. --set rate_limit=200 (see the provider's docs); "
    "callback_NAME=VALUE sets the platform's option NAME (with --callback-url).",
)
@click.option(
    "--callback-url",
    metavar="URL",
    help="Also play the chat platform: POST /platform/send sends its pre-send callback "
    "to URL and answers what became of the message (docs/service.md).",
)
def emulate(
    provider_type: str,
    host: str,
    port: int,
    threads: bool,
    options: tuple[str, ...],
    callback_url: str | None,
) -> None:
    """Serve PROVIDER_TYPE's vendor emulator over HTTP (for demos, tests, benchmarks)."""
    registry = provider_registry(default_plugin_manager())
    try:
        provider_class = registry.get(provider_type)
    except ConfigError as exc:
        raise _CliError(str(exc)) from None
    factory = provider_class.emulator_factory
    if factory is None:
        raise _CliError(f"provider type {provider_type!r} has no emulator")
    settings: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise _CliError(f"--set takes KEY=VALUE, got {option!r}")
        settings[key.strip()] = value.strip()
    platform_settings = {
        key.removeprefix("callback_"): settings.pop(key)
        for key in list(settings)
        if key.startswith("callback_")
    }
    try:
        emulator = factory(**settings)
    except (TypeError, ValueError) as exc:
        raise _CliError(f"emulator option: {exc}") from None
    if callback_url is not None:
        emulator = _playing_platform(provider_class, emulator, callback_url, platform_settings)
    server = serve_emulator(emulator, host, port, threaded=threads)
    click.echo(f"{provider_type} emulator listening on {server.url} (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        # Ctrl-C is how this command is meant to end: stop quietly, with the shell's status.
        server.stop()
        sys.exit(EXIT_INTERRUPTED)
    server.stop()


@main.command()
@_config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes; with several, set redis_url so they share state.",
)
def serve(config_path: Path | None, host: str, port: int, workers: int) -> None:
    """Serve the moderator over HTTP: /v1/check, /v1/evaluate, the IM pre-send hooks,
    /healthz, /readyz, /metrics, /openapi.json (docs/service.md). A host other than
    loopback needs [serve] api_keys."""
    try:
        from .service._run import run  # noqa: PLC0415 - the optional serve extra
    except ImportError as exc:
        if exc.name not in {"starlette", "uvicorn", "prometheus_client"}:
            raise
        raise _CliError(
            'moderation serve needs the serve extra: pip install "moderation-core[serve]"'
        ) from None
    try:
        run(config_path, host=host, port=port, workers=workers)
    except ConfigError as exc:
        raise _CliError(f"config: {exc}") from None


@main.group()
def db() -> None:
    """The store's database ([store] url: SQLite or PostgreSQL; docs/store.md)."""


@db.command("upgrade")
@_config_option
def db_upgrade(config_path: Path | None) -> None:
    """Create or upgrade the store's tables to this version's schema (Alembic
    migrations; running it twice changes nothing). Run it once per PostgreSQL database
    before starting `moderation serve` on a new version; `serve` upgrades a SQLite
    database by itself."""
    from .store._commands import DatabaseUnreachable, upgrade_database  # noqa: PLC0415

    try:
        click.echo(upgrade_database(config_path))
    except ConfigError as exc:
        raise _CliError(f"config: {exc}") from None
    except DatabaseUnreachable as exc:
        raise click.ClickException(str(exc)) from None


@db.command("purge")
@_config_option
def db_purge(config_path: Path | None) -> None:
    """Delete records older than [store] retention now (checks not under open review,
    callbacks, delivered outbox events, decided reviews); serve also does it hourly."""
    from .store._commands import DatabaseUnreachable, purge_database  # noqa: PLC0415

    try:
        deleted = purge_database(config_path)
    except ConfigError as exc:
        raise _CliError(f"config: {exc}") from None
    except DatabaseUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(", ".join(f"{table}: {count} deleted" for table, count in deleted.items()))


@main.command()
@_config_option
@click.option(
    "--since",
    default="24h",
    show_default=True,
    help="Start: a duration before now (90s, 15m, 24h, 7d, 2w) or an ISO 8601 time.",
)
@click.option("--until", help="End (excluded), written like --since. Default: now.")
@click.option(
    "--by",
    type=click.Choice(["decision", "label", "provider", "scene"]),
    default="decision",
    show_default=True,
    help="What the counts are per.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON GET /v1/stats answers.")
def stats(config_path: Path | None, since: str, until: str | None, by: str, as_json: bool) -> None:
    """Figures from the store's audit log ([store]; docs/store.md): checks per decision,
    label, provider or scene; p50/p95 latency per provider; fallback, failover, cache
    and pre-filter rates; billable vendor items; how often reviewers upheld each
    provider's verdicts."""
    from .store._stats_report import StoreUnreadable, print_stats, read_stats  # noqa: PLC0415

    if config_path is None:
        raise _CliError("give the config with the [store] table: --config moderation.toml")
    try:
        figures = read_stats(config_path, since=since, until=until, by=by)
    except (ConfigError, InvalidContent) as exc:
        raise _CliError(str(exc)) from None
    except StoreUnreadable as exc:
        raise click.ClickException(str(exc)) from None
    print_stats(figures, as_json=as_json, console=Console())


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MODERATION_CONFIG",
    required=True,
    help="TOML config with a [worker] table (url = nats://... or amqp://...). "
    "Env: MODERATION_CONFIG.",
)
def worker(config_path: Path) -> None:
    """Moderate a message stream: consume {"id", "contents": [...]} messages from NATS
    JetStream or RabbitMQ ([worker] subject_in), publish {"id", "outcome"} results
    (subject_out), dead-letter malformed ones (dead_letter). Start one per core or
    machine with the same [worker] table: they share the consumer (and, with
    redis_url, limits, breakers, cache and mutes). SIGTERM/SIGINT drain: no new
    messages, those in hand finished and acknowledged, exit 0 (docs/worker.md)."""
    try:
        from .worker._run import run  # noqa: PLC0415 - the optional worker extra
    except ImportError as exc:  # pragma: no cover - the package itself imports no broker
        raise _CliError(
            'moderation worker needs the worker extra: pip install "moderation-core[worker]"'
        ) from exc
    from .worker import BrokerError  # noqa: PLC0415 - the optional worker extra

    try:
        run(config_path)
    except ConfigError as exc:
        raise _CliError(f"config: {exc}") from None
    except BrokerError as exc:
        raise _CliError(str(exc)) from None


def _playing_platform(
    provider_class: type[Any], emulator: Any, callback_url: str, options: dict[str, str]
) -> Any:
    """The emulator with its platform's trigger endpoint: by convention a provider
    package that is also a chat platform ships ``<package>.platform.with_platform``."""
    import importlib  # noqa: PLC0415 - only with --callback-url

    package = provider_class.__module__.partition(".")[0]
    try:
        module = importlib.import_module(f"{package}.platform")
    except ModuleNotFoundError:
        raise _CliError(
            f"provider type {provider_class.provider_type!r} does not play a chat platform"
        ) from None
    try:
        return module.with_platform(emulator, callback_url, **options)
    except (TypeError, ValueError) as exc:
        raise _CliError(f"platform option: {exc}") from None
