"""A fake Alibaba Cloud Content Moderation 2022-03-02 (``green-cip``) for tests,
cassettes, demos and benchmarks: ``make_emulator(**options)`` returns a thread-safe
callable from ``httpx.Request`` to ``httpx.Response``; pass it to
``httpx.MockTransport`` or serve it with ``moderation emulate aliyun_green --port N``.

It checks what the gateway and the service check (CONTRACTS-MORE-VENDORS 4): both
signature schemes, V1 RPC HMAC-SHA1 (parameters in the query, the form body or both)
and ACS3-HMAC-SHA256 (headers rebuilt from the client's own ``SignedHeaders``); the
AccessKey id, the STS token when one is configured, the timestamp's format and a
15-minute skew, nonces never used twice; the required parameters, the action and
version, the service codes of each action, the ``ServiceParameters`` JSON and its
``content`` and length; and a requests/s limit. Gateway errors answer a non-200 status
with ``Code``/``Message``/``RequestId``/``HostId``/``Recommend``; the service's own
answer HTTP 200 with a numeric ``Code``.

It answers ``TextModerationPlus`` and ``TextModeration`` from one rule set (``RULES``)
covering every label the provider maps, and reproduces each API reference's example
(``OFFICIAL_EXAMPLES``). Faults, for tests and demos: the ``fault`` option (every
request), ``inject()`` (the next N requests) or a ``[[fault:NAME]]`` marker in the
text; names are in ``FAULTS``. Options may arrive as strings (``--set rate_limit=10``).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx

from moderation_core.testing import (
    FaultQueue,
    FixedWindow,
    choice_option,
    float_option,
    int_option,
    names_option,
    parse_options,
)

from . import _signing as signing

__all__ = [
    "CLASSIC_SERVICES",
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "FAULTS",
    "OFFICIAL_EXAMPLES",
    "PLUS_SERVICES",
    "RULES",
    "AliyunGreenEmulator",
    "OfficialExample",
    "Rule",
    "judge",
    "make_emulator",
]

# The emulator's own demo values: no one's credentials.
DEMO_ACCESS_KEY_ID = "LTAIemulatorDemoKeyId"
DEMO_ACCESS_KEY_SECRET = "emulator-demo-secret-5c2e91"  # noqa: S105 - a demo value
VERSION = "2022-03-02"
MAX_SKEW = 15 * 60  # InvalidTimeStamp.Expired beyond this
_NONCE_MEMORY = 100_000  # nonces remembered at most; older ones leave first
_HOST_ID = "green-cip.emulator.aliyuncs.com"

# Service codes each action takes (4.2), with their content limits in characters. The
# classic limit was not found in the vendor's docs: the provider's default, 600.
PLUS_SERVICES: Mapping[str, int] = {
    "llm_query_moderation": 2_000,
    "llm_response_moderation": 5_000,
    "chat_detection_pro": 2_000,
    "comment_detection_pro": 2_000,
    "nickname_detection_pro": 2_000,
    "ad_compliance_detection_pro": 2_000,
    "ugc_moderation_byllm": 2_000,
    "aigc_moderation_byllm": 2_000,
    "query_security_check_intl": 2_000,
    "response_security_check_intl": 5_000,
}
CLASSIC_SERVICES: Mapping[str, int] = dict.fromkeys(
    (
        "nickname_detection",
        "chat_detection",
        "comment_detection",
        "pgc_detection",
        "ad_compliance_detection",
        "comment_multilingual_pro",
        "ai_art_detection",
        "ugc_moderation_byllm",
        "ugc_moderation_byllm_pro",
        "ugc_moderation_byllm_cb",
        "ugc_moderation_byllm_global",
        "ugc_moderation_byllm_ec",
        "aigc_moderation_byllm",
    ),
    600,
)
_ACTIONS: Mapping[str, Mapping[str, int]] = {
    "TextModerationPlus": PLUS_SERVICES,
    "TextModeration": CLASSIC_SERVICES,
}

# -- what it judges ----------------------------------------------------------------------


@attrs.frozen
class Rule:
    """Text containing any trigger gets this answer; the first matching rule wins.
    ``classic_label`` None: TextModeration has no label for it and passes the text."""

    triggers: tuple[str, ...]
    risk_level: str
    plus_label: str
    confidence: float
    description: str
    classic_label: str | None
    risk_tips: str
    library: str | None = None  # a custom library hit: reported under this name


RULES: tuple[Rule, ...] = (
    Rule(
        ("色情服务", "porn-test"),
        "high",
        "pornographic_adult",
        95.51,
        "疑似色情内容",
        "sexual_content",
        "色情_低俗词",
    ),
    Rule(
        ("性感写真", "sexy-test"),
        "medium",
        "sexual_suggestive",
        72.0,
        "疑似低俗内容",
        "sexual_content",
        "色情_低俗",
    ),
    Rule(("性健康", "sexual-terms-test"), "low", "sexual_terms", 45.0, "疑似性健康内容", None, ""),
    Rule(
        ("颠覆国家", "politics-test"),
        "high",
        "political_entity",
        99.0,
        "疑似政治实体",
        "political_content",
        "涉政_政治实体",
    ),
    Rule(
        ("political-figure-test",),
        "high",
        "political_figure",
        91.5,
        "疑似政治人物",
        "political_content",
        "涉政_政治人物",
    ),
    Rule(
        ("炸弹", "violence-test"),
        "high",
        "violent_incidents",
        97.0,
        "疑似极端主义内容",
        "violence",
        "暴恐_暴恐事件",
    ),
    Rule(
        ("枪支", "weapons-test"),
        "high",
        "violent_weapons",
        93.0,
        "疑似武器弹药",
        "violence",
        "暴恐_武器",
    ),
    Rule(
        ("毒品", "drug-test"),
        "high",
        "contraband_drug",
        96.0,
        "疑似毒品相关",
        "contraband",
        "违禁_毒品",
    ),
    Rule(
        ("赌博", "gambling-test"),
        "medium",
        "contraband_gambling",
        80.0,
        "疑似赌博相关",
        "contraband",
        "违禁_赌博",
    ),
    Rule(
        ("傻逼", "idiot", "stupid", "abuse-test"),
        "high",
        "inappropriate_profanity",
        95.0,
        "疑似攻击辱骂内容",
        "profanity",
        "辱骂_低俗辱骂",
    ),
    Rule(
        ("网暴", "cyberbullying-test"),
        "high",
        "inappropriate_profanity",
        90.0,
        "疑似攻击辱骂内容",
        "cyberbullying",
        "网络暴力",
    ),
    Rule(
        ("地域黑", "hate-test"),
        "medium",
        "inappropriate_discrimination",
        78.0,
        "疑似偏见歧视内容",
        "negative_content",
        "不良场景_歧视",
    ),
    Rule(
        ("加我微信", "buy now", "ad-test"),
        "medium",
        "pt_to_contact",
        85.0,
        "疑似引流广告号",
        "ad",
        "广告_联系方式",
    ),
    Rule(
        ("兼职刷单", "recruitment-test"),
        "medium",
        "pt_by_recruitment",
        82.0,
        "疑似网赚兼职广告",
        "spam",
        "垃圾信息_兼职",
    ),
    Rule(
        ("啊啊啊啊啊啊", "nonsense-test"),
        "low",
        "inappropriate_nonsense",
        60.0,
        "疑似无意义灌水内容",
        "nonsense",
        "灌水",
    ),
    Rule(
        ("算命", "superstition-test"),
        "low",
        "inappropriate_superstition",
        55.0,
        "疑似封建迷信内容",
        None,
        "",
    ),
    Rule(("religion-test",), "low", "religion_b", 50.0, "疑似涉及佛教", None, ""),
    Rule(
        ("customized-test",),
        "high",
        "customized",
        100.0,
        "命中自定义词库",
        "C_customized",
        "用户库命中",
        "自定义黑名单",
    ),
    # A label outside the documented lists, as a vendor may add one any day.
    Rule(
        ("newlabel-test",),
        "medium",
        "regional_sensitive",
        70.0,
        "疑似地域敏感内容",
        "regional_sensitive",
        "地域敏感",
    ),
    # A level above high, which gateways accept.
    Rule(
        ("max-test",), "max", "violent_extremist", 99.9, "疑似极端组织", "violence", "暴恐_极端组织"
    ),
)


@attrs.frozen
class OfficialExample:
    """An API reference's example request (action, Service, content) and its answer."""

    action: str
    service: str
    content: str
    answer: Mapping[str, Any]


