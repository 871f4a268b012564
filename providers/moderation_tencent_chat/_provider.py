"""The ``tencent_chat`` provider: its config, and the sans-IO flow over
``v4/im_msg_audit/content_moderation`` (one item) and ``batch_content_moderation``
(up to ten Text/Image items).

The UserSig rides in the query string, so nothing here logs or raises a URL.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Generator, Mapping, Sequence
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
    ItemResult,
    Label,
    MemoryReplayCache,
    ProtocolError,
    Provider,
    ProviderError,
    ReplayCache,
    Secret,
    Verdict,
    WebhookEvent,
    warn_unverified,
)
from moderation_core._config import shown
from moderation_core.wire import check_rate_limit

from . import _wire as wire
from ._usersig import UserSigCache
from ._webhook import (
    WINDOW_SECONDS,
    DuplicateWebhookError,
    parse_result_notify,
    verify_webhook,
)
from .emulator import make_emulator

__all__ = ["REGIONS", "TencentChatConfig", "TencentChatProvider"]

log = logging.getLogger("moderation_tencent_chat")

# Data centers (CONTRACTS 2.3): primary and backup (for DNS trouble) REST hosts.
REGIONS: Mapping[str, tuple[str, str]] = {
    "china": ("console.tim.qq.com", "adminapi.my-imcloud.com"),
    "singapore": ("adminapisgp.im.qcloud.com", "adminapisgp.my-imcloud.com"),
    "seoul": ("adminapikr.im.qcloud.com", "adminapikr.my-imcloud.com"),
    "frankfurt": ("adminapiger.im.qcloud.com", "adminapiger.my-imcloud.com"),
    "silicon_valley": ("adminapiusa.im.qcloud.com", "adminapiusa.my-imcloud.com"),
    "jakarta": ("adminapiidn.im.qcloud.com", "adminapiidn.my-imcloud.com"),
    "mumbai": ("adminapiind.im.qcloud.com", "adminapiind.my-imcloud.com"),
    "tokyo": ("adminapijpn.im.qcloud.com", "adminapijpn.my-imcloud.com"),
}
_REGION_ALIASES = {"usa": "silicon_valley", "us": "silicon_valley", "korea": "seoul"}
MODERATION_REGION = "singapore"  # the seeds: the moderation APIs exist only there, for now

MAX_CONTENT_BYTES = 8192  # "8KB" in the seeds, read as 8 KiB of UTF-8
BATCH_SIZE = 10
BATCH_TYPES = frozenset({ContentType.TEXT, ContentType.IMAGE})
DEFERRED_TYPES = frozenset({ContentType.AUDIO, ContentType.VIDEO})
_TYPE_NAMES = {
    ContentType.TEXT: "Text",
    ContentType.IMAGE: "Image",
    ContentType.AUDIO: "Audio",
    ContentType.VIDEO: "Video",
}
# AuditName takes the six general configs (seed 000) or a custom config ID from the
# console. The callback's Scene adds C2CCustom/GroupCustom, which are not AuditNames:
# custom messages are moderated under their chat's config.
GENERAL_AUDIT_NAMES = ("C2C", "Group", "UserInfo", "GroupInfo", "GroupMemberInfo", "RelationChain")
_SCENE_AUDIT_NAMES = {name.lower(): name for name in GENERAL_AUDIT_NAMES} | {
    "c2ccustom": "C2C",
    "groupcustom": "Group",
}
_MIN_TIMEOUT = 3.0  # the IM backend allows itself 3 s per REST call
_IDENTIFIER = re.compile(r"[^\s]{1,32}")


def region_name(value: str) -> str:
    """The canonical name of a data center, accepting any case and - or space for _."""
    name = re.sub(r"[\s-]+", "_", value.strip().lower())
    name = _REGION_ALIASES.get(name, name)
    if name not in REGIONS:
        known = ", ".join(REGIONS)
        raise ValueError(f"region {value!r} is not a Tencent Chat data center ({known})")
    return name


def _check_region(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None:
        region_name(value)


def _check_timeout(_inst: object, _attr: object, value: float) -> None:
    # Under 3 s is allowed (a pre-send hook answering in 2 s needs it, with a fallback);
    # ``TencentChatConfig.advice`` warns about it instead.
    if value <= 0:
        raise ValueError(f"timeout must be more than 0 s, got {value:g}")


def _check_identifier(_inst: object, _attr: object, value: str) -> None:
    if not _IDENTIFIER.fullmatch(value) or len(value.encode()) > 32:
        raise ValueError(f"identifier must be 1-32 bytes without spaces, got {shown(value)}")


def _check_positive(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or value <= 0:
        raise ValueError(f"{attr.name} must be a positive integer, got {value!r}")


def _check_expire(_inst: object, _attr: object, value: int) -> None:
    if value < 60:
        raise ValueError(f"usersig_expire must be at least 60 seconds, got {value}")


def _check_window(_inst: object, _attr: object, value: float) -> None:
    if not 0 < value < math.inf:
        raise ValueError(f"webhook_window must be a positive number of seconds, got {value!r}")


def _check_audit_names(_inst: object, _attr: object, value: dict[str, str]) -> None:
    for scene, audit_name in value.items():
        if not scene.strip() or not audit_name.strip():
            raise ValueError("audit_names maps non-empty scenes to non-empty AuditNames")


def _check_audit_name(_inst: object, _attr: object, value: str) -> None:
    if not value.strip():
        raise ValueError("audit_name must not be empty")


@attrs.define(kw_only=True)
class TencentChatConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "tencent_chat"``; see docs/providers/tencent_chat.md."""

    sdkappid: int = attrs.field(validator=_check_positive)
    identifier: str = attrs.field(validator=_check_identifier)
    secret_key: Secret = attrs.field(repr=False)
    region: str | None = attrs.field(default=None, validator=_check_region)
    backup_domain: bool = False
    audit_name: str = attrs.field(default="C2C", validator=_check_audit_name)
    usersig_expire: int = attrs.field(default=86400, validator=_check_expire)
    webhook_token: Secret | None = attrs.field(default=None, repr=False)
    # tencent (issue 9 items 24, 15): the RequestTime window, and scene -> AuditName.
    webhook_window: float = attrs.field(default=WINDOW_SECONDS, validator=_check_window)
    audit_names: dict[str, str] = attrs.field(factory=dict, validator=_check_audit_names)
    timeout: float = attrs.field(default=10.0, validator=_check_timeout)
    # The vendor allows 200 requests/s per endpoint; one limit for both stays under either.
    # 2.5% under the documented 200/s: arrival jitter must not push a vendor second over.
    rate_limit: float | None = attrs.field(default=195.0, validator=check_rate_limit)

    def problems(self) -> list[str]:
        """Checks across keys, every one reported at once."""
        problems = super().problems()
        if self.region is not None and self.base_url is not None:
            problems.append("set region or base_url, not both (base_url replaces the host)")
        if not self.secret_key:
            problems.append("secret_key is empty")
        return problems

    def advice(self) -> list[str]:
        """Allowed but unwise settings, logged as warnings when the provider is built."""
        if self.timeout <= _MIN_TIMEOUT:
            return [
                f"timeout is {self.timeout:g} s; Tencent recommends more than "
                f"{_MIN_TIMEOUT:g} s (the IM backend itself may take up to 3 s per call), "
                "so expect timeouts unless a fallback provider is configured"
            ]
        return []


