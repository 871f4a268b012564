"""The ``shumei`` provider: its config, and the sans-IO flow over ``POST /text/v4``.

Shumei has no request signature: ``accessKey`` rides in the JSON body, so nothing here
logs or raises a request body.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
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
    Provider,
    ProviderError,
    Secret,
)

from ._wire import MAX_TEXT_CHARS, is_token_id, read_answer, token_id
from .emulator import make_emulator

__all__ = [
    "DEFAULT_EVENT_ID",
    "DEFAULT_RISK_TYPE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOKEN_ID",
    "LANGUAGES",
    "REGIONS",
    "RISK_TYPES",
    "ShumeiConfig",
    "ShumeiProvider",
]

# 5b.1: the text clusters. The API doc lists http:// URLs; we send over https (the same
# hosts answer it, and the accessKey travels in the body), base_url chooses otherwise.
REGIONS: Mapping[str, str] = {
    "beijing": "api-text-bj.fengkongcloud.com",
    "shanghai": "api-text-sh.fengkongcloud.com",
    "virginia": "api-text-fjny.fengkongcloud.com",
    "singapore": "api-text-xjp.fengkongcloud.com",
}
# The clusters' own short names, as they appear in the hosts.
_REGION_ALIASES = {"bj": "beijing", "sh": "shanghai", "fjny": "virginia", "xjp": "singapore"}
PATH = "/text/v4"

# The API doc's suggested client timeout. A Shumei answer is meant to come back in well
# under a second; one that has not is better given up on and sent to the next provider.
DEFAULT_TIMEOUT = 1.0
DEFAULT_EVENT_ID = "text"  # the official example's eventId; event ids are provisioned per app
DEFAULT_RISK_TYPE = "TEXTRISK"  # the nine general detections
DEFAULT_TOKEN_ID = "moderation-core-anonymous"  # noqa: S105 - a user id, not a password

# 5b.2 ``type``: combined with "_", e.g. TEXTRISK_FRUAD. FRUAD is the vendor's spelling.
RISK_TYPES = frozenset(
    {
        "POLITY",
        "VIOLENT",
        "BAN",
        "EROTIC",
        "DIRTY",
        "ADVERT",
        "PRIVACY",
        "ADLAW",
        "MEANINGLESS",
        "TEXTRISK",
        "FRUAD",
        "UNPOACH",
        "TEXTMINOR",
    }
)
LANGUAGES = frozenset(
    "zh en ar hi es fr ru pt id de ja tr vi it th tl ko ms auto".split()  # noqa: SIM905
)
# eventId values whose extra field the vendor requires (5b.2).
_NEEDS_RECEIVER = "message"


def region_name(value: str) -> str:
    """The canonical name of a text cluster, from its name or its short host code."""
    name = value.strip().lower()
    name = _REGION_ALIASES.get(name, name)
    if name not in REGIONS:
        raise ValueError(
            f"region must be one of {', '.join(REGIONS)} (or bj, sh, fjny, xjp), got {value!r}"
        )
    return name


def _check_region(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None:
        region_name(value)


def _check_risk_type(_inst: object, _attr: object, value: str) -> None:
    unknown = [part for part in value.split("_") if part not in RISK_TYPES]
    if not unknown:
        return
    hint = " (the vendor spells it FRUAD)" if "FRAUD" in unknown else ""
    raise ValueError(
        f"risk_type is one or more of {', '.join(sorted(RISK_TYPES))} joined by '_', "
        f"got {value!r}{hint}"
    )


def _check_token_id(_inst: object, _attr: object, value: str) -> None:
    if not is_token_id(value):
        raise ValueError(f"token_id must be 1-64 of [0-9A-Za-z_-], got {value[:80]!r}")


def _check_event_id(_inst: object, _attr: object, value: str) -> None:
    if not value.strip():
        raise ValueError("event_id must not be empty")


def _check_event_ids(_inst: object, _attr: object, value: dict[str, str]) -> None:
    if any(not scene.strip() or not event.strip() for scene, event in value.items()):
        raise ValueError("event_ids maps non-empty scenes to non-empty event ids")


def _check_lang(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and value not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(sorted(LANGUAGES))}, got {value!r}")


def _is_loopback(url: httpx.URL) -> bool:
    if url.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(url.host).is_loopback
    except ValueError:
        return False


@attrs.define(kw_only=True)
class ShumeiConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "shumei"``; see docs/providers/shumei.md."""

    access_key: Secret = attrs.field(repr=False)
    app_id: str
    event_id: str = attrs.field(default=DEFAULT_EVENT_ID, validator=_check_event_id)
    event_ids: dict[str, str] = attrs.field(factory=dict, validator=_check_event_ids)
    risk_type: str = attrs.field(default=DEFAULT_RISK_TYPE, validator=_check_risk_type)
    token_id: str = attrs.field(default=DEFAULT_TOKEN_ID, validator=_check_token_id)
    region: str | None = attrs.field(default=None, validator=_check_region)
    lang: str | None = attrs.field(default=None, validator=_check_lang)
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=attrs.validators.gt(0))

    def problems(self) -> list[str]:
        """Checks across keys, every one reported at once."""
        problems = super().problems()
        if not self.access_key:
            problems.append("access_key is empty")
        if not self.app_id.strip():
            problems.append("app_id is empty")
        if self.region is None and self.base_url is None:
            problems.append(
                f"set region (one of {', '.join(REGIONS)}) or base_url "
                "(e.g. https://api-text-bj.fengkongcloud.com)"
            )
        elif self.region is not None and self.base_url is not None:
            problems.append("set region or base_url, not both (base_url replaces the host)")
        return problems

    def advice(self) -> list[str]:
        """Allowed but unwise settings, logged as warnings when the provider is built."""
        if self.base_url is not None:
            url = httpx.URL(self.base_url)
            if url.scheme == "http" and not _is_loopback(url):
                return [
                    "base_url is plain http: the access_key travels unencrypted in every "
                    "request body (the vendor's hosts answer https too)"
                ]
        return []


