"""Routing without IO: which provider gets which content, in which calls, and how the
answers combine. The moderators drive these generators (sync: one job after another;
async: jobs concurrently), so every strategy exists once.

A route yields lists of jobs and receives one outcome per job: the provider's list of
per-content results, or the ProviderError that failed the whole call.

A strategy is one entry in ``STRATEGIES``: the route that decides each content's
verdict, and the routes that run in the background once the caller has it (their
answers are compared with the verdicts, never returned). The config's
``[moderation] strategy`` accepts exactly the table's names; adding a strategy is one
entry here and its line in docs/config.md.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Final

import attrs

from ._errors import ModerationError, ProviderError
from ._masking import MASK_CHAR, mask_keywords
from ._model import CheckContext, Content, ContentType, Verdict
from ._provider import Capabilities, HttpProviderConfig, ItemResult, Provider

__all__ = [
    "STRATEGIES",
    "Answers",
    "BackgroundRoute",
    "Job",
    "JobOutcome",
    "Route",
    "Router",
    "Strategy",
    "split_text",
    "with_failures",
]

JobOutcome = list[ItemResult] | ProviderError
Route = Generator[list["Job"], list[JobOutcome], list[Verdict | ModerationError]]
# The final answer for one content: its verdict, or every error met on the way.
Answer = Verdict | list[ProviderError]
Answers = Generator[list["Job"], list[JobOutcome], list[Answer]]


@attrs.define(slots=True)
class Job:
    """Contents for one provider call, and where each sits in the caller's list.
    ``offsets`` is set when some contents are chunks of a long text: the chunk's
    character offset in that text (None for a whole content)."""

    provider: Provider[Any]
    indexes: list[int]
    contents: list[Content]
    offsets: list[int | None] | None = None


def split_text(
    text: str, max_bytes: int | None, overlap: int, max_chars: int | None = None
) -> list[tuple[int, str]]:
    """Overlapping chunks of at most ``max_bytes`` UTF-8 bytes and ``max_chars`` code
    points (None: no such limit), as (offset, chunk): whichever limit is tighter ends a
    chunk. Consecutive chunks share ``overlap`` characters, so a keyword up to that
    long is whole in at least one chunk."""
    chunks: list[tuple[int, str]] = []
    start = 0
    while True:
        end = len(text) if max_chars is None else min(len(text), start + max_chars)
        if max_bytes is not None:
            end = _bytes_fit(text, start, end, max_bytes)
        chunks.append((start, text[start:end]))
        if end >= len(text):
            return chunks
        # Step back by the overlap, but always move forward.
        start = max(end - overlap, start + 1)


def _bytes_fit(text: str, start: int, stop: int, max_bytes: int) -> int:
    """Where the longest run of ``text`` from ``start`` (ending by ``stop``) that fits
    in ``max_bytes`` UTF-8 bytes ends."""
    end, size = start, 0
    while end < stop:
        width = len(text[end].encode())
        if size + width > max_bytes:
            break
        size += width
        end += 1
    return end


class Router:
    """Plans jobs for providers and turns outcomes into answers."""

    def __init__(self, split_long_text: bool, overlap: int) -> None:
        self.split_long_text = split_long_text
        self.overlap = overlap

    # -- planning --------------------------------------------------------------------

    def accepted(
        self, provider: Provider[Any], indexes: list[int], contents: Sequence[Content]
    ) -> list[int]:
        caps = provider.capabilities
        types = caps.content_types
        if (caps.max_text_bytes is None and caps.max_text_chars is None) or self.split_long_text:
            return [i for i in indexes if contents[i].type in types]
        return [i for i in indexes if caps.accepts(contents[i])]

    def jobs(
        self, provider: Provider[Any], indexes: list[int], contents: Sequence[Content]
    ) -> list[Job]:
        """One provider's calls: batchable types in chunks of its batch size, every
        other content alone; text over its limit split into overlapping chunks."""
        caps = provider.capabilities
        limit, chars = caps.max_text_bytes, caps.max_text_chars
        size = caps.batch_size
        if limit is None and chars is None:
            return self._plain_jobs(provider, caps, indexes, contents)
        units: list[tuple[int, int | None, Content]] = []
        chunked = False
        for i in indexes:
            content = contents[i]
            # The indexes are of types it takes: a text it does not accept is too long.
            if content.type is ContentType.TEXT and not caps.accepts(content):
                chunked = True
                units.extend(
                    (i, offset, Content.text(piece, id=content.id))
                    for offset, piece in split_text(content.value, limit, self.overlap, chars)
                    if piece.strip()
                )
            else:
                units.append((i, None, content))
        if not chunked:
            return self._plain_jobs(provider, caps, indexes, contents)
        batch_types = caps.batch_types if size > 1 else frozenset()
        batched = [u for u in units if u[2].type in batch_types]
        jobs = [
            _job(provider, batched[start : start + size], chunked)
            for start in range(0, len(batched), size)
        ]
        if len(batched) != len(units):
            jobs.extend(_job(provider, [u], chunked) for u in units if u[2].type not in batch_types)
        return jobs

    @staticmethod
    def _plain_jobs(
        provider: Provider[Any], caps: Capabilities, indexes: list[int], contents: Sequence[Content]
    ) -> list[Job]:
        # The hot path (no long text): plain index lists, no per-content tuples.
        size = caps.batch_size
        if size > 1:
            batch_types = caps.batch_types
            batched = [i for i in indexes if contents[i].type in batch_types]
            if len(batched) == len(indexes) and 0 < len(batched) <= size:
                return [Job(provider, batched, [contents[i] for i in batched])]  # one call
        else:
            batched = []
        jobs = []
        for start in range(0, len(batched), size):
            chunk = batched[start : start + size]
            jobs.append(Job(provider, chunk, [contents[i] for i in chunk]))
        if len(batched) != len(indexes):
            alone = set(indexes).difference(batched)
            jobs.extend(Job(provider, [i], [contents[i]]) for i in indexes if i in alone)
        return jobs

    # -- routes ----------------------------------------------------------------------

    def fallback(
        self, contents: list[Content], providers: Sequence[Provider[Any]]
    ) -> Generator[list[Job], list[JobOutcome], list[Answer]]:
        """Each content goes to the first provider that accepts it and moves on only
        when that provider fails (never because of a verdict); in a batch, only the
        failed contents move on."""
        answers: list[Answer] = [[] for _ in contents]
        unresolved = list(range(len(contents)))
        for provider in providers:
            todo = self.accepted(provider, unresolved, contents)
            if not todo:
                continue
            jobs = self.jobs(provider, todo, contents)
            outcomes = yield jobs
            for i, result in self.results(jobs, outcomes, contents):
                answer = answers[i]
                if not isinstance(answer, list):
                    continue  # answered already (defensive: resolved contents are not sent)
                if isinstance(result, Verdict):
                    answers[i] = with_failures(result, answer) if answer else result
                else:
                    answer.append(result)
            unresolved = [i for i in unresolved if not isinstance(answers[i], Verdict)]
            if not unresolved:
                break
        return answers

    def strictest(
        self, contents: list[Content], providers: Sequence[Provider[Any]]
    ) -> Generator[list[Job], list[JobOutcome], list[Answer]]:
        """Every capable provider at once; the harshest decision wins (ties: the
        earlier provider), and failures are tolerated while one answers."""
        jobs: list[Job] = []
        everyone = list(range(len(contents)))
        for provider in providers:
            todo = self.accepted(provider, everyone, contents)
            if todo:
                jobs.extend(self.jobs(provider, todo, contents))
        outcomes = yield jobs
        best: list[Verdict | None] = [None] * len(contents)
        errors: list[list[ProviderError]] = [[] for _ in contents]
        rank = {p.name: n for n, p in enumerate(providers)}
        # Every provider that answered was paid, not only the harshest.
        items = [0] * len(contents)
        answered = [0] * len(contents)
        billed = {p.name for p in providers if sends_requests(p)}
        for i, result in self.results(jobs, outcomes, contents):
            if isinstance(result, ProviderError):
                errors[i].append(result)
                continue
            answered[i] += 1
            items[i] += vendor_items(result, billed)
            current = best[i]
            if (
                current is None
                or result.decision > current.decision
                or (
                    result.decision == current.decision
                    and rank.get(result.provider or "", 0) < rank.get(current.provider or "", 0)
                )
            ):
                best[i] = result
        for i, verdict in enumerate(best):
            if verdict is not None and answered[i] > 1:
                best[i] = attrs.evolve(verdict, vendor_items=items[i])
        return [
            e if b is None else with_failures(b, e) if e else b
            for b, e in zip(best, errors, strict=True)
        ]

    def results(
        self, jobs: list[Job], outcomes: list[JobOutcome], contents: Sequence[Content]
    ) -> list[tuple[int, ItemResult]]:
        """(index, result) for every content the jobs covered, chunks merged back (a
        provider's chunks with each other: with strictest, each provider's own)."""
        out: list[tuple[int, ItemResult]] = []
        pieces: dict[tuple[int, str], list[tuple[int, ItemResult]]] | None = None
        paid: dict[str, bool] = {}
        for job, outcome in zip(jobs, outcomes, strict=True):
            items = [outcome] * len(job.indexes) if isinstance(outcome, ProviderError) else outcome
            if job.offsets is None:
                out.extend(zip(job.indexes, items, strict=True))
                continue
            if pieces is None:  # made only for a long text's chunks
                pieces = {}
            name = job.provider.name
            paid[name] = sends_requests(job.provider)
            for i, offset, result in zip(job.indexes, job.offsets, items, strict=True):
                if offset is None:
                    out.append((i, result))
                else:
                    pieces.setdefault((i, name), []).append((offset, result))
        if pieces is None:
            return out
        out.extend(
            (i, merge_chunks(contents[i], parts, paid=paid[name]))
            for (i, name), parts in pieces.items()
        )
        return out


def sends_requests(provider: Provider[Any]) -> bool:
    """Whether the provider calls a vendor (each item it is sent is paid for); the local
    engine does not."""
    return isinstance(provider.config, HttpProviderConfig)


def vendor_items(verdict: Verdict, billed: frozenset[str] | set[str]) -> int:
    """The vendor items a verdict cost, ``billed`` naming the providers that send
    requests: its counted ``vendor_items``, else one for a billed provider's call."""
    if verdict.vendor_items is not None:
        return verdict.vendor_items
    return 1 if verdict.provider in billed else 0