class TencentChatProvider(Provider[TencentChatConfig]):
    """Tencent Cloud Chat moderation: Text and Image answered at once (batched up to
    ten), Audio and Video answered later by ``ContentCallback.ResultNotify``."""

    provider_type: ClassVar[str] = "tencent_chat"
    config_class = TencentChatConfig
    description: ClassVar[str] = (
        "Tencent Cloud Chat content moderation (text and image now; audio and video by webhook)"
    )
    emulator_factory = make_emulator
    secret_query_params: ClassVar[tuple[str, ...]] = ("usersig",)

    _CAPABILITIES = Capabilities(
        content_types=frozenset(ContentType),
        batch_size=BATCH_SIZE,
        batch_types=BATCH_TYPES,
        max_text_bytes=MAX_CONTENT_BYTES,
        deferred_types=DEFERRED_TYPES,
    )

    def __init__(
        self,
        name: str,
        config: TencentChatConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, config)
        self._base = self._base_for(config)
        self._usersig = UserSigCache(
            config.sdkappid,
            config.identifier,
            config.secret_key.get,
            expire=config.usersig_expire,
            clock=clock,
        )
        self._clock = clock
        self._sdkappid = str(config.sdkappid)
        self._default_audit_name = _SCENE_AUDIT_NAMES.get(
            config.audit_name.lower(), config.audit_name
        )
        # A RequestTime is accepted from window before to window after its moment, so a
        # key must be remembered twice the window. Replace with a RedisReplayCache to
        # share it between processes.
        self.replay_cache: ReplayCache = MemoryReplayCache(2 * config.webhook_window)
        if config.region is not None and region_name(config.region) != MODERATION_REGION:
            log.warning(
                "provider %s: region %r is set, but Tencent documents the moderation APIs on "
                "the Singapore data center only; expect error 60026 or 60020 unless Tencent "
                "has since opened them there",
                name,
                config.region,
            )

    @staticmethod
    def _base_for(config: TencentChatConfig) -> str:
        if config.base_url is not None:
            return config.base_url.rstrip("/")
        primary, backup = REGIONS[region_name(config.region or MODERATION_REGION)]
        return f"https://{backup if config.backup_domain else primary}"

    @property
    def capabilities(self) -> Capabilities:
        return self._CAPABILITIES

    @property
    def base_url(self) -> str:
        return self._base

    def describe(self) -> Mapping[str, Any]:
        return {
            **super().describe(),
            "host": httpx.URL(self._base).host,
            "sdkappid": self.config.sdkappid,
            "identifier": self.config.identifier,
            "audit_name": self.config.audit_name,
        }

    def audit_name_for(self, scene: str | None) -> str:
        """The ``AuditName`` for a check's scene: the config's ``audit_names`` entry; a
        general config or callback Scene by name, any case (``GroupCustom`` is
        ``Group``); anything else, or no scene, ``audit_name``. A scene of the app's own
        never goes out as an AuditName the service would refuse."""
        if scene is None:
            return self._default_audit_name
        mapped = self.config.audit_names.get(scene)
        if mapped is not None:
            return mapped
        return _SCENE_AUDIT_NAMES.get(scene.lower(), self._default_audit_name)

    # -- the check flow -------------------------------------------------------------

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        return self._flow(tuple(contents), context)

    def _flow(self, contents: tuple[Content, ...], context: CheckContext) -> Flow:
        results: list[ItemResult | None] = [None] * len(contents)
        batchable: list[int] = []
        alone: list[int] = []
        for i, content in enumerate(contents):
            problem = _problem(content)
            if problem is not None:
                results[i] = problem
            elif content.type in BATCH_TYPES:
                batchable.append(i)
            else:
                alone.append(i)
        groups = [batchable[k : k + BATCH_SIZE] for k in range(0, len(batchable), BATCH_SIZE)]
        groups += [[i] for i in alone]
        for group in groups:
            try:
                if len(group) == 1:
                    (index,) = group
                    results[index] = yield from self._check_one(contents[index], context)
                else:
                    answers = yield from self._check_batch([contents[i] for i in group], context)
                    for index, answer in zip(group, answers, strict=True):
                        results[index] = answer
            except ProviderError as exc:
                if len(groups) == 1:
                    raise
                # Several requests in one flow: one failing must not discard the others.
                for index in group:
                    results[index] = exc
        return [r for r in results if r is not None]

    def _check_one(
        self, content: Content, context: CheckContext
    ) -> Generator[httpx.Request, httpx.Response, ItemResult]:
        request = wire.SingleRequest(
            audit_name=self.audit_name_for(context.scene),
            content_type=_TYPE_NAMES[content.type],
            content=content.value,
            ext_sender=context.sender,
            ext_receiver=context.receiver,
        )
        body = yield from self._exchange("content_moderation", wire.to_json(request))
        item: wire.AuditResult = wire.structure(body, wire.AuditResult)
        return self._verdict(content, item, body)

    def _check_batch(
        self, contents: list[Content], context: CheckContext
    ) -> Generator[httpx.Request, httpx.Response, list[ItemResult]]:
        request = wire.BatchRequest(
            audit_name=self.audit_name_for(context.scene),
            contents=[
                wire.BatchItem(content_id=i, content_type=_TYPE_NAMES[c.type], content=c.value)
                for i, c in enumerate(contents)
            ],
            ext_sender=context.sender,
            ext_receiver=context.receiver,
        )
        body = yield from self._exchange("batch_content_moderation", wire.to_json(request))
        entries = body.get("AuditResults")
        if not isinstance(entries, list):
            raise ProtocolError("the batch answer has no AuditResults list")
        # Results may come in any order: match them by ContentId, never by position.
        by_id: dict[int, list[dict[str, Any]]] = {}
        for entry in entries:
            if isinstance(entry, dict):
                content_id = entry.get("ContentId")
                if isinstance(content_id, int) and not isinstance(content_id, bool):
                    by_id.setdefault(content_id, []).append(entry)
        results: list[ItemResult] = []
        for i, content in enumerate(contents):
            found = by_id.get(i, [])
            if len(found) != 1:
                how = "no result" if not found else f"{len(found)} results"
                results.append(ProtocolError(f"the batch answer has {how} for ContentId {i}"))
                continue
            try:
                item: wire.AuditResult = wire.structure(found[0], wire.AuditResult)
                if item.error_code:
                    results.append(
                        wire.error_for(item.error_code, item.error_info, secrets=self._secrets())
                    )
                else:
                    results.append(self._verdict(content, item, found[0]))
            except ProtocolError as exc:
                results.append(exc)
        return results

    def _exchange(
        self, command: str, payload: bytes
    ) -> Generator[httpx.Request, httpx.Response, dict[str, Any]]:
        """Send one request; on a stale-sig answer make a new sig and send it once more.
        Returns the body of a successful answer, raises the mapped error otherwise."""
        usersig = self._usersig.get()
        for attempt in (1, 2):
            response = yield self._request(command, payload, usersig)
            envelope, body = wire.read_body(response)
            if not envelope.failed:
                return body
            if envelope.error_code in wire.REFRESH_CODES and attempt == 1:
                log.info(
                    "provider %s: UserSig refused (code %s); retrying once with a new one",
                    self.name,
                    envelope.error_code,
                )
                usersig = self._usersig.refresh(usersig)
                continue
            error = wire.error_for(
                envelope.error_code, envelope.error_info, secrets=(usersig, *self._secrets())
            )
            if attempt == 2:
                error.message += " (after one retry with a new UserSig)"
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(self, command: str, payload: bytes, usersig: str) -> httpx.Request:
        params = {
            "sdkappid": self._sdkappid,
            "identifier": self.config.identifier,
            "usersig": usersig,
            "random": str(secrets.randbelow(1 << 32)),
            "contenttype": "json",
        }
        return httpx.Request(
            "POST",
            f"{self._base}/v4/im_msg_audit/{command}",
            params=params,
            content=payload,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    def _secrets(self) -> tuple[str, ...]:
        return (self._usersig.current, self.config.secret_key.get())

    def _verdict(self, content: Content, item: wire.AuditResult, raw: Mapping[str, Any]) -> Verdict:
        deferred = content.type in DEFERRED_TYPES
        # An image the vendor takes over 2 s on also goes asynchronous: no Result, a RequestId.
        if deferred or (content.type is ContentType.IMAGE and not item.result):
            if not item.request_id:
                raise ProtocolError(
                    f"the answer for {content.type.value} content has neither a Result nor "
                    "a RequestId to match the webhook with"
                )
            return Verdict(
                decision=Decision.PENDING,
                label=Label.UNKNOWN,
                provider=self.name,
                request_id=item.request_id,
                content_id=content.id,
                raw=raw,
            )
        if not item.result:
            raise ProtocolError("the answer for text content has no Result")
        problem = wire.keyword_problem(item.keywords)
        if problem is not None:
            raise ProtocolError(f"the answer has {problem}")
        decision = wire.decision_for(item.result)
        keywords = tuple(item.keywords)
        text = content.type is ContentType.TEXT and keywords
        return Verdict(
            decision=decision,
            label=wire.label_for(item.label, decision),
            sublabel=item.sub_label or None,
            score=item.score,
            keywords=keywords,
            masked_text=wire.mask_text(content.value, keywords) if text else None,
            provider=self.name,
            vendor_label=item.label,
            request_id=item.request_id,
            content_id=content.id,
            raw=raw,
        )

    # -- webhooks ---------------------------------------------------------------------

    def parse_webhook(
        self,
        query: Mapping[str, str] | str,
        body: bytes | str | Mapping[str, Any],
        *,
        now: float | None = None,
    ) -> WebhookEvent:
        """Verify a ``ContentCallback.ResultNotify`` request against this provider's
        SDKAppID (and ``webhook_token`` when configured, within ``webhook_window``)
        before reading the body, parse it into an event, and refuse an event already
        seen (``DuplicateWebhookError``: acknowledge it, do not act twice)."""
        token = self.config.webhook_token
        if not token:
            warn_unverified(log, f"tencent_chat provider {self.name}", "webhook_token")
        verify_webhook(
            query,
            sdkappid=self.config.sdkappid,
            token=token.get() if token else None,
            now=self._clock() if now is None else now,
            window=self.config.webhook_window,
        )
        event = parse_result_notify(
            body, query=query, sdkappid=self.config.sdkappid, provider=self.name
        )
        if event.event_id is not None and not self.replay_cache.first_seen(event.event_id):
            raise DuplicateWebhookError(
                "this callback was already received (same request id and body): a replay, "
                "or a retry of one already acknowledged"
            )
        return event


def _problem(content: Content) -> ProviderError | None:
    """Limits checked before anything is sent."""
    size = len(content.value.encode())
    if size > MAX_CONTENT_BYTES:
        return ProviderError(
            f"{content.type.value} content is {size} UTF-8 bytes; Tencent Chat takes at most "
            f"{MAX_CONTENT_BYTES}",
            code=93000,
        )
    if content.type is not ContentType.TEXT and not content.value.lower().startswith(
        ("http://", "https://")
    ):
        return ProviderError(f"{content.type.value} content must be an http(s) URL")
    return None
