"""The ``openai`` provider: its config, and the sans-IO flow over
``POST /v1/moderations`` (texts batched as a string array; an image alone, as one
multimodal item, since a multimodal input gets one combined result).

The key is sent in the Authorization header only; no message here quotes the
vendor's text for a refused key (it echoes part of the key back).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import httpx

from moderation_core import (
    AuthError,
    Capabilities,
    CheckContext,
    Content,
    ContentType,
    Decision,
    Flow,
    HttpProviderConfig,
    ItemResult,
    Label,
    Provider,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Secret,
    Verdict,
)
from moderation_core.wire import check_rate_limit, vendor_text
from moderation_core.wire import retry_after as read_retry_after

from . import _wire as wire
from .emulator import make_emulator

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_TEXT_BYTES",
    "DEFAULT_MODEL",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_REVIEW_AT",
    "CategoryThresholds",
    "OpenAIConfig",
    "OpenAIProvider",
    "judge",
    "retry_after",
]

DEFAULT_MODEL = "omni-moderation-latest"
DEFAULT_BASE_URL = "https://api.openai.com"
# The API documents no array limit; its budget is tokens per minute (10,000 on the
# free tier), so a batch stays small enough that one request never spends it alone.
DEFAULT_BATCH_SIZE = 8
# No per-input limit is documented either: 8,000 UTF-8 bytes keeps an input near the
# ~2,000 characters the vendor's guide has suggested per chunk; longer texts are split.
DEFAULT_MAX_TEXT_BYTES = 8000
# 250 requests a minute on the free tier (4.17/s): a little under it.
DEFAULT_RATE_LIMIT = 4.0
# Not flagged, but a category at or above this score: REVIEW (the example value).
DEFAULT_REVIEW_AT = 0.3
_BATCH_WARNING = 64
# The SDK declares these the text-moderation models; they take no images.
_TEXT_ONLY_MODEL = re.compile(r"text-moderation(-|$)")
# An answer is about 1.5 KB per input; allow plenty, but not without bound.
_ANSWER_BYTES_PER_INPUT = 16 * 1024
_ANSWER_BYTES_BASE = 16 * 1024
_KEY_SHAPE = re.compile(r"sk-[A-Za-z0-9_*.\-]+")


def _check_score(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{attr.name} is a score from 0 to 1, got {value:g}")


@attrs.frozen(kw_only=True)
class CategoryThresholds:
    """``thresholds."<category key>"``: scores on the vendor's 0-1 scale. ``block_at``
    replaces the vendor's own flag for that category; ``review_at`` replaces the
    config's ``review_at``."""

    review_at: float | None = attrs.field(default=None, validator=_check_score)
    block_at: float | None = attrs.field(default=None, validator=_check_score)


def _check_batch_size(_inst: object, _attr: object, value: int) -> None:
    if value < 1:
        raise ValueError(f"batch_size must be at least 1, got {value}")


def _check_max_text_bytes(_inst: object, _attr: object, value: int) -> None:
    if value < 16:
        raise ValueError(f"max_text_bytes must be at least 16, got {value}")