def with_failures(verdict: Verdict, errors: Sequence[ProviderError]) -> Verdict:
    """The verdict, recording in ``errors`` the providers that failed on this content
    before (fallback) or beside (strictest) the one that answered."""
    return attrs.evolve(verdict, errors=(*errors, *verdict.errors))


def _job(
    provider: Provider[Any], units: list[tuple[int, int | None, Content]], chunked: bool
) -> Job:
    return Job(
        provider,
        [u[0] for u in units],
        [u[2] for u in units],
        [u[1] for u in units] if chunked else None,
    )


def merge_chunks(
    content: Content, parts: list[tuple[int, ItemResult]], *, paid: bool = True
) -> ItemResult:
    """One verdict for a long text from one provider's chunks' verdicts: the harshest
    chunk decides, keywords are merged, and masks map back onto the whole text; each
    chunk was a vendor item (``paid``: the provider sends requests). If any chunk
    failed, the text failed with this provider."""
    for _, result in parts:
        if isinstance(result, ProviderError):
            return result
    verdicts = [(offset, result) for offset, result in parts if isinstance(result, Verdict)]
    worst = max(verdicts, key=lambda pair: pair[1].decision.rank)[1]
    keywords = tuple(dict.fromkeys(k for _, v in verdicts for k in v.keywords))
    text = content.value
    masked = list(mask_keywords(text, keywords)) if keywords else list(text)
    for offset, verdict in verdicts:
        if verdict.masked_text is None:
            continue
        for n, char in enumerate(verdict.masked_text):
            at = offset + n
            if char == MASK_CHAR and at < len(text) and text[at] != MASK_CHAR:
                masked[at] = MASK_CHAR
    masked_text = "".join(masked)
    return attrs.evolve(
        worst,
        keywords=keywords,
        masked_text=masked_text if masked_text != text else None,
        content_id=content.id,
        raw={"chunks": [{"offset": o, "raw": v.raw} for o, v in verdicts]},
        vendor_items=len(verdicts) if paid else 0,
    )


