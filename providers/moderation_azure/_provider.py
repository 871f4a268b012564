"""The ``azure_content_safety`` provider: its config, and the sans-IO flow over
``POST {endpoint}/contentsafety/text:analyze`` and ``/image:analyze`` (one content per
request: the service has no batch call). An image URL is fetched first (``_fetch``)
and sent as base64.

The key goes in the ``Ocp-Apim-Subscription-Key`` header only, and no message here
quotes it: vendor text in an error is scrubbed of it and cut short.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, ClassVar, Final, Literal

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
    ProtocolError,
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
from ._fetch import fetch_image
from .emulator import make_emulator

__all__ = [
    "API_VERSION",
    "DEFAULT_BLOCK_AT",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_REVIEW_AT",
    "MAX_KEYWORDS",
    "MAX_TEXT_CHARS",
    "AzureConfig",
    "AzureContentSafetyProvider",
    "judge",
    "retry_after",
]

API_VERSION: Final = "2024-09-01"
# The spec's AnalyzeTextOptions.text: "characters counted in Unicode code points".
MAX_TEXT_CHARS: Final = 10_000
# 1,000 requests per 10 s on F0 and S0 (overview, "Query rates"): a little under.
DEFAULT_RATE_LIMIT: Final = 97.0
# Severity 2 (low) asks for review, 4 (medium) blocks: the defaults.
DEFAULT_REVIEW_AT: Final = 2
DEFAULT_BLOCK_AT: Final = 4
# Blocklist items matched in one text, kept as keywords: enough for any real message.
MAX_KEYWORDS: Final = 100
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?", re.ASCII)
_BLOCKLIST_NAME = re.compile(r"[0-9A-Za-z._~-]{1,64}", re.ASCII)  # the spec's pattern
_TRANSIENT_CODES = frozenset({"InternalError", "ServerBusy"})
OutputType = Literal["FourSeverityLevels", "EightSeverityLevels"]


def _check_endpoint(_inst: object, _attr: object, value: str | None) -> None:
    if value is None:
        return
    wanted = "endpoint must be your resource's http(s) URL, e.g. https://NAME.cognitiveservices.azure.com"
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError(wanted) from None
    if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
        raise ValueError(wanted)


def _check_api_version(_inst: object, _attr: object, value: str) -> None:
    if not _API_VERSION.fullmatch(value):
        raise ValueError(f"api_version must look like {API_VERSION}, got {value[:40]!r}")


def _check_categories(_inst: object, _attr: object, value: list[str] | None) -> None:
    if value is None:
        return
    if not value:
        raise ValueError("categories must not be empty (leave it out for all four)")
    unknown = [c for c in value if c not in wire.CATEGORIES]
    if unknown:
        raise ValueError(
            f"categories: {', '.join(repr(c[:40]) for c in unknown[:5])} not among "
            f"{', '.join(wire.CATEGORIES)} (the vendor's spelling)"
        )
    if len(set(value)) != len(value):
        raise ValueError("categories names a category twice")


def _check_blocklists(_inst: object, _attr: object, value: list[str]) -> None:
    bad = [name for name in value if not _BLOCKLIST_NAME.fullmatch(name)]
    if bad:
        raise ValueError(
            f"blocklists: {', '.join(repr(n[:70]) for n in bad[:5])} is not a blocklist name "
            "(1-64 of letters, digits, '.', '_', '~', '-')"
        )


def _check_severity(_inst: object, attr: attrs.Attribute[Any], value: int) -> None:
    if not 1 <= value <= 7:
        raise ValueError(f"{attr.name} is a severity from 1 to 7, got {value}")


@attrs.define(kw_only=True)
class AzureConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "azure_content_safety"``; see
    docs/providers/azure.md."""

    endpoint: str | None = attrs.field(default=None, validator=_check_endpoint)
    api_key: Secret = attrs.field(repr=False)
    api_version: str = attrs.field(default=API_VERSION, validator=_check_api_version)
    categories: list[str] | None = attrs.field(default=None, validator=_check_categories)
    output_type: OutputType = wire.FOUR_LEVELS
    blocklists: list[str] = attrs.field(factory=list, validator=_check_blocklists)
    halt_on_blocklist_hit: bool = False
    review_at: int = attrs.field(default=DEFAULT_REVIEW_AT, validator=_check_severity)
    block_at: int = attrs.field(default=DEFAULT_BLOCK_AT, validator=_check_severity)
    rate_limit: float | None = attrs.field(default=DEFAULT_RATE_LIMIT, validator=check_rate_limit)

    def problems(self) -> list[str]:
        """Checks across keys, every one reported at once."""
        problems = super().problems()
        if self.endpoint is None and self.base_url is None:
            problems.append(
                "endpoint is required: your resource's URL, e.g. "
                "https://NAME.cognitiveservices.azure.com"
            )
        if not self.api_key:
            problems.append("api_key is empty")
        if self.review_at > self.block_at:
            problems.append(f"review_at ({self.review_at}) is above block_at ({self.block_at})")
        highest = wire.MAX_SEVERITY[self.output_type]
        problems += [
            f"{key} ({value}) is above {self.output_type}' highest severity ({highest}): "
            "no text would ever reach it"
            for key, value in (("review_at", self.review_at), ("block_at", self.block_at))
            if value > highest
        ]
        return problems

    def advice(self) -> list[str]:
        """Allowed but unwise settings, logged as warnings when the provider is built."""
        advice = []
        if self.halt_on_blocklist_hit and not self.blocklists:
            advice.append("halt_on_blocklist_hit does nothing without blocklists")
        if self.output_type == wire.FOUR_LEVELS:
            advice += [
                f"{key} {value} acts as {value + 1}: FourSeverityLevels answers 0, 2, 4 or 6 "
                "(images always do)"
                for key, value in (("review_at", self.review_at), ("block_at", self.block_at))
                if value % 2
            ]
        return advice