class ShumeiProvider(Provider[ShumeiConfig]):
    """Shumei (数美) text v4: one text a request, answered at once."""

    provider_type: ClassVar[str] = "shumei"
    config_class = ShumeiConfig
    description: ClassVar[str] = "Shumei (数美) text v4, accessKey in the body"
    emulator_factory = make_emulator

    # Shumei counts characters, so the core splits longer text before it would answer
    # 1905. No byte limit: 10,000 characters are far under the 1 MB ``data`` allows.
    _CAPABILITIES = Capabilities(
        content_types=frozenset({ContentType.TEXT}), batch_size=1, max_text_chars=MAX_TEXT_CHARS
    )

    def __init__(self, name: str, config: ShumeiConfig) -> None:
        super().__init__(name, config)  # refuses a config with problems()
        self._url = _endpoint(config)
        # Scenes compare without case, as the other providers' scene maps do.
        self._event_ids = {scene.casefold(): event for scene, event in config.event_ids.items()}

    @property
    def capabilities(self) -> Capabilities:
        return self._CAPABILITIES

    @property
    def url(self) -> str:
        return self._url

    def describe(self) -> Mapping[str, Any]:
        return {
            **super().describe(),
            "host": httpx.URL(self._url).host,
            "app_id": self.config.app_id,
            "event_id": self.config.event_id,
            "risk_type": self.config.risk_type,
        }

    def event_id(self, scene: str | None) -> str:
        """The eventId for a scene: ``event_ids`` (any case), else ``event_id``."""
        if scene:
            return self._event_ids.get(scene.casefold(), self.config.event_id)
        return self.config.event_id

    def body(self, content: Content, context: CheckContext) -> dict[str, Any]:
        """The JSON body for one text (5b.2)."""
        config = self.config
        data: dict[str, Any] = {
            "text": content.value,
            "tokenId": token_id(context.sender) if context.sender else config.token_id,
        }
        if context.receiver:
            data["extra"] = {"receiveTokenId": token_id(context.receiver)}
        if config.lang is not None:
            data["lang"] = config.lang
        if content.id is not None:
            data["dataId"] = str(content.id)
        return {
            "accessKey": config.access_key.get(),
            "appId": config.app_id,
            "eventId": self.event_id(context.scene),
            "type": config.risk_type,
            "data": data,
        }

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        results: list[ItemResult] = []
        for content in contents:
            body = self.body(content, context)
            if body["eventId"] == _NEEDS_RECEIVER and "extra" not in body["data"]:
                # The vendor would answer 1902; say why without spending a request.
                results.append(
                    ProviderError(
                        f"Shumei's eventId {_NEEDS_RECEIVER!r} requires the receiver "
                        "(receiveTokenId): pass receiver=, or map this scene to another "
                        "event id in event_ids",
                        code=1902,
                    )
                )
                continue
            response = yield httpx.Request("POST", self._url, json=body)
            results.append(read_answer(response, (self.config.access_key.get(),)))
        return results


def _endpoint(config: ShumeiConfig) -> str:
    if config.base_url is None:
        return f"https://{REGIONS[region_name(str(config.region))]}{PATH}"
    base = config.base_url.rstrip("/")
    # Accept the vendor's documented URL whole as well as a bare host.
    return base if base.endswith(PATH) else base + PATH
