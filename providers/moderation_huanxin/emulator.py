"""A fake Huanxin (Easemob) REST service: app tokens and ``moderation/txt/check``.

``make_emulator(**options)`` returns a thread-safe callable from ``httpx.Request`` to
``httpx.Response``: pass it to ``httpx.MockTransport`` or serve it over HTTP with
``moderation_core._serve.serving`` / ``moderation emulate huanxin --port N``. It
reproduces the documented shapes (CONTRACTS 4.2-4.4, seed 004): the five-field error
body, 401 for missing, corrupt, expired and revoked tokens, an unknown org/app as 404
from the token endpoint and as seed 004's 400 ``code`` 4000303 from txt/check, 400 for
empty content, 413 for a big body, 415 without a JSON content type, 429
``reach_limit`` over the requests/s limit, and a deterministic content-to-verdict rule
set (``RULES``) covering every ``riskLabel`` and all four ``type`` values.

Faults, for tests and demos: the ``fault`` option (every check), ``inject()`` (the
next N requests) or a ``[[fault:NAME]]`` marker inside the checked text. Names are in
``FAULTS``. Options may arrive as strings (``--set rate_limit=100``) and are parsed.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
import httpx

from moderation_core.testing import (
    FaultQueue,
    FixedWindow,
    float_option,
    int_option,
    parse_options,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "FAULTS",
    "RULES",
    "HuanxinEmulator",
    "Rule",
    "make_emulator",
]

DEFAULT_CLIENT_ID = "emulator-client-id"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"  # noqa: S105 - the emulator's own demo value

# What each fault does to a check (or, via ``inject(endpoint="token")``, a token request):
FAULTS: Mapping[str, str] = {
    "500": "HTTP 500 with the five-field error body (also 502, 503, 504)",
    "502": "HTTP 502",
    "503": "HTTP 503",
    "504": "HTTP 504",
    "garbage": "HTTP 200 whose body is not JSON",
    "slow": "answer only after slow_seconds (default 5): a client timeout",
    "reach_limit": "HTTP 429 reach_limit, as over the requests/s limit",
    "resource_limited": "HTTP 429 resource_limited (plan quota)",
    "revoke": "revoke every issued token first: this request answers 401",
    "expire": "expire every issued token first: this request answers 401",
    "not_open": "HTTP 400 'text moderation not open'",
    "not_active": "HTTP 400 'text rule moderation not active'",
    "no_rule": "HTTP 400 'text rule moderation not exist'",
    "data_list": "HTTP 200 with data as a one-element list (what the seed's table says)",
}

_MARKER = re.compile(r"\[\[fault:([a-z0-9_]+)\]\]")
_URL = re.compile(r"https?://\S+")
_PROBABILITY = {"PASS": 0.02, "REVIEWED": 0.65, "REJECT": 0.98, "UNKNOWN": 0.5}
_MODERATION_STATES = ("active", "not_open", "not_active", "no_rule")
_MODERATION_ERRORS = {
    "not_open": (4000404, "text moderation not open"),
    "not_active": (4000404, "text rule moderation not active"),
    "no_rule": (4000303, "text rule moderation not exist"),
    "empty": (4000005, "message content is empty or null"),
    "no_org": (4000303, "orgName not found"),
    "no_app": (4000303, "application not found"),
}


@attrs.frozen
class Rule:
    """Text containing any trigger gets this answer; the first matching rule wins."""

    risk_label: str
    type: str
    risk_type: str
    triggers: tuple[str, ...]


RULES: tuple[Rule, ...] = (
    Rule("POLITICS", "REJECT", "涉政", ("颠覆国家", "politics-test")),
    Rule("VIOLENCE", "REJECT", "暴恐", ("炸弹", "恐怖袭击", "violence-test")),
    Rule("PORN", "REJECT", "色情", ("裸聊", "porn-test")),
    Rule("BAN", "REJECT", "违禁", ("毒品", "ban-test")),
    Rule("ABUSE", "REJECT", "辱骂", ("傻逼", "abuse-test")),
    # A riskLabel outside the documented list, as a vendor may add one any day.
    Rule("HATE_SPEECH", "REVIEWED", "仇恨言论", ("种族歧视", "hate-test")),
    Rule("QR", "REVIEWED", "二维码", ("扫码加群", "qr-test")),
    Rule("AD", "REVIEWED", "广告:联系方式", ("加微信", "ad-test")),
    Rule("UNKNOWN", "UNKNOWN", "未知", ("unknown-test",)),
)
# After the keyword rules: any URL makes the whole text an ad, as in seed 004's example.
_URL_RULE = Rule("AD", "REJECT", "广告:联系方式:网址", ())


def _error_body(error: str, description: str, exception: str) -> dict[str, Any]:
    return {
        "error": error,
        "exception": exception,
        "timestamp": int(time.time() * 1000),
        "duration": 0,
        "error_description": description,
    }


def _error(
    status: int,
    error: str,
    description: str,
    exception: str = "org.apache.usergrid.rest.exceptions.RestException",
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    return httpx.Response(status, json=_error_body(error, description, exception), headers=headers)


def _unauthorized(description: str, error: str = "unauthorized") -> httpx.Response:
    return _error(401, error, description, "org.apache.usergrid.rest.exceptions.SecurityException")


def _resource_limited() -> httpx.Response:
    return _error(
        429,
        "resource_limited",
        "You have exceeded the limit of the Free edition. Please upgrade to higher edition.",
    )


def _too_large() -> httpx.Response:
    # The front proxy answers this one, in HTML, not the API's JSON.
    html = "<html><head><title>413 Request Entity Too Large</title></head></html>"
    return httpx.Response(413, text=html, headers={"Content-Type": "text/html"})


def _moderation_error(state: str) -> httpx.Response:
    code, text = _MODERATION_ERRORS[state]
    body = _error_body("bad_request", text, "com.easemob.moderation.ModerationException")
    body["code"] = code  # where the numeric code sits is not documented; a guess
    return httpx.Response(400, json=body)


def _as_int(name: str, value: object, *, minimum: int = 0) -> int:
    return int_option(name, value, minimum=minimum)


def _as_float(name: str, value: object) -> float:
    return float_option(name, value, minimum=0)


def _as_limit(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "off")):
        return None
    number = _as_float(name, value)
    return number or None  # 0 turns the limit off


def _as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _as_fault(value: object) -> str | None:
    if value is None or value in ("", "none"):
        return None
    name = str(value)
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; use one of {', '.join(FAULTS)}")
    return name


Endpoint = Literal["check", "token"]


class HuanxinEmulator:
    """The emulator; see the module docstring. Counters and controls for tests:
    ``token_requests``, ``check_requests``, ``inject()``, ``revoke_tokens()``,
    ``expire_tokens()``."""

    def __init__(
        self,
        *,
        org_name: str = "demo-org",
        app_name: str = "demo-app",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_ttl: int = 5_184_000,
        rate_limit: float | None = 100.0,
        token_rate_limit: float | None = 300.0,
        quota: int | None = None,
        moderation: str = "active",
        probability: bool = False,
        fault: str | None = None,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        retry_after: float | None = None,
        max_body_bytes: int = 5120,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if moderation not in _MODERATION_STATES:
            raise ValueError(f"moderation must be one of {', '.join(_MODERATION_STATES)}")
        self.org_name = org_name
        self.app_name = app_name
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_ttl = token_ttl
        self.quota = quota
        self.moderation = moderation
        self.probability = probability
        self.fault = _as_fault(fault)
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self.sleep = sleep
        self.application = str(uuid.uuid5(uuid.NAMESPACE_URL, f"easemob:{org_name}#{app_name}"))
        self.token_requests = 0
        self.check_requests = 0
        self._lock = threading.Lock()
        self._tokens: dict[str, float | None] = {}  # token -> expiry on the clock, or never
        self._expired: set[str] = set()
        self._check_window = FixedWindow(rate_limit)
        self._token_window = FixedWindow(token_rate_limit)
        self._faults: dict[Endpoint, FaultQueue] = {
            "check": FaultQueue(FAULTS),
            "token": FaultQueue(FAULTS),
        }

    def __repr__(self) -> str:
        return f"<HuanxinEmulator {self.org_name}#{self.app_name}>"

    # -- controls for tests ---------------------------------------------------------

    def inject(self, fault: str, times: int = 1, *, endpoint: Endpoint = "check") -> None:
        """Answer the next ``times`` requests to ``endpoint`` with ``fault``."""
        self._faults[endpoint].inject(fault, times)

    def revoke_tokens(self) -> None:
        """Forget every issued token (they answer 401 auth_bad_access_token)."""
        with self._lock:
            self._tokens.clear()
            self._expired.clear()

    def expire_tokens(self) -> None:
        """Expire every issued token (they answer 401 unauthorized, expired)."""
        with self._lock:
            self._expired.update(self._tokens)
            self._tokens.clear()

    @property
    def live_tokens(self) -> int:
        with self._lock:
            return len(self._tokens)

    # -- the service ----------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            self.sleep(self.latency)
        parts = request.url.path.strip("/").split("/")
        if len(parts) < 3:
            return _error(404, "service_resource_not_found", "Service resource not found")
        org, app, rest = parts[0], parts[1], "/".join(parts[2:])
        if rest not in ("token", "moderation/txt/check"):
            return _error(404, "service_resource_not_found", "Service resource not found")
        if request.method != "POST":
            return _error(405, "web_application", "HTTP 405 Method Not Allowed")
        if (org, app) != (self.org_name, self.app_name):
            if rest == "moderation/txt/check":  # seed 004: 400 with code 4000303
                return _moderation_error("no_org" if org != self.org_name else "no_app")
            return _error(
                404,
                "organization_application_not_found",
                f"Could not find application for {org}/{app} from URI: {org}/{app}/{rest}",
            )
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _error(415, "web_application", "Unsupported Media Type")
        body = request.read()
        if len(body) > self.max_body_bytes:
            return _too_large()
        if rest == "token":
            return self._token(body)
        return self._check(request, body)

    def _fault_response(self, fault: str) -> httpx.Response | None:
        """The answer a fault forces, or None when the request goes on as usual."""
        if fault.isdigit():
            return _error(int(fault), "server_error", "internal server error (emulated)")
        if fault == "garbage":
            return httpx.Response(200, text="<html>502 Bad Gateway</html>")
        if fault == "slow":
            self.sleep(self.slow_seconds)
            return None
        if fault == "reach_limit":
            return self._reach_limit()
        if fault == "resource_limited":
            return _resource_limited()
        if fault in _MODERATION_ERRORS:
            return _moderation_error(fault)
        if fault == "revoke":
            self.revoke_tokens()
        elif fault == "expire":
            self.expire_tokens()
        return None

    def _reach_limit(self) -> httpx.Response:
        headers = None
        if self.retry_after is not None:
            headers = {"Retry-After": f"{self.retry_after:g}"}
        return _error(429, "reach_limit", "This request has reached api limit", headers=headers)

    def _token(self, raw: bytes) -> httpx.Response:
        with self._lock:
            self.token_requests += 1
            admitted = self._token_window.admit(self.clock())
        fault = self._faults["token"].take(None)
        if fault is not None:
            forced = self._fault_response(fault)
            if forced is not None:
                return forced
        if not admitted:
            return self._reach_limit()
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return _error(400, "json_parse", "Unexpected character: was expecting a JSON value")
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            return _error(400, "illegal_argument", "grant_type must be client_credentials")
        if body.get("client_id") != self.client_id:
            return _error(400, "invalid_grant", "client_id does not match")
        if not secrets.compare_digest(str(body.get("client_secret", "")), self._client_secret):
            return _error(400, "invalid_grant", "client_secret does not match")
        ttl = body.get("ttl", self.token_ttl)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            return _error(400, "illegal_argument", "ttl must be a non-negative number")
        token = "YWMt" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = None if ttl == 0 else self.clock() + ttl
        return httpx.Response(
            200, json={"access_token": token, "expires_in": ttl, "application": self.application}
        )

    def _authorize(self, request: httpx.Request) -> httpx.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return _unauthorized("Unable to authenticate (OAuth)")
        with self._lock:
            if token in self._tokens:
                expiry = self._tokens[token]
                if expiry is None or self.clock() < expiry:
                    return None
                del self._tokens[token]
                self._expired.add(token)
            expired = token in self._expired
        if expired:
            return _unauthorized("Unable to authenticate due to expired access token")
        return _unauthorized(
            "Unable to authenticate due to corrupt access token", "auth_bad_access_token"
        )

    def _check(self, request: httpx.Request, raw: bytes) -> httpx.Response:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # too deep is as unreadable as malformed
            body = None
        content = body.get("content") if isinstance(body, dict) else None
        marker = _MARKER.search(content) if isinstance(content, str) else None
        # A marker, even an unknown one (just text), stands in for the standing fault.
        fault = self._faults["check"].take(
            marker.group(1) if marker else None, None if marker else self.fault
        )
        with self._lock:
            self.check_requests += 1
        if fault in ("revoke", "expire"):
            self._fault_response(fault)
            fault = None
        denied = self._authorize(request)
        if denied is not None:
            return denied
        with self._lock:
            admitted = self._check_window.admit(self.clock())
            over_quota = self.quota is not None and self.quota <= 0
            if self.quota is not None and not over_quota:
                self.quota -= 1
        if not admitted:
            return self._reach_limit()
        if over_quota:
            return _resource_limited()
        if self.moderation != "active":
            return _moderation_error(self.moderation)
        if fault is not None:
            forced = self._fault_response(fault)
            if forced is not None:
                return forced
        if body is None:
            return _error(400, "json_parse", "Unexpected character: was expecting a JSON value")
        if not isinstance(content, str) or not content.strip():
            return _moderation_error("empty")
        data: Any = judge(content, probability=self.probability)
        if fault == "data_list":
            data = [data]
        return httpx.Response(
            200,
            json={
                "code": 200,
                "data": data,
                "meta": {"timestamp": int(time.time() * 1000), "requestId": ""},
            },
        )


def judge(content: str, *, probability: bool = False) -> dict[str, Any]:
    """The emulator's ``data`` for a text: the first rule whose trigger occurs wins."""
    rule, words = _URL_RULE, [content]
    for candidate in RULES:
        hits = [t for t in candidate.triggers if t in content]
        if hits:
            rule, words = candidate, hits
            break
    else:
        if not _URL.search(content):
            data: dict[str, Any] = {
                "type": "PASS",
                "riskType": "无风险",
                "riskLabel": "NONE",
                "exchangeText": content,
                "sensitiveWords": [],
            }
            if probability:
                data["probability"] = _PROBABILITY["PASS"]
            return data
    masked = content
    for word in words:
        masked = masked.replace(word, "*" * len(word))
    data = {
        "type": rule.type,
        "riskType": rule.risk_type,
        "riskLabel": rule.risk_label,
        "exchangeText": masked,
        "sensitiveWords": words,
    }
    if probability:
        data["probability"] = _PROBABILITY[rule.type]
    return data