def judge(
    result: wire.AnalyzeResult,
    *,
    asked: Sequence[str],
    highest: int,
    review_at: int,
    block_at: int,
) -> tuple[Decision, str | None, int]:
    """The decision on the harm categories, the category it rests on (None for a
    PASS) and the highest severity. ``asked`` are the categories requested: without a
    blocklist match each must come back with a severity (never a silent PASS); a
    severity above ``highest`` is not on the requested scale. Ties go to the category
    first in the spec's order, so a verdict never depends on the answer's order."""
    severities: dict[str, int] = {}
    for item in result.categories_analysis:
        if item.severity is None:
            continue
        if item.severity > highest:
            raise ProtocolError(
                f"Azure answered severity {item.severity} for {item.category[:40]!r}, above "
                f"the {highest} its scale allows"
            )
        severities[item.category] = max(item.severity, severities.get(item.category, 0))
    missing = [c for c in asked if c not in severities]
    if missing and not result.blocklists_match:
        # A halted analysis (a blocklist hit) may leave severities out; nothing else may.
        raise ProtocolError(f"Azure answered no severity for {', '.join(missing)}")
    if not severities:
        return Decision.PASS, None, 0
    order = {c: n for n, c in enumerate(wire.CATEGORIES)}
    category = min(severities, key=lambda c: (-severities[c], order.get(c, len(order)), c))
    top = severities[category]
    if top >= block_at:
        return Decision.BLOCK, category, top
    if top >= review_at:
        return Decision.REVIEW, category, top
    return Decision.PASS, None, top


