"""An example moderation-core provider plugin: a complete, installable provider for a
made-up vendor ("Acme Classify"), written the way the built-in providers are.

The vendor's API: ``POST {base_url}/v1/classify`` with ``Authorization: Key <api_key>``
and ``{"texts": [...]}`` (at most 20), answering
``{"results": [{"flagged": bool, "category": str, "confidence": float}]}``.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
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
    ProtocolError,
    Provider,
    ProviderRegistry,
    ProviderUnavailable,
    RateLimited,
    Secret,
    Verdict,
    hookimpl,
)

# The vendor's categories in the shared taxonomy; anything else is OTHER.
LABELS = {"none": Label.NORMAL, "insult": Label.ABUSE, "spam": Label.AD, "adult": Label.PORN}


@attrs.define(kw_only=True)
class AcmeConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "acme"``."""

    api_key: Secret = attrs.field(repr=False)
    block_at: float = 0.9  # confidence at or above which a flag is BLOCK, else REVIEW


class AcmeProvider(Provider[AcmeConfig]):
    """Acme Classify: text only, batches of 20."""

    type: ClassVar[str] = "acme"
    config_class: ClassVar[builtins.type[Any]] = AcmeConfig
    description: ClassVar[str] = "Acme Classify (example plugin)"

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
        if response.status_code == 401:
            raise AuthError("api key refused", code=401)
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After")
            raise RateLimited("rate limited", code=429, retry_after=float(retry_after or 1))
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"server error {response.status_code}", code=response.status_code
            )
        try:
            results = response.json()["results"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ProtocolError("answer is not the documented JSON") from None
        return [
            self._verdict(content, item) for content, item in zip(contents, results, strict=True)
        ]

    def _verdict(self, content: Content, item: dict[str, Any]) -> ItemResult:
        confidence = float(item["confidence"])
        decision = Decision.PASS
        if item["flagged"]:
            decision = Decision.BLOCK if confidence >= self.config.block_at else Decision.REVIEW
        return Verdict(
            decision=decision,
            label=LABELS.get(item["category"], Label.OTHER),
            score=round(confidence * 100),
            provider=self.name,
            vendor_label=item["category"],
            content_id=content.id,
            raw=item,
        )


def make_emulator(**options: Any) -> Any:
    """A fake Acme for tests and demos: flags "idiot" as an insult and "buy now" as spam."""
    api_key = str(options.get("api_key", "demo-key"))

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


AcmeProvider.emulator = staticmethod(make_emulator)


@hookimpl
def register_providers(registry: ProviderRegistry) -> None:
    registry.add(AcmeProvider)
