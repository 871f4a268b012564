"""The ``tencent_tms`` provider: its config, and the sans-IO flow over Tencent Cloud
TMS ``TextModeration`` and IMS ``ImageModeration`` (API 2020-12-29), each request
signed with TC3-HMAC-SHA256 (``_tc3``).

One content per request: neither API takes a batch. The core runs several at once.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, ClassVar, Final

import attrs
import httpx

from moderation_core import (
    Capabilities,
    CheckContext,
    Content,
    ContentType,
    Flow,
    HttpProviderConfig,
    ItemResult,
    Provider,
    ProviderError,
    Secret,
    Verdict,
)
from moderation_core.wire import check_rate_limit

from . import _tc3 as tc3
from . import _wire as wire
from .emulator import make_emulator

__all__ = [
    "API_VERSION",
    "DEFAULT_RATE_LIMIT",
    "MAX_TEXT_CHARS",
    "TencentTmsConfig",
    "TencentTmsProvider",
]

API_VERSION: Final = "2020-12-29"
MAX_TEXT_CHARS: Final = 10_000  # Unicode characters before base64 (CONTRACTS-MORE-VENDORS 1.5)
# TextModeration allows 1,000 requests/s, ImageModeration 100/s; the core keeps one
# limit per provider, so this one is text's, 2.5% under it for arrival jitter.
DEFAULT_RATE_LIMIT: Final = 975.0
DEFAULT_REGION: Final = "ap-singapore"
DEFAULT_ROOT_DOMAIN: Final = "tencentcloudapi.com"
_ACTIONS: Final = {
    ContentType.TEXT: ("TextModeration", "tms"),
    ContentType.IMAGE: ("ImageModeration", "ims"),
}
_BIZ_TYPE: Final = re.compile(r"[A-Za-z0-9_]{3,32}")  # the intl doc's BizType rule
_DATA_ID: Final = re.compile(r"[A-Za-z0-9_\-@#]{1,64}")
_REGION: Final = re.compile(r"[a-z]+(-[a-z0-9]+)+")
_DOMAIN: Final = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
_JSON: Final = "application/json"  # exactly: the signature covers it, and the SDK sends it


def _check_region(_inst: object, _attr: object, value: str) -> None:
    if not _REGION.fullmatch(value):
        raise ValueError(
            f"region must be a Tencent Cloud region such as ap-singapore, got {value!r}"
        )


def _check_domain(_inst: object, _attr: object, value: str) -> None:
    if len(value) > 253 or not _DOMAIN.fullmatch(value):  # 253: the DNS name limit
        raise ValueError(
            f"root_domain must be a domain such as tencentcloudapi.com, got {value[:64]!r}"
        )


def _check_biz_type(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and not _BIZ_TYPE.fullmatch(value):
        raise ValueError(
            f"biz_type must be 3-32 letters, digits or underscores, got {value[:40]!r}"
        )


@attrs.define(kw_only=True)
class TencentTmsConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "tencent_tms"``; see docs/providers/tencent_tms.md."""

    secret_id: Secret = attrs.field(repr=False)
    secret_key: Secret = attrs.field(repr=False)
    token: Secret | None = attrs.field(default=None, repr=False)  # temporary (STS) credentials
    region: str = attrs.field(default=DEFAULT_REGION, validator=_check_region)
    root_domain: str = attrs.field(default=DEFAULT_ROOT_DOMAIN, validator=_check_domain)
    biz_type: str | None = attrs.field(default=None, validator=_check_biz_type)
    rate_limit: float | None = attrs.field(default=DEFAULT_RATE_LIMIT, validator=check_rate_limit)

    def problems(self) -> list[str]:
        """Checks across keys, every one reported at once."""
        problems = super().problems()
        if not self.secret_id:
            problems.append("secret_id is empty")
        if not self.secret_key:
            problems.append("secret_key is empty")
        if self.base_url is not None and self.root_domain != DEFAULT_ROOT_DOMAIN:
            problems.append("set root_domain or base_url, not both (base_url replaces the host)")
        return problems


