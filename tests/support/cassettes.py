"""The contract tests' cassettes: each provider's ``conversation`` records a real
exchange to ``cassettes/NAME.yaml`` (or replays it) through one ``cassette`` block."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import vcr

from moderation_core.testing import RecordingTransport

Matcher = Callable[[Any, Any], None]


@contextmanager
def cassette(
    directory: Path,
    name: str,
    mode: str,
    *,
    match_on: Sequence[str] = ("method", "path", "body"),
    scrub_request: Callable[[Any], Any] | None = None,
    scrub_response: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    filter_headers: Sequence[tuple[str, str | None]] = (),
    matchers: Mapping[str, Matcher] | None = None,
) -> Iterator[RecordingTransport]:
    """Replay ``directory/NAME.yaml`` (``mode`` "replay"), or record it afresh (any
    other mode: vcrpy would append to the old file). Yields the transport to give the
    Moderator: it keeps every request as sent, and vcrpy's patched HTTP transport
    answers it. A replay must play every recorded request."""
    recorder = vcr.VCR(
        cassette_library_dir=str(directory),
        record_mode="none" if mode == "replay" else "all",
        match_on=list(match_on),
        filter_headers=list(filter_headers),
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )
    for matcher_name, matcher in (matchers or {}).items():
        recorder.register_matcher(matcher_name, matcher)
    if mode != "replay":
        (directory / f"{name}.yaml").unlink(missing_ok=True)
    with recorder.use_cassette(f"{name}.yaml") as played:
        yield RecordingTransport(httpx.HTTPTransport())
        if mode == "replay":
            assert played.all_played, f"{name}.yaml holds requests that were not sent"