class AzureContentSafetyProvider(Provider[AzureConfig]):
    """Azure AI Content Safety: one text or image per request, answered at once."""

    provider_type: ClassVar[str] = "azure_content_safety"
    config_class = AzureConfig
    description: ClassVar[str] = (
        "Azure AI Content Safety (text:analyze, image:analyze): text and images"
    )
    emulator_factory = make_emulator

    _CAPABILITIES = Capabilities(
        content_types=frozenset({ContentType.TEXT, ContentType.IMAGE}),
        batch_size=1,
        max_text_chars=MAX_TEXT_CHARS,
    )

    def __init__(
        self, name: str, config: AzureConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(name, config)
        self._clock = clock  # for a Retry-After given as an HTTP date
        root = (config.base_url or config.endpoint or "").rstrip("/")
        # The SDK's endpoint is the resource URL; accept one ending in /contentsafety too.
        self._root = f"{root.removesuffix('/contentsafety')}/contentsafety"
        self._asked = tuple(config.categories or wire.CATEGORIES)

    @property
    def capabilities(self) -> Capabilities:
        return self._CAPABILITIES

    def describe(self) -> Mapping[str, Any]:
        return {
            **super().describe(),
            "host": httpx.URL(self._root).host,
            "api_version": self.config.api_version,
            "output_type": self.config.output_type,
            "categories": list(self._asked),
            "blocklists": list(self.config.blocklists),
        }

    # -- the check flow ---------------------------------------------------------------

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        results: list[ItemResult] = []
        for content in contents:  # one, by the capabilities; more would each go alone
            try:
                results.append((yield from self._check(content)))
            except ProviderError as exc:
                if len(contents) == 1:
                    raise
                results.append(exc)
        return results

    def _check(self, content: Content) -> Generator[httpx.Request, httpx.Response, Verdict]:
        """Yield the requests for one content; return its verdict."""
        if content.type is ContentType.TEXT:
            operation, body = "text:analyze", self._text_body(content.value)
            highest = wire.MAX_SEVERITY[self.config.output_type]
        else:
            image = yield from fetch_image(content.value)
            operation, body = "image:analyze", self._image_body(image)
            highest = wire.MAX_SEVERITY[wire.FOUR_LEVELS]  # images: four levels only
        response = yield self._request(operation, body)
        if response.status_code != 200:
            raise self._error(response)
        result, raw = wire.read_result(response)
        return self._verdict(result, raw, highest, _request_id(response))

    def _text_body(self, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text, "outputType": self.config.output_type}
        if self.config.categories is not None:
            body["categories"] = list(self.config.categories)
        if self.config.blocklists:
            body["blocklistNames"] = list(self.config.blocklists)
            body["haltOnBlocklistHit"] = self.config.halt_on_blocklist_hit
        return body

    def _image_body(self, image: bytes) -> dict[str, Any]:
        body: dict[str, Any] = {
            "image": {"content": base64.b64encode(image).decode("ascii")},
            "outputType": wire.FOUR_LEVELS,
        }
        if self.config.categories is not None:
            body["categories"] = list(self.config.categories)
        return body

    def _request(self, operation: str, body: Mapping[str, Any]) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self._root}/{operation}",
            params={"api-version": self.config.api_version},
            json=body,
            headers={
                "Ocp-Apim-Subscription-Key": self.config.api_key.get(),
                "Accept": "application/json",
            },
        )

    def _verdict(
        self,
        result: wire.AnalyzeResult,
        raw: dict[str, Any],
        highest: int,
        request_id: str | None,
    ) -> Verdict:
        decision, category, top = judge(
            result,
            asked=self._asked,
            highest=highest,
            review_at=self.config.review_at,
            block_at=self.config.block_at,
        )
        score = round(top * 100 / highest)
        hits = result.blocklists_match
        keywords = tuple(dict.fromkeys(h.blocklist_item_text for h in hits))[:MAX_KEYWORDS]
        if hits and decision is not Decision.BLOCK:
            # A blocklist hit blocks; a harm category that blocks too keeps its label.
            name = hits[0].blocklist_name
            return Verdict(
                decision=Decision.BLOCK,
                label=Label.OTHER,
                sublabel=name,
                vendor_label=name,
                keywords=keywords,
                request_id=request_id,
                raw=raw,
            )
        if decision is Decision.PASS or category is None:
            # How close it came stays in score; the label says nothing was found.
            return Verdict(
                decision=decision, label=Label.NORMAL, score=score, request_id=request_id, raw=raw
            )
        return Verdict(
            decision=decision,
            label=wire.label_for(category, blocking=decision is Decision.BLOCK),
            sublabel=category,
            vendor_label=category,
            score=score,
            keywords=keywords,
            request_id=request_id,
            raw=raw,
        )

    # -- errors -----------------------------------------------------------------------

    def _error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        if status < 400:
            return ProtocolError(f"Azure answered HTTP {status}, not an analysis", code=status)
        error = wire.read_error(response)
        code: int | str = error.code or status
        if status in (401, 403):
            # Our words, not the gateway's: check the key and the endpoint it belongs to.
            return AuthError(
                f"Azure refused the request (HTTP {status}): check api_key and that endpoint "
                "is that key's resource",
                code=code,
            )
        text = self._vendor_text(error)
        if status == 429 or error.code == "TooManyRequests":
            return RateLimited(
                f"Azure rate limit reached: {text}",
                code=code,
                retry_after=retry_after(response.headers, self._clock()),
            )
        if error.code in _TRANSIENT_CODES or status == 408 or status >= 500:
            return ProviderUnavailable(f"Azure server error (HTTP {status}): {text}", code=code)
        return ProviderError(f"Azure refused the request (HTTP {status}): {text}", code=code)

    def _vendor_text(self, error: wire.ApiError) -> str:
        """The vendor's code and message: never the key, never long."""
        text = ": ".join(part for part in (error.code, error.message) if part)
        return vendor_text(text, [self.config.api_key.get()]) or "no details"


def _request_id(response: httpx.Response) -> str | None:
    for header in ("apim-request-id", "x-ms-request-id"):
        value = str(response.headers.get(header, "")).strip()
        if value and len(value) <= 128:
            return value
    return None


def retry_after(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to wait, read as azure-core's retry policy reads them:
    ``retry-after-ms``, ``x-ms-retry-after-ms``, then ``Retry-After`` (seconds or an
    HTTP date, against ``now``); None when absent or unreadable."""
    return read_retry_after(headers, now, ms_headers=("retry-after-ms", "x-ms-retry-after-ms"))
