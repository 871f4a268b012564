"""The ``aliyun_green`` provider: its config, and the sans-IO flow over Alibaba Cloud
Content Moderation (Green, ``green-cip``) API 2022-03-02, ``TextModerationPlus`` or
``TextModeration``: one RPC-style form POST to ``/`` per text, signed with
ACS3-HMAC-SHA256 (the current SDK's default) or the legacy RPC HMAC-SHA1 (``_signing``).

Neither action takes a batch: one text a request, and the core runs several at once.
The signature is made from the AccessKey secret; with V1 it and the AccessKey id ride
in the query string, which the core masks in its log lines (``secret_query_params``).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Final, Literal
from urllib.parse import urlencode

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
    Secret,
)
from moderation_core.wire import check_rate_limit

from . import _signing as signing
from ._labels import RISK_LEVELS
from ._wire import Bands, read_answer
from .emulator import make_emulator

__all__ = [
    "ACTIONS",
    "API_VERSION",
    "DEFAULT_MAX_TEXT_CHARS",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_REGION",
    "DEFAULT_SERVICES",
    "REGIONS",
    "AliyunGreenConfig",
    "AliyunGreenProvider",
]

API_VERSION: Final = "2022-03-02"
ACTIONS: Final = ("TextModerationPlus", "TextModeration")
# Region -> whether it has a VPC endpoint (4.1). The China regions are from the Text
# Moderation Pro page; the international ones from the access guide, which names only
# their public hosts.
REGIONS: Mapping[str, bool] = {
    "cn-shanghai": True,
    "cn-beijing": True,
    "cn-hangzhou": True,
    "cn-shenzhen": True,
    "cn-chengdu": False,
    "ap-southeast-1": False,
    "eu-west-1": False,
    "us-east-1": False,
    "us-west-1": False,
    "eu-central-1": False,
}
DEFAULT_REGION: Final = "cn-shanghai"
# The chat services of each action: this is a chat-moderation library.
DEFAULT_SERVICES: Mapping[str, str] = {
    "TextModerationPlus": "chat_detection_pro",
    "TextModeration": "chat_detection",
}
# Characters per content. PLUS documents 2,000 for llm_query_moderation and 5,000 for
# llm_response_moderation: 2,000 is the tighter, so every PLUS service takes it. The
# classic services' limit was not found (4.2 NOT FOUND): 600, the figure the Text
# Moderation 2.0 guides give for content, until the vendor says otherwise.
DEFAULT_MAX_TEXT_CHARS: Mapping[str, int] = {"TextModerationPlus": 2_000, "TextModeration": 600}
# 100 QPS per account for both actions (4.7); a little under it for arrival jitter.
DEFAULT_RATE_LIMIT: Final = 95.0
_VENDOR_QPS: Final = 100
_SERVICE: Final = re.compile(r"[A-Za-z0-9_]{1,64}")
_FORM: Final = "application/x-www-form-urlencoded"
# What ACS3 signs besides the x-acs-* headers: the SDK signs every header it sets.
_SIGNED_PLAIN_HEADERS: Final = ("host", "content-type")
_LEVEL_NAMES: Final = tuple(level for level in RISK_LEVELS if level != "none")


def _check_region(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and value not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {value[:40]!r}")


def _check_service(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and not _SERVICE.fullmatch(value):
        raise ValueError(
            f"service must be a service code such as chat_detection_pro, got {value[:40]!r}"
        )


def _check_services(_inst: object, _attr: object, value: dict[str, str]) -> None:
    bad = [s for s, code in value.items() if not s.strip() or not _SERVICE.fullmatch(code)]
    if bad:
        raise ValueError(
            "services maps non-empty scenes to service codes such as chat_detection_pro; "
            f"check {', '.join(repr(s[:40]) for s in bad)}"
        )


def _check_level(_inst: object, attr: attrs.Attribute[str], value: str) -> None:
    if value not in _LEVEL_NAMES:
        raise ValueError(f"{attr.name} must be one of {', '.join(_LEVEL_NAMES)}, got {value!r}")


@attrs.define(kw_only=True)
class AliyunGreenConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "aliyun_green"``; see docs/providers/aliyun.md."""

    access_key_id: Secret = attrs.field(repr=False)
    access_key_secret: Secret = attrs.field(repr=False)
    security_token: Secret | None = attrs.field(default=None, repr=False)  # STS credentials
    region: str | None = attrs.field(default=None, validator=_check_region)
    vpc: bool = False
    action: Literal["TextModerationPlus", "TextModeration"] = "TextModerationPlus"
    service: str | None = attrs.field(default=None, validator=_check_service)
    services: dict[str, str] = attrs.field(factory=dict, validator=_check_services)
    signature: Literal["acs3", "v1"] = "acs3"
    review_at: str = attrs.field(default="low", validator=_check_level)
    block_at: str = attrs.field(default="high", validator=_check_level)
    max_text_chars: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    rate_limit: float | None = attrs.field(default=DEFAULT_RATE_LIMIT, validator=check_rate_limit)

    def problems(self) -> list[str]:
        """Checks across keys, every one reported at once."""
        problems = super().problems()
        if not self.access_key_id:
            problems.append("access_key_id is empty")
        if not self.access_key_secret:
            problems.append("access_key_secret is empty")
        if RISK_LEVELS[self.review_at] > RISK_LEVELS[self.block_at]:
            problems.append(
                f"review_at ({self.review_at}) must not be above block_at ({self.block_at})"
            )
        if self.base_url is not None and self.region is not None:
            problems.append("set region or base_url, not both (base_url replaces the host)")
        if self.vpc and self.base_url is not None:
            problems.append("vpc picks a region's VPC host; with base_url, leave vpc out")
        elif self.vpc and not REGIONS[self.region or DEFAULT_REGION]:
            with_vpc = ", ".join(name for name, has in REGIONS.items() if has)
            problems.append(
                f"region {self.region or DEFAULT_REGION} has no documented VPC endpoint "
                f"(VPC: {with_vpc}); use base_url for another"
            )
        return problems

    def advice(self) -> list[str]:
        """Allowed but unwise settings, logged as warnings when the provider is built."""
        if self.rate_limit is not None and self.rate_limit > _VENDOR_QPS:
            return [
                f"rate_limit {self.rate_limit:g}/s is above the vendor's {_VENDOR_QPS} QPS per "
                "account: expect Throttling.User answers"
            ]
        return []