_OPTION_PARSERS: dict[str, Callable[[str, object], Any]] = {
    "org_name": lambda _n, v: str(v),
    "app_name": lambda _n, v: str(v),
    "client_id": lambda _n, v: str(v),
    "client_secret": lambda _n, v: str(v),
    "token_ttl": _as_int,
    "rate_limit": _as_limit,
    "token_rate_limit": _as_limit,
    "quota": lambda n, v: None if v in (None, "", "none") else _as_int(n, v),
    "moderation": lambda _n, v: str(v),
    "probability": _as_bool,
    "fault": lambda _n, v: _as_fault(v),
    "latency": _as_float,
    "slow_seconds": _as_float,
    "retry_after": lambda n, v: None if v in (None, "", "none") else _as_float(n, v),
    "max_body_bytes": lambda n, v: _as_int(n, v, minimum=1),
}


def make_emulator(**options: Any) -> HuanxinEmulator:
    """A Huanxin emulator. Every option may be given as a string (from the CLI's
    ``--set key=value``): org_name, app_name, client_id, client_secret, token_ttl
    (seconds, 0 = never expires), rate_limit (txt/check requests/s, 0 = off),
    token_rate_limit, quota (checks before 429 resource_limited), moderation
    (active | not_open | not_active | no_rule), probability (include ``probability``),
    fault (see FAULTS), latency (seconds before every answer), slow_seconds,
    retry_after (Retry-After on 429 reach_limit), max_body_bytes. ``clock`` and
    ``sleep`` (callables) make time deterministic in tests."""
    return HuanxinEmulator(**parse_options(options, _OPTION_PARSERS, emulator="Huanxin"))
