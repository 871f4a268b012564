"""The journal: audit rows that could not reach the database wait here, on local disk.

A folder of segment files, JSON lines, one line per record (its ``checks`` row and
its ``reviews`` row). Each store appends to a segment of its own, named by its
creation time so that sorting names sorts segments oldest first, and holds an
exclusive ``flock`` on every segment it owns: a segment nobody holds belongs to a
process that ended, and the next store to replay takes it over. Replaying inserts
each line with insert-or-ignore by ``check_id``, so a segment replayed twice (a crash
after the insert, before the delete) changes nothing the second time: every record
reaches the database exactly once, in the order it was journaled.

Written by hand because no library does this small thing (a crash-safe spill file
shared by processes) without bringing a server of its own.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ._records import Rows

__all__ = ["Journal", "Segment"]

log = logging.getLogger("moderation_core.store")

_SUFFIX = ".jsonl"
_REJECTED = "rejected"


class Segment:
    """One journal file this store holds (its lock is held while the file is open)."""

    def __init__(self, path: Path, handle: IO[bytes]) -> None:
        self.path = path
        self._handle = handle  # unbuffered: a failed write leaves nothing behind to retry

    def lines(self) -> Iterator[Rows | None]:
        """Each record in order; None for a line that is not one (a torn last line of a
        process that died mid-write, or damage), which ``Journal.reject`` keeps."""
        for raw in self.raw_lines():
            if not raw.endswith(b"\n"):  # torn: the writer died before the newline
                yield None
                continue
            try:
                data = json.loads(raw)
                yield data["c"], data["r"]
            except (ValueError, KeyError, TypeError):
                yield None

    def raw_lines(self) -> Iterator[bytes]:
        # A reader of its own: buffered, while the locked handle stays unbuffered.
        with self.path.open("rb") as reader:
            yield from reader

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()


class Journal:
    """The journal folder of one store. Appends are thread-safe (the writer thread
    and, when the queue is full, the callers' threads)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._current: Segment | None = None  # the segment appends go to
        self._held: list[Segment] = []  # taken for replay, not yet done
        self._unsynced = False

    # -- appending -----------------------------------------------------------------

    def append(self, records: Iterable[Rows], *, sync: bool = True) -> None:
        """Add records at the end; with ``sync``, on disk (fsync) before returning.
        OSError when the disk refuses (full, gone, not a folder): then nothing of
        ``records`` is in the journal, and the caller still holds them."""
        data = b"".join(_line(rows) for rows in records)
        if not data:
            return
        with self._lock:
            segment = self._current
            if segment is None:
                segment = self._current = self._new_segment()
            handle = segment._handle
            end = handle.seek(0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:  # an unbuffered write may take part of it
                    written = handle.write(view)
                    if not written:
                        raise OSError(errno.EIO, "the journal took no bytes")
                    view = view[written:]
                if sync:
                    os.fsync(handle.fileno())
            except BaseException:
                self._cut_back(segment, end)
                raise
            self._unsynced = not sync

    def _cut_back(self, segment: Segment, end: int) -> None:
        """Undo a failed append, so that the next one does not run into its torn line;
        when even that fails, the segment is closed to appends (replayed as it is: the
        torn line is kept aside as damaged) and the next append starts a new one."""
        try:
            os.ftruncate(segment._handle.fileno(), end)
        except OSError:
            self._held.append(segment)
            self._current = None

    def sync(self) -> None:
        """fsync what callers appended without it (the writer does, every batch)."""
        with self._lock:
            if self._unsynced and self._current is not None:
                os.fsync(self._current._handle.fileno())
                self._unsynced = False

    def _new_segment(self) -> Segment:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{_SUFFIX}"
        path = self.folder / name
        handle = path.open("a+b", buffering=0)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise
        return Segment(path, handle)

    # -- replaying -----------------------------------------------------------------

    @property
    def has_own(self) -> bool:
        """Whether this store journaled records not yet replayed."""
        return self._current is not None or bool(self._held)

    def take(self) -> list[Segment]:
        """The segments to replay, oldest first: this store's (appends go to a new
        segment from now on) and those of processes that ended. Each stays held until
        ``done`` or ``close``."""
        with self._lock:
            if self._current is not None:
                self._held.append(self._current)
                self._current = None
                self._unsynced = False
            held = {s.path for s in self._held}
            for path in self._orphans():
                if path in held:
                    continue
                segment = _try_hold(path)
                if segment is not None:
                    self._held.append(segment)
            self._held.sort(key=lambda s: s.path.name)
            return list(self._held)

    def _orphans(self) -> list[Path]:
        try:
            return sorted(
                p
                for p in self.folder.iterdir()
                if p.name.endswith(_SUFFIX) and not p.name.startswith(_REJECTED)
            )
        except FileNotFoundError:
            return []
        except OSError as exc:  # not a folder, unreadable: only this store's own to replay
            log.debug("store: the journal folder %s cannot be listed (%s)", self.folder, exc)
            return []

    def done(self, segment: Segment) -> None:
        """The segment is in the database: delete it."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            segment.close()
            if segment in self._held:
                self._held.remove(segment)

    def reject(self, rows: Rows | bytes, reason: str) -> None:
        """Keep a record the database refuses (or a damaged line) in ``rejected.jsonl``
        beside the segments, for a person to look at: never dropped."""
        data = rows if isinstance(rows, bytes) else _line(rows)
        if not data.endswith(b"\n"):
            data += b"\n"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with (self.folder / f"{_REJECTED}{_SUFFIX}").open("ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        log.error(
            "store: a record was refused (%s); kept in %s", reason, self.folder / "rejected.jsonl"
        )

    def close(self) -> None:
        """Release every segment (their files stay for the next store to replay)."""
        with self._lock:
            for segment in [*self._held, *([self._current] if self._current else [])]:
                if self._unsynced and segment is self._current:
                    with contextlib.suppress(OSError):
                        os.fsync(segment._handle.fileno())
                segment.close()
            self._held.clear()
            self._current = None


def _line(rows: Rows) -> bytes:
    check, review = rows
    record: dict[str, Any] = {"c": check, "r": review}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _try_hold(path: Path) -> Segment | None:
    """The segment at ``path`` if no live store holds it."""
    try:
        handle = path.open("r+b", buffering=0)
    except FileNotFoundError:  # another store replayed it meanwhile
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    if not path.exists():  # replayed and deleted between our open and our lock
        handle.close()
        return None
    return Segment(path, handle)