class AliyunGreenProvider(Provider[AliyunGreenConfig]):
    """Alibaba Cloud Content Moderation: text, one a request, answered at once."""

    provider_type: ClassVar[str] = "aliyun_green"
    config_class = AliyunGreenConfig
    description: ClassVar[str] = (
        "Alibaba Cloud Content Moderation (Green) 2022-03-02: TextModerationPlus or "
        "TextModeration, ACS3 or V1 signed"
    )
    emulator_factory = make_emulator
    # V1 carries these in the query string; the core masks them in httpx's log lines.
    secret_query_params: ClassVar[tuple[str, ...]] = ("AccessKeyId", "Signature", "SecurityToken")

    def __init__(
        self,
        name: str,
        config: AliyunGreenConfig,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        super().__init__(name, config)  # refuses a config with problems()
        self._clock = clock
        self._nonce = nonce
        self._url = _endpoint(config)
        self._plus = config.action == "TextModerationPlus"
        self._service = config.service or DEFAULT_SERVICES[config.action]
        # Scenes compare without case, as the other providers' scene maps do.
        self._services = {scene.casefold(): code for scene, code in config.services.items()}
        self._bands = Bands(
            review_at=RISK_LEVELS[config.review_at], block_at=RISK_LEVELS[config.block_at]
        )
        # The vendor counts characters and documents no byte limit.
        self._capabilities = Capabilities(
            content_types=frozenset({ContentType.TEXT}),
            batch_size=1,
            max_text_chars=config.max_text_chars or DEFAULT_MAX_TEXT_CHARS[config.action],
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def url(self) -> str:
        return self._url

    def describe(self) -> Mapping[str, Any]:
        return {
            **super().describe(),
            "host": httpx.URL(self._url).host,
            "action": self.config.action,
            "service": self._service,
            "signature": self.config.signature,
            "review_at": self.config.review_at,
            "block_at": self.config.block_at,
        }

    def service_for(self, scene: str | None) -> str:
        """The Service code for a scene: ``services`` (any case), else ``service``."""
        if scene:
            return self._services.get(scene.casefold(), self._service)
        return self._service

    # -- the request ----------------------------------------------------------------

    def business_params(self, content: Content, context: CheckContext) -> dict[str, str]:
        """``Service`` and ``ServiceParameters`` (a JSON string) for one text (4.2)."""
        parameters: dict[str, str] = {"content": content.value}
        if context.sender:
            parameters["accountId"] = context.sender
        if content.id is not None:
            parameters["dataId"] = str(content.id)
        return {
            "Service": self.service_for(context.scene),
            "ServiceParameters": json.dumps(parameters, ensure_ascii=False),
        }

    def request(self, content: Content, context: CheckContext) -> httpx.Request:
        """The signed request for one text, as the configured scheme makes it."""
        body = self.business_params(content, context)
        if self.config.signature == "v1":
            return self._rpc_request(body)
        return self._acs3_request(body)

    def _rpc_request(self, body: Mapping[str, str]) -> httpx.Request:
        # The official SDK's layout (4.4): the common parameters and the signature in the
        # query, the business ones in the form body, the signature over both.
        config = self.config
        query = {
            "Action": config.action,
            "Format": "JSON",
            "Version": API_VERSION,
            "Timestamp": signing.timestamp(self._clock()),
            "SignatureMethod": signing.HMAC_SHA1,
            "SignatureVersion": "1.0",
            "SignatureNonce": self._nonce(),
            "AccessKeyId": config.access_key_id.get(),
        }
        if config.security_token is not None:
            query["SecurityToken"] = config.security_token.get()
        query["Signature"] = signing.rpc_signature(
            config.access_key_secret.get(), "POST", {**query, **body}
        )
        return httpx.Request(
            "POST",
            self._url,
            params=query,
            content=urlencode(body).encode(),
            headers={"Content-Type": _FORM, "Accept": "application/json"},
        )

    def _acs3_request(self, body: Mapping[str, str]) -> httpx.Request:
        config = self.config
        payload = urlencode(body).encode()
        hashed = signing.sha256_hex(payload)
        headers = {
            "Content-Type": _FORM,
            "Accept": "application/json",
            "x-acs-action": config.action,
            "x-acs-version": API_VERSION,
            "x-acs-date": signing.timestamp(self._clock()),
            "x-acs-signature-nonce": self._nonce(),
            "x-acs-content-sha256": hashed,
        }
        if config.security_token is not None:
            headers["x-acs-accesskey-id"] = config.access_key_id.get()
            headers["x-acs-security-token"] = config.security_token.get()
        # httpx adds Host from the URL: the signature covers the value sent.
        request = httpx.Request("POST", self._url, content=payload, headers=headers)
        signed = [*_SIGNED_PLAIN_HEADERS, *(n for n in headers if n.startswith("x-acs-"))]
        request.headers["Authorization"] = signing.acs3_authorization(
            access_key_id=config.access_key_id.get(),
            secret=config.access_key_secret.get(),
            method=request.method,
            path=request.url.path,
            query=request.url.params.multi_items(),
            headers=request.headers.multi_items(),
            signed_headers=signed,
            hashed_payload=hashed,
        )
        return request

    # -- the check flow -------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        config = self.config
        token = config.security_token.get() if config.security_token is not None else ""
        return (config.access_key_id.get(), config.access_key_secret.get(), token)

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        results: list[ItemResult] = []
        for content in contents:
            response = yield self.request(content, context)
            results.append(
                read_answer(response, plus=self._plus, bands=self._bands, secrets=self._secrets())
            )
        return results


def _endpoint(config: AliyunGreenConfig) -> str:
    if config.base_url is not None:
        return config.base_url.rstrip("/") + "/"
    vpc = "-vpc" if config.vpc else ""
    return f"https://green-cip{vpc}.{config.region or DEFAULT_REGION}.aliyuncs.com/"