# The API references print one example value per field; these are those values, for
# the request (Service, ServiceParameters) and for the answer: RequestId, Code, Message,
# and ``labels``/``reason``/``accountId``/``deviceId`` (TextModeration,
# help.aliyun.com 2528741), ``Result[].Label`` (TextModerationPlus, 2669858). The
# PLUS fields whose example values we could not retrieve (RiskLevel, Confidence,
# Description) are the emulator's, consistent with the label.
_EXAMPLE_REQUEST_ID = "AAAAAA-BBBB-CCCCC-DDDD-EEEEEEEE****"
OFFICIAL_EXAMPLES: tuple[OfficialExample, ...] = (
    OfficialExample(
        "TextModeration",
        "nickname_detection",
        "地图还是黑的",
        {
            "RequestId": _EXAMPLE_REQUEST_ID,
            "Code": 200,
            "Message": "OK",
            "Data": {
                "labels": "porn",
                "reason": '{"riskLevel":"high","riskTips":"色情_低俗词","riskWords":"色情服务"}',
                "accountId": "123456",
                "deviceId": "xxxxxx",
            },
        },
    ),
    OfficialExample(
        "TextModerationPlus",
        "ugc_moderation_byllm",
        "测试内容",
        {
            "RequestId": _EXAMPLE_REQUEST_ID,
            "Code": 200,
            "Message": "OK",
            "Data": {
                "RiskLevel": "high",
                "Result": [{"Label": "porn", "Confidence": 81.0, "Description": "疑似色情内容"}],
            },
        },
    ),
)