def disagreements(
    contents: Sequence[Content],
    primary: Sequence[Verdict | ModerationError],
    shadow: Sequence[Answer],
) -> list[tuple[Content, Verdict, Verdict]]:
    """(content, primary verdict, shadow verdict) wherever both answered and differ in
    decision or label."""
    found = []
    for content, first, second in zip(contents, primary, shadow, strict=True):
        if (
            isinstance(first, Verdict)
            and isinstance(second, Verdict)
            and (first.decision, first.label) != (second.decision, second.label)
        ):
            found.append((content, first, second))
    return found


@attrs.frozen
class BackgroundRoute:
    """A route run after the caller has its verdicts, over the contents at
    ``indexes``; its answers are compared with theirs (the ``shadow_disagreement``
    hook), never returned."""

    indexes: list[int]
    route: Answers


Providers = Sequence[Provider[Any]]
Verdicts = Sequence[Verdict | ModerationError]


def no_background(
    _router: Router, _contents: list[Content], _final: Verdicts, _providers: Providers
) -> list[BackgroundRoute]:
    return []


def shadow_routes(
    router: Router, contents: list[Content], final: Verdicts, providers: Providers
) -> list[BackgroundRoute]:
    """Every provider other than the one that decided, on the contents it accepts,
    each as its own single-provider route."""
    routes = []
    for provider in providers:
        indexes = [
            i
            for i, (content, verdict) in enumerate(zip(contents, final, strict=True))
            if isinstance(verdict, Verdict)
            and verdict.provider != provider.name
            and content.type in provider.capabilities.content_types
        ]
        if indexes:
            subset = [contents[i] for i in indexes]
            routes.append(BackgroundRoute(indexes, router.fallback(subset, (provider,))))
    return routes


