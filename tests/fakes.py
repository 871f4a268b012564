"""A fake HTTP provider and its fake vendor, for core tests of routing, drivers and
credentials without any real vendor's wire format.

Vendor protocol (JSON over POST):
- ``POST /token`` -> ``{"token": "t-N"}`` (counts fetches)
- ``POST /check`` with ``Authorization: Bearer t-N`` and ``{"items": ["text", ...]}``
  -> ``{"results": [{"decision": "PASS|REVIEW|BLOCK", "label": "..."} | {"error": code}]}``
Texts containing ``block`` get BLOCK, ``review`` REVIEW, ``item-fail`` a per-item
error; a vendor built with ``fail=True`` answers 503, ``garbage=True`` a non-JSON body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import httpx

from moderation_core import (
    Capabilities,
    CheckContext,
    Content,
    ContentType,
    Decision,
    Emulator,
    Flow,
    HttpProviderConfig,
    ItemResult,
    Label,
    ProtocolError,
    Provider,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StaleCredentials,
    Verdict,
    hookimpl,
    raise_for_status,
)
from moderation_core._provider import AuthFlow
from moderation_core.testing import Clock

__all__ = [
    "Clock",
    "FakeConfig",
    "FakePlugin",
    "FakeProvider",
    "FakeVendor",
    "Recorder",
    "fake_providers",
    "routed",
]


@attrs.define(kw_only=True)
class FakeConfig(HttpProviderConfig):
    batch_size: int = 1
    types: list[str] = attrs.field(factory=lambda: ["text", "image"])
    max_text_bytes: int | None = None
    use_token: bool = False


class FakeProvider(Provider[FakeConfig]):
    provider_type: ClassVar[str] = "fake"
    config_class: ClassVar[type[Any]] = FakeConfig
    description: ClassVar[str] = "a fake vendor for core tests"

    def __init__(self, name: str, config: FakeConfig) -> None:
        super().__init__(name, config)
        self.token: str | None = None
        self.base = (config.base_url or f"http://{name}.fake").rstrip("/")
        types = frozenset(ContentType(t) for t in config.types)
        self._caps = Capabilities(
            content_types=types,
            batch_size=config.batch_size,
            batch_types=types,
            max_text_bytes=config.max_text_bytes,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def needs_credentials(self) -> bool:
        return self.config.use_token and self.token is None

    def credentials_flow(self) -> AuthFlow:
        response = yield httpx.Request("POST", f"{self.base}/token", json={})
        raise_for_status(response)
        self.token = response.json()["token"]

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        token = self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = {"items": [c.value for c in contents], "scene": context.scene}
        response = yield httpx.Request("POST", f"{self.base}/check", json=body, headers=headers)
        if response.status_code == 401:
            if self.token == token:
                self.token = None
            raise StaleCredentials("token refused", code=401)
        if response.status_code == 429:
            after = response.headers.get("Retry-After")
            raise RateLimited("slow down", code=429, retry_after=float(after) if after else None)
        if response.status_code >= 500:
            raise ProviderUnavailable(f"vendor answered {response.status_code}")
        try:
            data = response.json()
        except json.JSONDecodeError:
            raise ProtocolError("not JSON") from None
        results: list[ItemResult] = []
        for content, item in zip(contents, data["results"], strict=True):
            if "error" in item:
                results.append(ProviderError("item failed", code=item["error"]))
                continue
            results.append(
                Verdict(
                    decision=Decision[item["decision"]],
                    label=Label[item["label"]],
                    keywords=tuple(item.get("keywords", ())),
                    provider=self.name,
                    vendor_label=item["label"],
                    content_id=content.id,
                    raw=item,
                )
            )
        return results


class FakeVendor:
    """The fake vendor: a callable for ``httpx.MockTransport``, counting what it saw."""

    def __init__(
        self,
        *,
        fail: bool = False,
        garbage: bool = False,
        refuse_tokens: int = 0,
        item_errors: bool = True,
        token_fail: bool = False,
        check_tokens: bool = False,
    ) -> None:
        self.token_fail = token_fail
        self.check_tokens = check_tokens  # refuse (401) a token this vendor did not issue
        self.fail = fail
        self.item_errors = item_errors
        self.garbage = garbage
        self.refuse_tokens = refuse_tokens  # answer 401 to this many checks
        self.token_fetches = 0
        self.checks: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if request.url.path == "/token":
                self.token_fetches += 1
                if self.token_fail:
                    return httpx.Response(503, text="token service down")
                return httpx.Response(200, json={"token": f"t-{self.token_fetches}"})
            body = json.loads(request.content)
            self.checks.append(body)
            if self.fail:
                return httpx.Response(503, text="unavailable")
            if self.garbage:
                return httpx.Response(200, text="<html>oops</html>")
            if self.refuse_tokens:
                self.refuse_tokens -= 1
                return httpx.Response(401, json={"error": "unauthorized"})
            if self.check_tokens and not self._issued(request.headers.get("Authorization")):
                return httpx.Response(401, json={"error": "unknown token"})
        judged = [_judge(t, self.item_errors) for t in body["items"]]
        return httpx.Response(200, json={"results": judged})

    def _issued(self, authorization: str | None) -> bool:
        issued = {f"Bearer t-{n}" for n in range(1, self.token_fetches + 1)}
        return authorization in issued


def _judge(text: str, item_errors: bool) -> dict[str, Any]:
    if item_errors and "item-fail" in text:
        return {"error": 4242}
    if "block" in text:
        return {"decision": "BLOCK", "label": "ABUSE", "keywords": ["block"]}
    if "review" in text:
        return {"decision": "REVIEW", "label": "AD"}
    return {"decision": "PASS", "label": "NORMAL"}


class FakePlugin:
    """Registers FakeProvider, as a third-party plugin would."""

    @hookimpl
    def register_providers(self, registry: Any) -> None:
        registry.add(FakeProvider)


class Recorder:
    """Records every finished check through the ``check_finished`` hook."""

    def __init__(self) -> None:
        self.seen: list[tuple[Content, Verdict, CheckContext]] = []

    @hookimpl
    def check_finished(self, content: Content, verdict: Verdict, context: CheckContext) -> None:
        self.seen.append((content, verdict, context))


def fake_providers(*providers: tuple[str, dict[str, Any]], **moderation: Any) -> dict[str, Any]:
    """A config of fake providers, tried in the order given: ``("a", {"retries": 2})``
    is ``[providers.a]`` with ``type = "fake"`` (base URL ``http://a.fake``);
    ``moderation`` fills ``[moderation]``."""
    return {
        "moderation": {"providers": [name for name, _ in providers], **moderation},
        "providers": {name: {"type": "fake", **table} for name, table in providers},
    }


def routed(vendors: Mapping[str, Emulator]) -> httpx.MockTransport:
    """One transport for several fake vendors, each chosen by its host (``NAME.fake``)."""

    def handle(request: httpx.Request) -> httpx.Response:
        return vendors[request.url.host.removesuffix(".fake")](request)

    return httpx.MockTransport(handle)
