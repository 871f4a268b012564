"""The ``yidun`` provider: its config, and the sans-IO flow over ``/v5/text/check``
(one text) and ``/v5/text/batch-check`` (up to 100 texts), each a signed form POST.

The signature is made from the secret key and rides in the form body, so nothing here
logs a body or quotes one in an error.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, ClassVar

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
    ProtocolError,
    Provider,
    ProviderError,
    Secret,
    Verdict,
)

from . import _wire as wire
from ._signature import SIGNATURE_METHODS, sign
from .emulator import make_emulator

__all__ = [
    "BATCH_PATH",
    "MAX_BATCH",
    "MAX_TEXT_CHARS",
    "REGIONS",
    "SINGLE_PATH",
    "YidunConfig",
    "YidunProvider",
]

log = logging.getLogger("moderation_yidun")

SINGLE_PATH = "/v5/text/check"
BATCH_PATH = "/v5/text/batch-check"
VERSION = "v5.2"  # what the current Go SDK and the Python demo send
MAX_BATCH = 100  # batch-check takes 1-100 texts
# ``content``: 10,000 runes, i.e. code points, as the core counts characters. Yidun
# documents no byte limit.
MAX_TEXT_CHARS = 10_000
# Per-field limits in runes (text_check_scene_request.go).
_MAX_DATA_ID = 128
_MAX_ACCOUNT = 128
_MAX_RECEIVE_UID = 64

# Product text-check hosts per region (endpoint_config.go): primary, then backup.
REGIONS: Mapping[str, tuple[str, ...]] = {
    "cn-hangzhou": ("as.dun.163.com", "as.dun.163yun.com"),
    "cn-beijing": ("as-text-bj.dun.163.com", "as-text-bj.dun.163yun.com"),
    "cn-shanghai": ("as-text-sh.dun.163yun.com",),
    "cn-guangzhou": ("as-text-gz.dun.163yun.com",),
    "sg-singapore": ("as-text-sg.dun.163yun.com", "as-text-sg.dun.163.com"),
    "de-frankfurt": ("as-text-frankfurt.dun.163.com",),
    "us-virginia": ("as-text-virginia.dun.163.com",),
    "jp-tokyo": ("as-text-tokyo.dun.163.com", "as-text-tokyo.dun.163yun.com"),
}
DEFAULT_REGION = "cn-hangzhou"
_VERSION = re.compile(r"v5(\.\d{1,3})?")


def _check_not_blank(_inst: object, attr: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attr.name} must not be empty")


def _check_region(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and value not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {value[:40]!r}")


def _check_batch_size(_inst: object, _attr: object, value: int) -> None:
    if not 1 <= value <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1-{MAX_BATCH} (batch-check's limit), got {value}")


def _check_signature_method(_inst: object, _attr: object, value: str) -> None:
    if value.upper() not in SIGNATURE_METHODS:  # any case, as the Go SDK takes it
        raise ValueError(f"signature_method must be one of {', '.join(SIGNATURE_METHODS)}")


def _check_version(_inst: object, _attr: object, value: str) -> None:
    if not _VERSION.fullmatch(value):
        raise ValueError(f"version must be a v5 API version such as v5.2, got {value[:20]!r}")


def _check_labels(_inst: object, _attr: object, value: list[int]) -> None:
    if any(code < 0 for code in value):
        raise ValueError("check_labels holds label codes such as 100 or 200, none negative")


def _check_business_ids(_inst: object, _attr: object, value: dict[str, str]) -> None:
    if any(not scene.strip() or not business.strip() for scene, business in value.items()):
        raise ValueError("business_ids maps non-empty scenes to non-empty business ids")


@attrs.define(kw_only=True)
class YidunConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "yidun"``; see docs/providers/yidun.md."""

    # An identifier, but the core treats every secret_* key as a credential: held as one.
    secret_id: Secret = attrs.field(repr=False)
    secret_key: Secret = attrs.field(repr=False)
    business_id: str = attrs.field(validator=_check_not_blank)
    # scene -> businessId: Yidun configures policies per business, often one per scene.
    business_ids: dict[str, str] = attrs.field(factory=dict, validator=_check_business_ids)
    region: str | None = attrs.field(default=None, validator=_check_region)
    backup_host: bool = False
    # A plain str, not a Literal, and kept out of reprs: the core takes every key named
    # *signature* for a credential (it would word a Literal's choices masked, and its
    # conformance check finds "SHA256" in a repr a leaked secret).
    signature_method: str = attrs.field(
        default="MD5", validator=_check_signature_method, repr=False
    )
    version: str = attrs.field(default=VERSION, validator=_check_version)
    batch_size: int = attrs.field(default=MAX_BATCH, validator=_check_batch_size)
    check_labels: list[int] = attrs.field(factory=list, validator=_check_labels)

    def problems(self) -> list[str]:
        """Checks across keys, every one reported at once."""
        problems = super().problems()
        problems += [
            f"{key} is empty" for key in ("secret_id", "secret_key") if not getattr(self, key)
        ]
        if self.region is not None and self.base_url is not None:
            problems.append("set region or base_url, not both (base_url replaces the host)")
        if self.backup_host and self.base_url is not None:
            problems.append(
                "backup_host picks a region's second host; it means nothing with base_url"
            )
        elif self.backup_host and len(REGIONS[self.region or DEFAULT_REGION]) < 2:
            problems.append(f"region {self.region} has one host only; leave backup_host off")
        return problems