@attrs.frozen
class Strategy:
    """How the configured providers share the work: ``decide`` routes every content
    to its verdict; ``background`` plans routes to run once the caller has them."""

    decide: Callable[[Router, list[Content], Providers], Answers]
    background: Callable[[Router, list[Content], Verdicts, Providers], list[BackgroundRoute]] = (
        no_background
    )


# Read-only by its type: the config's accepted names and the moderators' lookups are
# this one mapping.
STRATEGIES: Final[Mapping[str, Strategy]] = {
    # Each content to the first provider that takes it; the next only on errors.
    "fallback": Strategy(decide=Router.fallback),
    # Every capable provider at once; the harshest decision wins.
    "strictest": Strategy(decide=Router.strictest),
    # Fallback decides; every other provider checks the same contents afterwards.
    "shadow": Strategy(decide=Router.fallback, background=shadow_routes),
}


def report(
    hook: Any,
    contents: Sequence[Content],
    final: Sequence[Verdict | ModerationError],
    context: CheckContext,
) -> None:
    """Tell the ``check_finished`` hook about every verdict (skipped when nobody listens)."""
    if hook.get_hookimpls():
        for content, item in zip(contents, final, strict=True):
            if isinstance(item, Verdict):
                hook(content=content, verdict=item, context=context)