class TencentTmsProvider(Provider[TencentTmsConfig]):
    """Tencent Cloud TMS (text) and IMS (images by URL), answered at once."""

    provider_type: ClassVar[str] = "tencent_tms"
    config_class = TencentTmsConfig
    description: ClassVar[str] = "Tencent Cloud TMS/IMS text and image moderation (TC3-signed)"
    emulator_factory = make_emulator

    # No byte limit: TMS counts characters, and 10,000 of them in base64 are far under
    # the 10 MB a TC3-signed POST may carry.
    _CAPABILITIES = Capabilities(
        content_types=frozenset({ContentType.TEXT, ContentType.IMAGE}),
        batch_size=1,
        max_text_chars=MAX_TEXT_CHARS,
    )

    def __init__(
        self, name: str, config: TencentTmsConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(name, config)
        self._clock = clock
        base = config.base_url.rstrip("/") if config.base_url is not None else None
        # With base_url both services go there (a proxy or the emulator, which serves both).
        self._urls = {
            service: httpx.URL(f"{base or f'https://{service}.{config.root_domain}'}/")
            for service in ("tms", "ims")
        }

    @property
    def capabilities(self) -> Capabilities:
        return self._CAPABILITIES

    def describe(self) -> Mapping[str, Any]:
        return {
            **super().describe(),
            "hosts": sorted({url.host for url in self._urls.values()}),
            "region": self.config.region,
            "biz_type": self.config.biz_type,
        }

    def biz_type_for(self, scene: str | None) -> str | None:
        """``biz_type`` when configured; else the scene when it can be a BizType (3-32
        letters, digits, underscores); else None, and the account's default policy."""
        if self.config.biz_type is not None:
            return self.config.biz_type
        if scene is not None and _BIZ_TYPE.fullmatch(scene):
            return scene
        return None

    # -- the check flow -------------------------------------------------------------

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        return self._flow(tuple(contents), context)

    def _flow(self, contents: tuple[Content, ...], context: CheckContext) -> Flow:
        results: list[ItemResult] = []
        for content in contents:
            try:
                results.append((yield from self._check_one(content, context)))
            except ProviderError as exc:
                if len(contents) == 1:
                    raise
                results.append(exc)  # one failing request must not discard the others
        return results

    def _check_one(
        self, content: Content, context: CheckContext
    ) -> Generator[httpx.Request, httpx.Response, ItemResult]:
        action, service = _ACTIONS[content.type]
        user = None
        if context.sender is not None or context.receiver is not None:
            user = wire.User(user_id=context.sender, receiver_id=context.receiver)
        data_id = str(content.id) if content.id is not None else None
        common: dict[str, Any] = {
            "biz_type": self.biz_type_for(context.scene),
            # DataId is only echoed back (the core keeps content_id itself): one the
            # vendor would refuse is left out rather than failing the check.
            "data_id": data_id if data_id is not None and _DATA_ID.fullmatch(data_id) else None,
            "user": user,
        }
        body: wire.TextRequest | wire.ImageRequest
        if content.type is ContentType.TEXT:
            if len(content.value) > MAX_TEXT_CHARS:
                raise ProviderError(
                    f"text is {len(content.value)} characters; TMS takes at most {MAX_TEXT_CHARS}",
                    code="InvalidParameterValue.ErrTextContentLen",
                )
            encoded = base64.b64encode(content.value.encode()).decode("ascii")
            body = wire.TextRequest(content=encoded, **common)
        else:
            body = wire.ImageRequest(file_url=content.value, **common)
        request = self._request(action, service, wire.to_json(body))
        response = yield request
        answer, raw = wire.read_answer(response, secrets=self._secrets(request))
        return self._verdict(answer, raw)

    def _request(self, action: str, service: str, payload: bytes) -> httpx.Request:
        url = self._urls[service]
        host = url.netloc.decode("ascii")
        timestamp = int(self._clock())
        headers = {
            "Content-Type": _JSON,
            "Host": host,  # set here so the host sent is the host signed
            "X-TC-Action": action,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": API_VERSION,
            "X-TC-Region": self.config.region,
        }
        if self.config.token:
            headers["X-TC-Token"] = self.config.token.get()
        headers["Authorization"] = tc3.sign(
            secret_id=self.config.secret_id.get(),
            secret_key=self.config.secret_key.get(),
            service=service,
            timestamp=timestamp,
            method="POST",
            path=url.raw_path.decode("ascii"),
            headers={"content-type": _JSON, "host": host},
            payload=payload,
        )
        return httpx.Request("POST", url, content=payload, headers=headers)

    def _secrets(self, request: httpx.Request) -> tuple[str, ...]:
        authorization = request.headers["Authorization"]
        found = [
            self.config.secret_id.get(),
            self.config.secret_key.get(),
            authorization,
            authorization.rpartition("Signature=")[2],
        ]
        if self.config.token:
            found.append(self.config.token.get())
        return tuple(found)

    @staticmethod
    def _verdict(answer: wire.Answer, raw: Mapping[str, Any]) -> Verdict:
        decision = wire.decision_for(answer.suggestion)
        return Verdict(
            decision=decision,
            label=wire.label_for(answer.label, decision),
            sublabel=answer.sub_label or None,
            score=answer.score,
            keywords=tuple(answer.keywords),
            vendor_label=answer.label or None,
            request_id=answer.request_id or None,
            raw=raw,
        )