def _request_id() -> str:
    hex_ = secrets.token_hex(16).upper()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def _official(action: str, service: str, content: str) -> dict[str, Any] | None:
    for example in OFFICIAL_EXAMPLES:
        if (example.action, example.service, example.content) == (action, service, content):
            copy: dict[str, Any] = json.loads(json.dumps(example.answer))
            return copy  # the caller may change it
    return None


def judge(action: str, content: str, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The emulator's ``Data`` for a text: TextModerationPlus's shape or TextModeration's.
    ``parameters`` (the request's ServiceParameters) supplies the echoed ids."""
    parameters = parameters or {}
    rule = next((r for r in RULES if any(t in content for t in r.triggers)), None)
    words = [t for t in rule.triggers if t in content] if rule is not None else []
    if action == "TextModerationPlus":
        data = _plus_data(rule, words)
        echo = {"AccountId": "accountId", "DataId": "dataId"}
    else:
        data = _classic_data(rule, words)
        echo = {"accountId": "accountId", "deviceId": "deviceId", "dataId": "dataId"}
    for key, name in echo.items():
        if isinstance(parameters.get(name), str):
            data[key] = parameters[name]
    return data


def _plus_data(rule: Rule | None, words: list[str]) -> dict[str, Any]:
    if rule is None:
        return {
            "RiskLevel": "none",
            "Result": [{"Label": "nonLabel", "Description": "未检测出风险"}],
        }
    result: dict[str, Any] = {
        "Label": rule.plus_label,
        "Confidence": rule.confidence,
        "Description": rule.description,
        "RiskWords": ",".join(words),
    }
    if rule.library is not None:
        result["CustomizedHit"] = [{"LibName": rule.library, "KeyWords": ",".join(words)}]
        result["RiskWords"] = ""
    return {"RiskLevel": rule.risk_level, "Result": [result]}


def _classic_data(rule: Rule | None, words: list[str]) -> dict[str, Any]:
    if rule is None or rule.classic_label is None:
        return {"labels": "", "reason": "", "descriptions": ""}
    reason: dict[str, Any] = {"riskLevel": rule.risk_level, "riskTips": rule.risk_tips}
    if rule.library is not None:
        reason |= {"customizedWords": ",".join(words), "customizedLibs": rule.library}
    else:
        reason["riskWords"] = ",".join(words)
    return {
        "labels": rule.classic_label,
        "reason": json.dumps(reason, ensure_ascii=False, separators=(",", ":")),
        "descriptions": rule.description,
    }


# -- faults ------------------------------------------------------------------------------

# Gateway errors: code -> (HTTP status, message), as POP words them.
POP_ERRORS: Mapping[str, tuple[int, str]] = {
    "SignatureDoesNotMatch": (
        400,
        "Specified signature is not matched with our calculation. server string to sign is:",
    ),
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "InvalidAccessKeyId.Inactive": (400, "Specified access key is disabled."),
    "InvalidTimeStamp.Expired": (
        400,
        "Specified time stamp or date value is expired.",
    ),
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value is not well formatted."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "InvalidSecurityToken.MismatchWithAccessKey": (
        400,
        "Specified SecurityToken mismatch with the AccessKey.",
    ),
    "Forbidden.RAM": (403, "User not authorized to operate on the specified resource."),
    "Throttling": (503, "Request was denied due to request throttling."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "MissingParameter": (400, "A required parameter is not supplied."),
    "InvalidApi.NotFound": (404, "Specified api is not found, please check your url and method."),
    "InternalError": (500, "The request processing has failed due to some unknown error."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
}
# The service's own codes (HTTP 200, 4.6 table).
BUSINESS_MESSAGES: Mapping[int, str] = {
    200: "OK",
    280: "PROCESSING",
    400: "BAD_REQUEST",
    401: "NOT_ALLOWED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    480: "DOWNLOAD_FAILED",
    500: "GENERAL_ERROR",
    503: "ServiceUnavailable",
    580: "DB_FAILED",
    581: "TIMEOUT",
    586: "ALGO_FAILED",
    588: "EXCEED_QUOTA",
    592: "DOWNLOAD_TIMEOUT",
    594: "EXPIRED",
    596: "PERMISSION_DENY",
}
FAULTS: Mapping[str, str] = {
    **{code: f"gateway error {code} (HTTP {status})" for code, (status, _) in POP_ERRORS.items()},
    **{
        str(code): f"service code {code} ({name}), HTTP 200"
        for code, name in BUSINESS_MESSAGES.items()
        if code != 200
    },
    "http502": "HTTP 502 with an HTML page, from a proxy in front of the service",
    "http504": "HTTP 504 with an HTML page",
    "garbage": "HTTP 200 whose body is not JSON",
    "nested": "HTTP 200 with JSON nested 100,000 deep",
    "huge": "HTTP 200 with a 3 MB answer",
    "no_level": "code 200 without RiskLevel (TextModerationPlus)",
    "no_data": "code 200 without Data",
    "string_code": 'Code as the string "200"',
    "odd_level": "RiskLevel maybe, a value the API reference does not list",
    "bad_reason": "TextModeration's reason not JSON",
    "slow": "answer only after slow_seconds (default 3)",
}
_MARKER = re.compile(r"\[\[fault:([A-Za-z0-9_.]+)\]\]")


def _pop(code: str, request_id: str | None = None, detail: str = "") -> httpx.Response:
    status, message = POP_ERRORS[code]
    body = {
        "RequestId": request_id or _request_id(),
        "HostId": _HOST_ID,
        "Code": code,
        "Message": message + detail,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}",
    }
    headers = {"x-acs-request-id": body["RequestId"]}
    if code.startswith("Throttling"):
        headers["x-acs-retry-after"] = "1000"  # milliseconds, as the Tea SDK reads it
    return httpx.Response(status, json=body, headers=headers)


def _missing(name: str) -> httpx.Response:
    return _pop(
        "MissingParameter",
        detail=f' The input parameter "{name}" that is mandatory for processing this '
        "request is not supplied.",
    )


def _business(code: int, message: str | None = None) -> httpx.Response:
    body = {
        "Code": code,
        "Message": message or BUSINESS_MESSAGES.get(code, "ERROR"),
        "RequestId": _request_id(),
    }
    return httpx.Response(200, json=body)


def _answer(data: Mapping[str, Any]) -> httpx.Response:
    return httpx.Response(
        200, json={"Code": 200, "Message": "OK", "RequestId": _request_id(), "Data": data}
    )


@attrs.frozen
class _Signed:
    """Who signed a request and when, once the signature checked out."""

    access_key_id: str
    nonce: str
    action: str | None
    version: str | None


class _Refused(Exception):
    """Raised inside the checks with the answer that ends the request."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__("refused")
        self.response = response


class AliyunGreenEmulator:
    """The emulator; see the module docstring. For tests: ``requests`` (how many reached
    it), ``last_scheme`` (``"v1"`` or ``"acs3"``) and ``inject()``."""

    def __init__(
        self,
        *,
        access_key_id: str = DEMO_ACCESS_KEY_ID,
        access_key_secret: str = DEMO_ACCESS_KEY_SECRET,
        security_token: str | None = None,
        services: frozenset[str] | None = None,
        rate_limit: float | None = None,
        max_text_chars: int | None = None,
        max_skew: float = MAX_SKEW,
        fault: str | None = None,
        latency: float = 0.0,
        slow_seconds: float = 3.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._keys = {access_key_id: access_key_secret}
        self._token = security_token
        self.services = services
        self.max_text_chars = max_text_chars
        self.max_skew = max_skew
        self.fault = _as_fault(fault)
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.clock = clock
        self.sleep = sleep
        self.requests = 0
        self.last_scheme: str | None = None
        self._lock = threading.Lock()
        self._window = FixedWindow(rate_limit)
        self._faults = FaultQueue(FAULTS)
        self._nonces: OrderedDict[str, float] = OrderedDict()

    def __repr__(self) -> str:
        return f"<AliyunGreenEmulator {len(self._keys)} key(s)>"

    def inject(self, fault: str, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``fault``."""
        self._faults.inject(fault, times)

    # -- the request ----------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            self.sleep(self.latency)
        if request.url.path.rstrip("/") != "":
            return _pop("InvalidApi.NotFound")
        if request.method not in ("GET", "POST"):
            return httpx.Response(405, text="405 method not allowed")
        body = request.read()
        params = _params(request, body)
        content = _content(params)
        marker = _MARKER.search(content) if content is not None else None
        with self._lock:
            self.requests += 1
        fault = self._faults.take(marker.group(1) if marker else None, self.fault)
        if fault is not None:
            forced = self._fault(fault, params, content or "")
            if forced is not None:
                return forced
        try:
            signed = self._authenticate(request, body, params)
            return self._serve(signed, params)
        except _Refused as refused:
            return refused.response

    def _fault(self, fault: str, params: Mapping[str, str], text: str) -> httpx.Response | None:
        """The answer a fault forces, or None when the request goes on as usual."""
        action = params.get("Action") or "TextModerationPlus"
        if fault in POP_ERRORS:
            return _pop(fault)
        if fault.isdigit():
            return _business(int(fault))
        if fault.startswith("http"):
            return httpx.Response(int(fault[4:]), text="<html>gateway error</html>")
        data = judge(action, text)
        if fault == "garbage":
            return httpx.Response(200, text="<html>oops</html>")
        if fault == "nested":
            return httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000)
        if fault == "huge":
            return _answer({**data, "Padding": "x" * (3 * 1024 * 1024)})
        if fault == "no_level":
            return _answer({k: v for k, v in data.items() if k != "RiskLevel"})
        if fault == "no_data":
            return httpx.Response(200, json={"Code": 200, "Message": "OK", "RequestId": "r"})
        if fault == "string_code":
            return httpx.Response(200, json={"Code": "200", "Message": "OK", "Data": data})
        if fault == "odd_level":
            return _answer({**data, "RiskLevel": "maybe"})
        if fault == "bad_reason":
            return _answer({"labels": "ad", "reason": "{not json"})
        if fault == "slow":
            self.sleep(self.slow_seconds)
        return None

    # -- who signed it --------------------------------------------------------------

    def _authenticate(
        self, request: httpx.Request, body: bytes, params: Mapping[str, str]
    ) -> _Signed:
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            self.last_scheme = "acs3"
            return self._acs3(request, body, authorization)
        if "Signature" in params:
            self.last_scheme = "v1"
            return self._v1(request, params)
        raise _Refused(_pop("IncompleteSignature"))

    def _v1(self, request: httpx.Request, params: Mapping[str, str]) -> _Signed:
        required = (
            "AccessKeyId",
            "Action",
            "Version",
            "Timestamp",
            "SignatureMethod",
            "SignatureVersion",
            "SignatureNonce",
        )
        for name in required:
            if not params.get(name):
                raise _Refused(_missing(name))
        if params["SignatureMethod"] != signing.HMAC_SHA1 or params["SignatureVersion"] != "1.0":
            raise _Refused(_pop("IncompleteSignature"))
        self._check_time(params["Timestamp"])
        secret = self._secret(params["AccessKeyId"])
        self._check_token(params.get("SecurityToken"))
        expected = signing.rpc_signature(secret, request.method, params)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            to_sign = signing.rpc_string_to_sign(request.method, params)
            raise _Refused(_pop("SignatureDoesNotMatch", detail=to_sign))
        nonce = params["SignatureNonce"]
        self._check_nonce(nonce)
        return _Signed(params["AccessKeyId"], nonce, params["Action"], params["Version"])

    def _acs3(self, request: httpx.Request, body: bytes, authorization: str) -> _Signed:
        try:
            parsed = signing.parse_acs3_authorization(authorization)
        except ValueError:
            raise _Refused(_pop("IncompleteSignature")) from None
        headers = request.headers
        for name in ("x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"):
            if not headers.get(name):
                raise _Refused(_missing(name))
        unsigned = [
            name
            for name in ("host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")
            if name not in parsed.signed_headers
        ]
        if unsigned:
            raise _Refused(_pop("IncompleteSignature", detail=f" Unsigned: {', '.join(unsigned)}."))
        if headers["x-acs-content-sha256"] != signing.sha256_hex(body):
            raise _Refused(_pop("SignatureDoesNotMatch", detail=" (x-acs-content-sha256)"))
        self._check_time(headers["x-acs-date"])
        secret = self._secret(parsed.access_key_id)
        token = headers.get("x-acs-security-token")
        self._check_token(token)
        if token is not None and headers.get("x-acs-accesskey-id") != parsed.access_key_id:
            raise _Refused(_pop("InvalidSecurityToken.MismatchWithAccessKey"))
        canonical = signing.acs3_canonical_request(
            method=request.method,
            path=request.url.path,
            query=request.url.params.multi_items(),
            headers=headers.multi_items(),
            signed_headers=parsed.signed_headers,
            hashed_payload=headers["x-acs-content-sha256"],
        )
        expected = signing.acs3_signature(secret, canonical)
        if not hmac.compare_digest(expected.encode(), parsed.signature.encode()):
            detail = signing.acs3_string_to_sign(canonical)
            raise _Refused(_pop("SignatureDoesNotMatch", detail=detail))
        nonce = headers["x-acs-signature-nonce"]
        self._check_nonce(nonce)
        action = headers.get("x-acs-action") or request.url.params.get("Action")
        version = headers.get("x-acs-version") or request.url.params.get("Version")
        return _Signed(parsed.access_key_id, nonce, action, version)

    def _check_time(self, value: str) -> None:
        try:
            when = datetime.strptime(value, signing.TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise _Refused(_pop("InvalidTimeStamp.Format")) from None
        if abs(when.timestamp() - self.clock()) > self.max_skew:
            raise _Refused(_pop("InvalidTimeStamp.Expired"))

    def _secret(self, access_key_id: str) -> str:
        secret = self._keys.get(access_key_id)
        if secret is None:
            raise _Refused(_pop("InvalidAccessKeyId.NotFound"))
        return secret

    def _check_token(self, token: str | None) -> None:
        if self._token is None:
            return
        if token is None or not hmac.compare_digest(token.encode(), self._token.encode()):
            raise _Refused(_pop("InvalidSecurityToken.MismatchWithAccessKey"))

    def _check_nonce(self, nonce: str) -> None:
        now = self.clock()
        with self._lock:
            while self._nonces and (
                len(self._nonces) >= _NONCE_MEMORY
                or next(iter(self._nonces.values())) < now - 2 * self.max_skew
            ):
                self._nonces.popitem(last=False)
            if nonce in self._nonces:
                raise _Refused(_pop("SignatureNonceUsed"))
            self._nonces[nonce] = now

    # -- what it asked --------------------------------------------------------------

    def _serve(self, signed: _Signed, params: Mapping[str, str]) -> httpx.Response:
        action = signed.action
        if action is None or action not in _ACTIONS or signed.version != VERSION:
            return _pop("InvalidApi.NotFound")
        with self._lock:
            admitted = self._window.admit(self.clock())
        if not admitted:
            return _pop("Throttling.User")
        service = params.get("Service")
        if not service:
            return _missing("Service")
        known = _ACTIONS[action]
        if service not in known or (self.services is not None and service not in self.services):
            return _business(400, "service is invalid")
        try:
            parameters = json.loads(params.get("ServiceParameters", ""))
        except (ValueError, RecursionError):
            return _business(400, "ServiceParameters is not a JSON object")
        if not isinstance(parameters, dict):
            return _business(400, "ServiceParameters is not a JSON object")
        content = parameters.get("content")
        if not isinstance(content, str) or not content.strip():
            return _business(400, "content is empty")
        limit = self.max_text_chars or known[service]
        if len(content) > limit:
            return _business(400, f"content is longer than {limit} characters")
        official = _official(action, service, content)
        if official is not None:
            return httpx.Response(200, json=official)
        return _answer(judge(action, content, parameters))


def _params(request: httpx.Request, body: bytes) -> dict[str, str]:
    """The query and, for a form body, its fields: the set a V1 signature covers."""
    params = dict(request.url.params.multi_items())
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        with contextlib.suppress(UnicodeDecodeError):  # not a form: nothing from the body
            params |= dict(parse_qsl(body.decode(), keep_blank_values=True))
    return params


def _content(params: Mapping[str, str]) -> str | None:
    try:
        parameters = json.loads(params.get("ServiceParameters", ""))
    except (ValueError, RecursionError):
        return None
    content = parameters.get("content") if isinstance(parameters, dict) else None
    return content if isinstance(content, str) else None


# -- options -----------------------------------------------------------------------------


def _as_float(name: str, value: object) -> float:
    return float_option(name, value, minimum=0)


def _as_limit(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "off")):
        return None
    return _as_float(name, value) or None  # 0 turns the limit off


def _as_chars(name: str, value: object) -> int | None:
    if value is None or value in ("", "none"):
        return None
    return int_option(name, value, minimum=1)


def _as_fault(value: object) -> str | None:
    return choice_option("fault", value, FAULTS)


def _as_services(name: str, value: object) -> frozenset[str] | None:
    services = names_option(name, value, unset=("", "any"))
    return None if services is None else frozenset(services)


def _as_token(_name: str, value: object) -> str | None:
    return None if value in (None, "", "none") else str(value)


_OPTION_PARSERS: dict[str, Callable[[str, object], Any]] = {
    "access_key_id": lambda _n, v: str(v),
    "access_key_secret": lambda _n, v: str(v),
    "security_token": _as_token,
    "services": _as_services,
    "rate_limit": _as_limit,
    "max_text_chars": _as_chars,
    "max_skew": _as_float,
    "fault": lambda _n, v: _as_fault(v),
    "latency": _as_float,
    "slow_seconds": _as_float,
}


def make_emulator(**options: Any) -> AliyunGreenEmulator:
    """An Alibaba Cloud Green emulator. Every option may be given as a string (from the
    CLI's ``--set key=value``): access_key_id, access_key_secret, security_token (STS:
    then every request must carry it), services (comma-separated service codes the
    account may call; default: every documented one), rate_limit (requests/s, 0 = off,
    the default), max_text_chars (default: each service's), max_skew (seconds, default
    900), fault (see FAULTS), latency (seconds before every answer), slow_seconds.
    ``clock`` and ``sleep`` (callables) make time deterministic in tests."""
    return AliyunGreenEmulator(
        **parse_options(options, _OPTION_PARSERS, emulator="Alibaba Cloud Green")
    )