class YidunProvider(Provider[YidunConfig]):
    """NetEase Yidun text check v5: text only, up to 100 texts in one batch-check."""

    provider_type: ClassVar[str] = "yidun"
    config_class = YidunConfig
    description: ClassVar[str] = "NetEase Yidun text check v5 (batches of up to 100 texts)"
    emulator_factory = make_emulator

    def __init__(
        self,
        name: str,
        config: YidunConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, config)
        self._clock = clock
        self._base = self._base_for(config)
        self._capabilities = Capabilities(
            content_types=frozenset({ContentType.TEXT}),
            batch_size=config.batch_size,
            batch_types=frozenset({ContentType.TEXT}),
            max_text_chars=MAX_TEXT_CHARS,
        )

    @staticmethod
    def _base_for(config: YidunConfig) -> str:
        if config.base_url is not None:
            return config.base_url.rstrip("/")
        hosts = REGIONS[config.region or DEFAULT_REGION]
        return f"https://{hosts[1] if config.backup_host else hosts[0]}"

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def base_url(self) -> str:
        return self._base

    def describe(self) -> Mapping[str, Any]:
        return {
            **super().describe(),
            "host": httpx.URL(self._base).host,
            "business_id": self.config.business_id,
        }

    def business_id_for(self, scene: str | None) -> str:
        """The ``businessId`` for a check's scene: its ``business_ids`` entry, else
        ``business_id``."""
        if scene is None:
            return self.config.business_id
        return self.config.business_ids.get(scene, self.config.business_id)

    # -- the check flow -------------------------------------------------------------

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        return self._flow(tuple(contents), context)

    def _flow(self, contents: tuple[Content, ...], context: CheckContext) -> Flow:
        person = _person(context)
        data_ids = _data_ids(contents)
        if len(contents) == 1:
            (content,) = contents
            params = {"dataId": data_ids[0], "content": content.value, **person}
            body = yield from self._exchange(SINGLE_PATH, params, context)
            result = body.get("result")
            if not isinstance(result, dict):
                raise ProtocolError("Yidun's answer has no result object")
            return [self._verdict(result, data_ids[0])]
        texts = [
            {"dataId": data_id, "content": content.value, **person}
            for data_id, content in zip(data_ids, contents, strict=True)
        ]
        texts_json = json.dumps(texts, ensure_ascii=False, separators=(",", ":"))
        body = yield from self._exchange(BATCH_PATH, {"texts": texts_json}, context)
        return self._batch_results(body, data_ids)

    def _batch_results(self, body: Mapping[str, Any], data_ids: list[str]) -> list[ItemResult]:
        entries = body.get("result")
        if not isinstance(entries, list):
            raise ProtocolError("Yidun's batch answer has no result list")
        # Results are matched by dataId, never by position: the vendor does not promise order.
        by_id: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            antispam = entry.get("antispam") if isinstance(entry, dict) else None
            data_id = antispam.get("dataId") if isinstance(antispam, dict) else None
            if isinstance(data_id, str):
                by_id.setdefault(data_id, []).append(entry)
        results: list[ItemResult] = []
        for data_id in data_ids:
            found = by_id.get(data_id, [])
            if len(found) != 1:
                how = "no result" if not found else f"{len(found)} results"
                results.append(ProtocolError(f"Yidun's batch answer has {how} for one text"))
                continue
            try:
                results.append(self._verdict(found[0], data_id))
            except ProviderError as exc:
                results.append(exc)
        return results

    def _exchange(
        self, path: str, business: Mapping[str, str], context: CheckContext
    ) -> Generator[httpx.Request, httpx.Response, dict[str, Any]]:
        params = self._signed(business, context)
        response = yield httpx.Request(
            "POST",
            f"{self._base}{path}",
            data=params,
            headers={"Accept": "application/json"},
        )
        secrets = (params["signature"], params["secretId"], self.config.secret_key.get())
        return wire.read_body(response, secrets=secrets)

    def _signed(self, business: Mapping[str, str], context: CheckContext) -> dict[str, str]:
        """The form: common parameters, the business ones, and the signature over all."""
        config = self.config
        params = {
            "secretId": config.secret_id.get(),
            "businessId": self.business_id_for(context.scene),
            "version": config.version,
            "timestamp": str(int(self._clock() * 1000)),  # milliseconds
            "nonce": uuid.uuid4().hex,  # the Go SDK's choice; 32 characters
            **business,
        }
        method = config.signature_method.upper()
        if method != "MD5":  # the default: left out, as the official demo leaves it out
            params["signatureMethod"] = method
        if config.check_labels:
            params["checkLabels"] = ",".join(map(str, config.check_labels))
        params["signature"] = sign(params, config.secret_key.get())
        return params

    def _verdict(self, result: Mapping[str, Any], data_id: str) -> Verdict:
        raw = result.get("antispam")
        if not isinstance(raw, dict):
            raise ProtocolError("Yidun's answer has no antispam result")
        antispam: wire.Antispam = wire.structure(raw, wire.Antispam, "antispam")
        if antispam.data_id is not None and antispam.data_id != data_id:
            raise ProtocolError("Yidun's answer is for another dataId than the one sent")
        decision = wire.decision_for(antispam.suggestion)
        hit = wire.main_hit(antispam)
        code = antispam.label if antispam.label is not None else (hit.label if hit else None)
        label, folded = wire.label_for(code, decision)
        return Verdict(
            decision=decision,
            label=label,
            sublabel=wire.sublabel_of(antispam, hit, folded),
            score=wire.score_of(hit),
            keywords=wire.keywords_of(antispam),
            vendor_label=None if code is None else str(code),
            request_id=antispam.task_id or None,
            raw=result,
        )


def _person(context: CheckContext) -> dict[str, str]:
    """``account`` from the sender and ``receiveUid`` from the receiver. One over the
    vendor's limit is refused before sending: cut, it would name someone else."""
    person: dict[str, str] = {}
    for key, value, limit in (
        ("account", context.sender, _MAX_ACCOUNT),
        ("receiveUid", context.receiver, _MAX_RECEIVE_UID),
    ):
        if value is None or not value:
            continue
        if len(value) > limit:
            who = "sender" if key == "account" else "receiver"
            raise ProviderError(
                f"the {who} is {len(value)} characters; Yidun's {key} takes at most {limit}"
            )
        person[key] = value
    return person


def _data_ids(contents: Sequence[Content]) -> list[str]:
    """Each content's ``dataId``: its id as a string, or a generated one when it has
    none, is longer than the vendor takes, or repeats within this request (a batch's
    results are matched by dataId, and a long text split into parts repeats its id)."""
    ids: list[str] = []
    seen: set[str] = set()
    for content in contents:
        data_id = "" if content.id is None else str(content.id)
        if not data_id or len(data_id) > _MAX_DATA_ID or data_id in seen:
            data_id = uuid.uuid4().hex
        seen.add(data_id)
        ids.append(data_id)
    return ids
