"""An example moderation-core provider plugin: a complete, installable provider for a
made-up vendor ("Acme Classify"), written the way the built-in providers are.

The vendor's API: ``POST {base_url}/v1/classify`` with ``Authorization: Key <api_key>``
and ``{"texts": [...]}`` (at most 20), answering
``{"results": [{"flagged": bool, "category": str, "confidence": float}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs
import httpx

from moderation_core import (
    Capabilities,
    CheckContext,
    Content,
    ContentType,
    Decision,
    Flow,
    HttpProviderConfig,
    Label,
    Provider,
    ProviderRegistry,
    Secret,
    Verdict,
    hookimpl,
    raise_for_status,
)

# The vendor's categories in the shared taxonomy; anything else is OTHER.
LABELS = {"none": Label.NORMAL, "insult": Label.ABUSE, "spam": Label.AD, "adult": Label.PORN}

_confidence = attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0))


@attrs.define(kw_only=True)
class AcmeConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "acme"``."""

    api_key: Secret = attrs.field(repr=False)
    # A flag at or above block_at is BLOCK, at or above review_at REVIEW, else PASS.
    block_at: float = attrs.field(default=0.9, validator=_confidence)
    review_at: float = attrs.field(default=0.5, validator=_confidence)

    def problems(self) -> list[str]:
        """Checks across keys (a validator checks one key)."""
        problems = super().problems()
        if self.review_at > self.block_at:
            problems.append("review_at must not be above block_at")
        return problems


def make_emulator(api_key: str = "demo-key") -> Callable[[httpx.Request], httpx.Response]:
    """A fake Acme for tests and demos: flags "idiot" as an insult and "buy now" as spam."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Key {api_key}":
            return httpx.Response(401, json={"error": "bad key"})
        results = []
        for text in json.loads(request.content)["texts"]:
            lowered = text.lower()
            if "idiot" in lowered:
                results.append({"flagged": True, "category": "insult", "confidence": 0.95})
            elif "buy now" in lowered:
                results.append({"flagged": True, "category": "spam", "confidence": 0.6})
            else:
                results.append({"flagged": False, "category": "none", "confidence": 0.01})
        return httpx.Response(200, json={"results": results})

    return handle


class AcmeProvider(Provider[AcmeConfig]):
    """Acme Classify: text only, batches of 20."""

    provider_type: ClassVar[str] = "acme"
    config_class: ClassVar[type[Any]] = AcmeConfig
    description: ClassVar[str] = "Acme Classify (example plugin)"
    emulator_factory = make_emulator  # `moderation emulate acme` serves it

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            content_types=frozenset({ContentType.TEXT}),
            batch_size=20,
            batch_types=frozenset({ContentType.TEXT}),
            max_text_bytes=4096,
        )

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        base = (self.config.base_url or "https://api.acme.example").rstrip("/")
        request = httpx.Request(
            "POST",
            f"{base}/v1/classify",
            json={"texts": [c.value for c in contents]},
            headers={"Authorization": f"Key {self.config.api_key.get()}"},
        )
        response = yield request  # the core sends it, sync or async, and hands back the answer
        raise_for_status(response)  # 401 AuthError, 429 RateLimited, 5xx ProviderUnavailable...
        # An answer not in the documented shape raises KeyError, TypeError or ValueError
        # here, which the core turns into a ProtocolError: never a pass.
        # The core checks there is one result per content.
        return [self._verdict(item) for item in response.json()["results"]]

    def _verdict(self, item: dict[str, Any]) -> Verdict:
        # The core fills in provider and content_id.
        confidence = float(item["confidence"])
        decision = Decision.PASS
        if item["flagged"] and confidence >= self.config.block_at:
            decision = Decision.BLOCK
        elif item["flagged"] and confidence >= self.config.review_at:
            decision = Decision.REVIEW
        return Verdict(
            decision=decision,
            label=LABELS.get(item["category"], Label.OTHER),
            score=round(confidence * 100),
            vendor_label=item["category"],
            raw=item,
        )


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(AcmeProvider)