def _check_not_blank(_inst: object, attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not value.strip():
        raise ValueError(f"{attr.name} must not be empty (leave it out instead)")


@attrs.define(kw_only=True)
class OpenAIConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "openai"``; see docs/providers/openai.md."""

    api_key: Secret = attrs.field(repr=False)
    organization: str | None = attrs.field(default=None, validator=_check_not_blank)
    project: str | None = attrs.field(default=None, validator=_check_not_blank)
    model: str = attrs.field(default=DEFAULT_MODEL, validator=_check_not_blank)
    batch_size: int = attrs.field(default=DEFAULT_BATCH_SIZE, validator=_check_batch_size)
    max_text_bytes: int = attrs.field(
        default=DEFAULT_MAX_TEXT_BYTES, validator=_check_max_text_bytes
    )
    review_at: float = attrs.field(default=DEFAULT_REVIEW_AT, validator=_check_score)
    thresholds: dict[str, CategoryThresholds] = attrs.field(factory=dict)
    rate_limit: float | None = attrs.field(default=DEFAULT_RATE_LIMIT, validator=check_rate_limit)

    def problems(self) -> list[str]:
        """Checks across keys, every one reported at once."""
        problems = super().problems()
        if not self.api_key:
            problems.append("api_key is empty")
        for key, bands in self.thresholds.items():
            if key not in wire.CATEGORIES:
                problems.append(
                    f"thresholds: {key!r} is not an OpenAI category (one of "
                    f"{', '.join(wire.CATEGORIES)})"
                )
            review = bands.review_at if bands.review_at is not None else self.review_at
            if bands.block_at is not None and review > bands.block_at:
                problems.append(
                    f"thresholds.{key}: review_at ({review:g}) is above block_at "
                    f"({bands.block_at:g})"
                )
        return problems

    def advice(self) -> list[str]:
        """Allowed but unwise settings, logged as warnings when the provider is built."""
        advice = []
        if self.batch_size > _BATCH_WARNING:
            advice.append(
                f"batch_size is {self.batch_size}: one request of that many texts may spend a "
                "whole tokens-per-minute budget (10,000 on the free tier) and fail as a unit"
            )
        if _TEXT_ONLY_MODEL.match(self.model):
            advice.append(
                f"model {self.model!r} is a legacy text-moderation model: text only, and no "
                "illicit categories; omni-moderation-latest checks images too"
            )
        return advice


def judge(
    result: wire.ModerationResult,
    thresholds: Mapping[str, CategoryThresholds],
    review_at: float,
) -> tuple[Decision, str | None]:
    """The decision for one result, and the category it rests on (None for a PASS, or
    for a flag that names no category). A category blocks when its ``block_at`` is met,
    or, without one (or without a score), when the vendor flagged it; it asks for
    review at its (or the config's) ``review_at``. Among the categories that decided,
    the highest score wins."""
    scores = {key: score for key, score in result.category_scores.items() if score is not None}
    blocking = []
    for key in scores.keys() | result.categories.keys():
        block_at = thresholds[key].block_at if key in thresholds else None
        score = scores.get(key)
        if block_at is None or score is None:  # no score to hold block_at against: the flag
            if result.categories.get(key) is True:
                blocking.append(key)
        elif score >= block_at:
            blocking.append(key)
    if blocking:
        return Decision.BLOCK, _highest(blocking, scores)
    if result.flagged and not any(result.categories.values()):
        # Flagged without saying why: never a PASS (fail closed).
        return Decision.BLOCK, _highest(list(scores), scores) if scores else None
    reviewing = [
        key for key, score in scores.items() if score >= _review_at(key, thresholds, review_at)
    ]
    if reviewing:
        return Decision.REVIEW, _highest(reviewing, scores)
    return Decision.PASS, None


def _review_at(key: str, thresholds: Mapping[str, CategoryThresholds], default: float) -> float:
    bands = thresholds.get(key)
    return bands.review_at if bands is not None and bands.review_at is not None else default


def _highest(keys: list[str], scores: Mapping[str, float]) -> str:
    # Ties go to the key first in sorted order, so a verdict never depends on dict order.
    return max(sorted(keys), key=lambda key: scores.get(key, -1.0))


class OpenAIProvider(Provider[OpenAIConfig]):
    """OpenAI Moderation: texts in batches, an image alone; answered at once."""

    provider_type: ClassVar[str] = "openai"
    config_class = OpenAIConfig
    description: ClassVar[str] = (
        "OpenAI Moderation (/v1/moderations): text, and images on omni models"
    )
    emulator_factory = make_emulator

    def __init__(
        self, name: str, config: OpenAIConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(name, config)
        self._clock = clock  # for a Retry-After given as an HTTP date
        self._url = f"{_api_root(config.base_url)}/v1/moderations"
        text_only = bool(_TEXT_ONLY_MODEL.match(config.model))
        types = {ContentType.TEXT} if text_only else {ContentType.TEXT, ContentType.IMAGE}
        self._capabilities = Capabilities(
            content_types=frozenset(types),
            batch_size=config.batch_size,
            batch_types=frozenset({ContentType.TEXT}),
            max_text_bytes=config.max_text_bytes,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def describe(self) -> Mapping[str, Any]:
        return {
            **super().describe(),
            "host": httpx.URL(self._url).host,
            "model": self.config.model,
        }

    # -- the check flow -------------------------------------------------------------

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        return self._flow(tuple(contents))

    def _flow(self, contents: tuple[Content, ...]) -> Flow:
        texts = [i for i, c in enumerate(contents) if c.type is ContentType.TEXT]
        size = self.config.batch_size
        groups = [texts[k : k + size] for k in range(0, len(texts), size)]
        groups += [[i] for i, c in enumerate(contents) if c.type is not ContentType.TEXT]
        results: dict[int, ItemResult] = {}
        for group in groups:
            try:
                verdicts = yield from self._check([contents[i] for i in group])
            except ProviderError as exc:
                if len(groups) == 1:
                    raise
                # Several requests in one flow: one failing must not discard the others.
                verdicts = [exc] * len(group)
            results.update(zip(group, verdicts, strict=True))
        return [results[i] for i in range(len(contents))]

    def _check(
        self, contents: list[Content]
    ) -> Generator[httpx.Request, httpx.Response, list[ItemResult]]:
        response = yield self._request([_input(c) for c in contents])
        max_bytes = _ANSWER_BYTES_BASE + _ANSWER_BYTES_PER_INPUT * len(contents)
        if not response.is_success:
            raise self._error(response, max_bytes)
        answer, raw = wire.read_results(response, len(contents), max_bytes)
        return [
            self._verdict(result, item, answer.id)
            for result, item in zip(answer.results, raw, strict=True)
        ]

    def _request(self, inputs: list[Any]) -> httpx.Request:
        headers = {
            "Authorization": f"Bearer {self.config.api_key.get()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if self.config.organization is not None:
            headers["OpenAI-Organization"] = self.config.organization
        if self.config.project is not None:
            headers["OpenAI-Project"] = self.config.project
        return httpx.Request(
            "POST", self._url, json={"model": self.config.model, "input": inputs}, headers=headers
        )

    def _verdict(
        self, result: wire.ModerationResult, raw: dict[str, Any], request_id: str | None
    ) -> Verdict:
        decision, category = judge(result, self.config.thresholds, self.config.review_at)
        scores = [s for s in result.category_scores.values() if s is not None]
        if category is None:
            top = max(scores, default=None)
        else:
            top = result.category_scores.get(category)
        score = None if top is None else round(top * 100)
        if decision is Decision.PASS:
            # How close it came stays in score; the label says nothing was found.
            return Verdict(
                decision=decision,
                label=Label.NORMAL,
                score=score,
                request_id=request_id,
                raw=raw,
            )
        return Verdict(
            decision=decision,
            label=Label.OTHER if category is None else wire.label_for(category),
            sublabel=category,
            score=score,
            vendor_label=category,
            request_id=request_id,
            raw=raw,
        )

    # -- errors ------------------------------------------------------------------------

    def _error(self, response: httpx.Response, max_bytes: int) -> ProviderError:
        status = response.status_code
        error = wire.read_error(response, max_bytes)
        code: int | str = error.code or error.type or status
        if status in (401, 403):
            # The vendor's text for a refused key quotes part of it back: not repeated here.
            return AuthError(
                f"OpenAI refused the request (HTTP {status}): check api_key, organization "
                "and project",
                code=code,
            )
        text = self._vendor_text(error)
        if status == 429:
            if "insufficient_quota" in (error.code, error.type):
                return ProviderError(
                    f"OpenAI quota exhausted (billing, not load; not retried): {text}",
                    code="insufficient_quota",
                )
            return RateLimited(
                f"OpenAI rate limit reached: {text}",
                code=code,
                retry_after=retry_after(response.headers, self._clock()),
            )
        if status == 408 or status >= 500:
            return ProviderUnavailable(f"OpenAI server error (HTTP {status}): {text}", code=code)
        return ProviderError(f"OpenAI refused the request (HTTP {status}): {text}", code=code)

    def _vendor_text(self, error: wire.ApiError) -> str:
        """The vendor's message for an error: never the key, never long."""
        text = _KEY_SHAPE.sub("sk-***", error.message or "")
        return vendor_text(text, [self.config.api_key.get()]) or "no details"


def retry_after(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to wait from ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP
    date, read against ``now``), as the official SDK reads them; None when absent or
    unreadable."""
    return read_retry_after(headers, now, ms_headers=("retry-after-ms",))


def _api_root(base_url: str | None) -> str:
    """The API's root: the configured base_url without a trailing ``/v1`` (the SDK's
    convention), so both spellings reach ``/v1/moderations`` once."""
    root = (base_url or DEFAULT_BASE_URL).rstrip("/")
    return root.removesuffix("/v1")


def _input(content: Content) -> Any:
    if content.type is ContentType.TEXT:
        return content.value
    return {"type": "image_url", "image_url": {"url": content.value}}
