"""The ``huanxin`` provider: Easemob app token, ``moderation/txt/check``, error mapping.

Sans-IO like every provider: ``credentials_flow`` fetches the app token, ``flow`` checks one
text; the core drives both. This module owns the vendor's JSON keys (one private
cattrs converter) and the label map; nothing outside it knows them.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import attrs
import httpx

from moderation_core import (
    AuthError,
    AuthFlow,
    Capabilities,
    CheckContext,
    Content,
    ContentType,
    Decision,
    Flow,
    HttpProviderConfig,
    ItemResult,
    MemoryReplayCache,
    ProtocolError,
    Provider,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    ReplayCache,
    Secret,
    StaleCredentials,
    Verdict,
    WebhookEvent,
    warn_unverified,
)
from moderation_core._config import shown
from moderation_core.wire import (
    camel,
    retry_after,
    strict_converter,
    structure_answer,
    vendor_text,
)

from ._callback import DEFAULT_MAX_AGE, accept_callback
from ._labels import classify
from .emulator import make_emulator

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "MAX_BODY_BYTES",
    "MAX_TEXT_BYTES",
    "REGIONS",
    "HuanxinConfig",
    "HuanxinProvider",
    "score_from_probability",
    "token_refresh_margin",
]

log = logging.getLogger("moderation_huanxin")
_T = TypeVar("_T")

# CONTRACTS 4.1: the REST host of each data center (the easemob.com names; the
# easecdn.com twins answer the same API).
REGIONS: Mapping[str, str] = {
    "china-1": "https://a1.easemob.com",
    "china-2": "https://a31.easemob.com",
    "singapore-1": "https://a1-sgp.easemob.com",
    "singapore-2": "https://a61.easemob.com",
    "us-east-1": "https://a41.easemob.com",
    "germany-2": "https://a71.easemob.com",
}

# moderation/txt/check allows 100 requests/s per app key by default (seed 004).
DEFAULT_RATE_LIMIT = 97.0  # under the documented 100/s, so arrival jitter cannot push a second over

# CONTRACTS 4.3: Easemob answers 413 for a request body over 5 KB (the general REST
# limit; txt/check documents no text limit of its own, "it depends on the vendor").
MAX_BODY_BYTES = 5 * 1024
_ENVELOPE_BYTES = len(b'{"content":""}')  # httpx sends compact JSON, UTF-8 unescaped
# The limit is on the body, not the text: JSON escaping at most doubles a character
# (a quote, a backslash, a newline or a tab becomes two bytes; CJK stays UTF-8), so a
# text of this many UTF-8 bytes always fits with its envelope. Only the C0 controls
# without a short escape (\u0001 and the like) grow sixfold; a text dense in those is
# measured before sending and refused without a request (see ``_body``).
MAX_TEXT_BYTES = (MAX_BODY_BYTES - _ENVELOPE_BYTES) // 2

_MAX_MARGIN = 3600.0
_PATH_PART = re.compile(r"^[A-Za-z0-9_.-]+$")
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

_DECISIONS = {
    "PASS": Decision.PASS,
    "REVIEWED": Decision.REVIEW,
    "REJECT": Decision.BLOCK,
    "UNKNOWN": Decision.REVIEW,  # never silently PASS what the vendor could not judge
}

# Texts of the moderation API's own 400s (seed 004); the numeric codes' place in the
# body is not documented, so the description is what we match.
_NOT_ENABLED = ("not open", "not active", "not exist")
_APP_NOT_FOUND = ("orgname not found", "application not found")
# Seed 004's numeric codes, each documented with HTTP 400 (none of them retryable).
_DOCUMENTED_CODES: Mapping[int, int] = {4000005: 400, 4000303: 400, 4000404: 400}
_APP_HINT = (
    "check org_name, app_name and the host (region or base_url): the app must live in "
    "that data center"
)


def token_refresh_margin(expires_in: float) -> float:
    """How long before ``expires_in`` ends a cached token is replaced: 10%, at most an
    hour, so a 60-day token is renewed an hour early and a 60 s one 6 s early."""
    return min(expires_in * 0.1, _MAX_MARGIN)


@attrs.define(kw_only=True)
class HuanxinConfig(HttpProviderConfig):
    """``[providers.NAME]`` with ``type = "huanxin"``; give ``region`` or ``base_url``."""

    org_name: str
    app_name: str
    client_id: str
    client_secret: Secret
    region: str | None = None
    token_ttl: int | None = None
    rate_limit: float | None = DEFAULT_RATE_LIMIT
    callback_secret: Secret | None = attrs.field(default=None, repr=False)

    def problems(self) -> list[str]:
        """Every problem, worded for the user, all reported at once (the core
        gathers them into one ConfigError)."""
        problems = super().problems()
        for key in ("org_name", "app_name"):
            value = getattr(self, key)
            if not _PATH_PART.match(value):
                problems.append(
                    f"{key} must be the console's name (letters, digits, '-', '_', '.'), "
                    f"got {shown(value)}"
                )
        if not self.client_id:
            problems.append("client_id is empty")
        if not self.client_secret:
            problems.append("client_secret is empty")
        if self.callback_secret is not None and not self.callback_secret:
            problems.append("callback_secret is empty (leave it out to accept callbacks unchecked)")
        if self.region is None and self.base_url is None:
            regions = ", ".join(REGIONS)
            problems.append(
                f"set region (one of {regions}) or base_url (e.g. https://a1-sgp.easemob.com)"
            )
        elif self.region is not None and self.base_url is not None:
            problems.append("set region or base_url, not both")
        elif self.region is not None and self.region not in REGIONS:
            problems.append(f"unknown region {shown(self.region)}; use one of {', '.join(REGIONS)}")
        elif self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            problems.append(
                f"base_url must start with http:// or https://, got {shown(self.base_url)}"
            )
        if self.token_ttl is not None and self.token_ttl < 0:
            problems.append("token_ttl must be >= 0 seconds (0: the token never expires)")
        if self.rate_limit is not None and self.rate_limit < 0:
            problems.append("rate_limit must be 0 (no limit) or more requests/s")
        return problems


# -- the vendor's JSON, mapped by this package's own converter -----------------------


@attrs.frozen
class _TokenAnswer:
    access_token: str
    expires_in: int
    application: str | None = None


@attrs.frozen
class _CheckData:
    type: str
    risk_label: str | None = None
    risk_type: str | None = None
    exchange_text: str | None = None
    sensitive_words: list[str] = attrs.field(factory=list)
    probability: float | None = None


@attrs.frozen
class _Meta:
    request_id: str | None = None
    timestamp: int | None = None


# Strict (moderation_core.wire): a vendor that sends "5" for a number or a string for
# a list has changed its shape, and guessing would map it to a wrong verdict. A NaN
# probability is read and scored as none (score_from_probability), not refused.
_CONVERTER = strict_converter(
    structure={_CheckData: camel, _Meta: camel, _TokenAnswer: {}}, finite_floats=False
)


def _structure(data: Any, cls: type[_T], what: str) -> _T:
    return structure_answer(
        _CONVERTER, data, cls, prefix=f"unexpected {what} from Huanxin", path=what
    )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        return None
    return body if isinstance(body, dict) else None


def score_from_probability(probability: float | None) -> int | None:
    """``probability`` as a 0-100 int: a 0-1 double is scaled, a value above 1 is taken
    as already 0-100; clamped; None when absent or not a number."""
    if probability is None or isinstance(probability, bool) or not math.isfinite(probability):
        return None
    scaled = probability * 100 if probability <= 1 else probability
    return max(0, min(100, round(scaled)))


@attrs.frozen
class _Token:
    value: str = attrs.field(repr=False)
    refresh_at: float | None  # on the provider's clock; None: never expires


class HuanxinProvider(Provider[HuanxinConfig]):
    """Easemob text moderation (``moderation/txt/check``) with a cached app token."""

    provider_type: ClassVar[str] = "huanxin"
    config_class = HuanxinConfig
    description: ClassVar[str] = "Huanxin (Easemob) moderation/txt/check, app token auth"
    emulator_factory = make_emulator

    _CAPABILITIES = Capabilities(
        content_types=frozenset({ContentType.TEXT}), batch_size=1, max_text_bytes=MAX_TEXT_BYTES
    )

    def __init__(
        self,
        name: str,
        config: HuanxinConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, config)  # refuses a config with problems()
        self.clock = clock
        base = config.base_url if config.base_url is not None else REGIONS[str(config.region)]
        self._base_url = base.rstrip("/")
        self._app_url = f"{self._base_url}/{config.org_name}/{config.app_name}"
        self._token: _Token | None = None
        self._token_lock = threading.Lock()
        # The window is symmetric, so one callId stays acceptable for twice its width.
        self._replay = MemoryReplayCache(ttl=2 * DEFAULT_MAX_AGE)

    @property
    def capabilities(self) -> Capabilities:
        return self._CAPABILITIES

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def app_key(self) -> str:
        """``org_name#app_name``, as Easemob names the app (the callbacks' ``appkey``)."""
        return f"{self.config.org_name}#{self.config.app_name}"

    def describe(self) -> Mapping[str, Any]:
        return {
            **super().describe(),
            "host": httpx.URL(self._app_url).host,
            "app": self.app_key,
        }

    # -- moderation result callback ----------------------------------------------------

    def parse_webhook(
        self,
        body: bytes | str | Mapping[str, Any],
        *,
        now: float | None = None,
        replay: ReplayCache | None = None,
    ) -> WebhookEvent:
        """Verify a moderation result callback against ``callback_secret`` (when
        configured; else one WARNING and no signature check), the time window and this
        app's ``appkey``; refuse a ``callId`` seen before (in ``replay``, else this
        provider's memory) with ``CallbackReplayError``; parse it into an event."""
        secret = self.config.callback_secret
        if secret is None:
            warn_unverified(log, f"huanxin provider {self.name}", "callback_secret")
        return accept_callback(
            body,
            secret,
            app=self.app_key,
            provider=self.name,
            now=now,
            replay=self._replay if replay is None else replay,
        )

    def _post(
        self, path: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> httpx.Request:
        # The request carries its own timeout, so it holds whichever client sends it.
        return httpx.Request(
            "POST",
            f"{self._app_url}/{path}",
            json=body,
            headers=headers,
            extensions={"timeout": httpx.Timeout(self.config.timeout).as_dict()},
        )

    # -- app token -----------------------------------------------------------------

    # The token lives on the provider as one immutable _Token, replaced whole: a check
    # reads it once and sends that value, whatever a concurrent refresh does meanwhile.

    def needs_credentials(self) -> bool:
        token = self._token
        return token is None or (token.refresh_at is not None and self.clock() >= token.refresh_at)

    def credentials_flow(self) -> AuthFlow:
        config = self.config
        body: dict[str, Any] = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret.get(),
        }
        if config.token_ttl is not None:
            body["ttl"] = config.token_ttl
        requested_at = self.clock()  # count the lifetime from before the request
        response = yield self._post("token", body, _JSON_HEADERS)
        if response.status_code != 200:
            raise self._token_error(response)
        payload = _json_object(response)
        if payload is None:
            raise ProtocolError("the token endpoint answered a body that is not a JSON object")
        answer: _TokenAnswer = _structure(payload, _TokenAnswer, "token answer")
        if not answer.access_token or answer.expires_in < 0:
            raise ProtocolError("the token endpoint answered an empty token or a negative expiry")
        refresh_at = None
        if answer.expires_in > 0:
            refresh_at = requested_at + answer.expires_in - token_refresh_margin(answer.expires_in)
        with self._token_lock:
            self._token = _Token(answer.access_token, refresh_at)
        log.debug(
            "provider %s: fetched an app token valid for %s s",
            self.name,
            answer.expires_in or "unlimited",
        )

    def _token_error(self, response: httpx.Response) -> ProviderError:
        body = _json_object(response) or {}
        error = body.get("error")
        if response.status_code in (400, 401) and error in ("invalid_grant", "unauthorized"):
            return AuthError(
                f"Huanxin refused client_id/client_secret: {self._describe(body)}",
                code=str(error),
            )
        return self._error(response, body)

    def _forget(self, token: _Token) -> None:
        with self._token_lock:
            if self._token is token:  # someone may already hold a newer one
                self._token = None

    # -- text check ------------------------------------------------------------------

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        return self._check(contents)

    def _check(self, contents: Sequence[Content]) -> Flow:
        results: list[ItemResult] = []
        for content in contents:
            token = self._token
            if token is None:  # dropped by a concurrent 401 since credentials_flow ran
                raise StaleCredentials("the app token was dropped before use")
            request = self._post(
                "moderation/txt/check",
                {"content": content.value},
                {**_JSON_HEADERS, "Authorization": f"Bearer {token.value}"},
            )
            _refuse_oversized(request)
            response = yield request
            if response.status_code == 401:
                self._forget(token)
                body = _json_object(response) or {}
                raise StaleCredentials(
                    f"Huanxin refused the app token: {self._describe(body, token.value)}",
                    code=str(body.get("error") or 401),
                )
            results.append(self._verdict(response, content))
        return results

    def _verdict(self, response: httpx.Response, content: Content) -> Verdict:
        if response.status_code != 200:
            raise self._error(response, _json_object(response) or {})
        body = _json_object(response)
        if body is None:
            raise ProtocolError("txt/check answered a body that is not a JSON object")
        code = body.get("code")
        if code is not None and code != 200:
            raise self._error(httpx.Response(_status_of(code), headers=response.headers), body)
        data = body.get("data")
        if isinstance(data, list) and len(data) == 1:  # the seed says "JSON Array"
            (data,) = data
        if not isinstance(data, dict):
            raise ProtocolError("txt/check answered without a data object")
        check: _CheckData = _structure(data, _CheckData, "data")
        meta: _Meta = _structure(body.get("meta") or {}, _Meta, "meta")
        vendor_label = check.risk_label
        decision = _DECISIONS.get(check.type.upper(), Decision.REVIEW)
        label, sublabel = classify(vendor_label, check.risk_type, decision)
        return Verdict(
            decision=decision,
            label=label,
            sublabel=sublabel,
            score=score_from_probability(check.probability),
            keywords=tuple(dict.fromkeys(w for w in check.sensitive_words if w)),
            masked_text=check.exchange_text or None,
            provider=self.name,
            vendor_label=vendor_label,
            request_id=meta.request_id or None,
            content_id=content.id,
            raw=body,
        )

    # -- errors ------------------------------------------------------------------------

    def _describe(self, body: Mapping[str, Any], *secrets: str) -> str:
        """The vendor's error text for a message: never a credential, never long."""
        error = body.get("error")
        description = body.get("error_description") or body.get("message")
        text = ": ".join(str(part) for part in (error, description) if part) or "no details"
        token = self._token
        # Percent- and form-encoded echoes too: a vendor may quote the request back.
        return vendor_text(
            text,
            (self.config.client_secret.get(), token.value if token else "", *secrets),
            limit=300,
        )

    def _error(self, response: httpx.Response, body: Mapping[str, Any]) -> ProviderError:
        status = response.status_code
        error = body.get("error")
        code: int | str = _numeric_code(body) or (str(error) if error else status)
        described = self._describe(body)
        lowered = described.lower()
        if status == 429:
            if error == "resource_limited":
                return ProviderError(
                    f"Huanxin plan quota exhausted (not retryable): {described}", code=code
                )
            return RateLimited(
                f"Huanxin rate limit reached: {described}",
                code=code,
                retry_after=retry_after(response.headers, time.time(), ms_headers=()),
            )
        if status >= 500:
            return ProviderUnavailable(
                f"Huanxin server error HTTP {status}: {described}", code=code
            )
        if error == "organization_application_not_found" or any(
            text in lowered for text in _APP_NOT_FOUND
        ):
            return ProviderError(f"Huanxin app not found ({described}); {_APP_HINT}", code=code)
        if status == 400 and any(text in lowered for text in _NOT_ENABLED):
            return ProviderError(
                "Huanxin text moderation API is not enabled for this app "
                f"({described}): enable text moderation in the console, ask Easemob to open "
                "the API, and keep its console rule active",
                code=code,
            )
        if status == 413:
            return ProviderError(
                f"Huanxin refused the request as too large (HTTP 413): {described}", code=code
            )
        if status == 401:
            return AuthError(f"Huanxin refused the credentials: {described}", code=code)
        return ProviderError(f"Huanxin refused the request (HTTP {status}): {described}", code=code)


def _status_of(code: object) -> int:
    """The HTTP status a failing ``code`` in an HTTP 200 body stands for: an HTTP status
    as itself, a documented moderation code as its documented status; anything else
    as a plain refusal (400), because only the vendor can say a failure is passing,
    and nothing says this one is."""
    if isinstance(code, bool) or not isinstance(code, int):
        return 400
    if 400 <= code < 600:
        return code
    return _DOCUMENTED_CODES.get(code, 400)


def _refuse_oversized(request: httpx.Request) -> None:
    """A body over the limit would only earn a 413: refuse it without sending. Only a
    text dense in escaped control characters gets here (MAX_TEXT_BYTES covers the rest)."""
    size = len(request.content)
    if size > MAX_BODY_BYTES:
        raise ProviderError(
            f"the text escapes to a {size}-byte JSON body; Huanxin takes at most "
            f"{MAX_BODY_BYTES} bytes (it holds many control characters)",
            code=413,
        )


def _numeric_code(body: Mapping[str, Any]) -> int | None:
    for key in ("code", "error_code"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
