"""A fake Shumei text v4 service (``POST /text/v4``), for tests, cassettes, demos and
benchmarks: ``make_emulator(**options)`` returns a thread-safe callable from
``httpx.Request`` to ``httpx.Response``; pass it to ``httpx.MockTransport`` or serve it
with ``moderation emulate shumei --port N``.

It checks what the service checks (CONTRACTS-MORE-VENDORS 5b): the ``accessKey`` and
``appId`` (9101), the required fields and their formats, ``tokenId`` and the
``receiveTokenId`` an eventId ``message`` needs (1902), the 10,000-character text limit
(1905) and a requests/s limit (1901); always HTTP 200 with the result in ``code``. It
answers from a fixed content-to-verdict rule set (``RULES``) covering every
``riskLabel1`` the provider maps, honouring the ``type`` asked for, and reproduces the
API doc's own example (``OFFICIAL_EXAMPLE``) word for word.

Faults, for tests and demos: the ``fault`` option (every request), ``inject()`` (the
next N requests) or a ``[[fault:NAME]]`` marker inside the text. Names are in
``FAULTS``. Options may arrive as strings (``--set rate_limit=10``) and are parsed.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

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

__all__ = [
    "DEMO_ACCESS_KEY",
    "DEMO_APP_ID",
    "FAULTS",
    "OFFICIAL_EXAMPLE",
    "OFFICIAL_EXAMPLE_ANSWER",
    "RULES",
    "Rule",
    "ShumeiEmulator",
    "judge",
    "make_emulator",
]

DEMO_ACCESS_KEY = "emulator-access-key-3f9a"  # the emulator's own demo value, no one's secret
DEMO_APP_ID = "default"  # the official example's appId
PATH = "/text/v4"
MAX_TEXT_CHARS = 10_000

MESSAGES: Mapping[int, str] = {
    1100: "成功",
    1901: "QPS超限",
    1902: "参数不合法",
    1903: "服务失败",
    1905: "字数超限",
    9101: "无权限操作",
}

FAULTS: Mapping[str, str] = {
    "1901": "code 1901, QPS limit exceeded",
    "1902": "code 1902, invalid parameter",
    "1903": "code 1903, service failure",
    "1905": "code 1905, character limit exceeded",
    "9101": "code 9101, unauthorized operation",
    "500": "HTTP 500 from a gateway in front of the service (also 502, 503)",
    "502": "HTTP 502",
    "503": "HTTP 503",
    "garbage": "HTTP 200 whose body is not JSON",
    "nested": "HTTP 200 with JSON nested 100,000 deep",
    "huge": "HTTP 200 with a 3 MB answer",
    "no_level": "code 1100 without riskLevel",
    "string_code": 'code as the string "1100"',
    "odd_level": "riskLevel MAYBE, a value the API doc does not list",
    "slow": "answer only after slow_seconds (default 3): past the 1 s client timeout",
}
_MARKER = re.compile(r"\[\[fault:([a-z0-9_]+)\]\]")
_TOKEN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_LANGUAGES = frozenset("zh en ar hi es fr ru pt id de ja tr vi it th tl ko ms auto".split())  # noqa: SIM905
# type -> the detections it asks for; TEXTRISK is the nine general ones (5b.2).
_GENERAL = ("POLITY", "VIOLENT", "BAN", "EROTIC", "DIRTY", "ADVERT", "PRIVACY", "ADLAW")
_DETECTIONS: Mapping[str, frozenset[str]] = {
    **{name: frozenset({name}) for name in (*_GENERAL, "MEANINGLESS", "FRUAD", "UNPOACH")},
    "TEXTMINOR": frozenset({"TEXTMINOR"}),
    "TEXTRISK": frozenset({*_GENERAL, "MEANINGLESS"}),
}


@attrs.frozen
class Rule:
    """Text containing any trigger gets this answer, if ``detection`` was asked for
    (None: always, as a customer's own list); the first matching rule wins. Words are
    reported in ``matchedLists`` under ``list_name`` when set, else as ``riskSegments``."""

    risk_level: str
    risk_label1: str
    risk_label2: str
    description: str
    probability: float
    triggers: tuple[str, ...]
    detection: str | None
    list_name: str | None = None


RULES: tuple[Rule, ...] = (
    Rule(
        "REJECT",
        "politics",
        "shezheng",
        "涉政:涉政:涉政",
        0.99,
        ("颠覆国家", "politics-test"),
        "POLITY",
    ),
    Rule(
        "REJECT",
        "violence",
        "baokong",
        "暴恐:暴恐:暴恐",
        0.97,
        ("炸弹", "violence-test"),
        "VIOLENT",
    ),
    Rule("REJECT", "porn", "seqing", "色情:色情:色情", 0.98, ("裸聊", "porn-test"), "EROTIC"),
    Rule("REJECT", "ban", "dupin", "违禁:毒品:毒品", 0.96, ("毒品", "ban-test"), "BAN"),
    Rule(
        "REJECT",
        "abuse",
        "maren",
        "辱骂:骂人:骂人",
        0.95,
        ("傻逼", "idiot", "abuse-test"),
        "DIRTY",
        "社区敏感词名单",
    ),
    Rule(
        "REVIEW",
        "ad_law",
        "jixianci",
        "广告法:极限词:极限词",
        0.7,
        ("全网最低价", "ad_law-test"),
        "ADLAW",
    ),
    Rule(
        "REVIEW",
        "ad",
        "lianxifangshi",
        "广告:联系方式:联系方式",
        0.8,
        ("加我微信", "ad-test"),
        "ADVERT",
    ),
    Rule(
        "REJECT",
        "blacklist",
        "zidingyi",
        "黑名单:自定义:自定义",
        1.0,
        ("blacklist-test",),
        None,
        "自定义黑名单",
    ),
    Rule(
        "REVIEW",
        "meaningless",
        "guanshui",
        "无意义:灌水:灌水",
        0.6,
        ("啊啊啊啊啊啊", "meaningless-test"),
        "MEANINGLESS",
    ),
    Rule(
        "REVIEW",
        "privacy",
        "shenfenzheng",
        "隐私:身份证:身份证",
        0.75,
        ("身份证号", "privacy-test"),
        "PRIVACY",
    ),
    Rule(
        "REJECT", "fraud", "shuadan", "网络诈骗:刷单:刷单", 0.9, ("刷单返利", "fraud-test"), "FRUAD"
    ),
    Rule(
        "REVIEW",
        "minor",
        "weichengnianren",
        "未成年人:交友:交友",
        0.65,
        ("未成年交友", "minor-test"),
        "TEXTMINOR",
    ),
    # The international product's labels (5b.3), capitalized.
    Rule("REJECT", "Politics", "politics", "Politics", 0.99, ("intl:politics",), "POLITY"),
    Rule("REJECT", "Violence", "terrorism", "Violence", 0.97, ("intl:violence",), "VIOLENT"),
    Rule("REJECT", "Erotic", "sexual", "Erotic", 0.98, ("intl:erotic",), "EROTIC"),
    Rule("REJECT", "Prohibit", "drugs", "Prohibit", 0.96, ("intl:prohibit",), "BAN"),
    Rule("REJECT", "Abuse", "insult", "Abuse", 0.95, ("intl:abuse",), "DIRTY"),
    Rule("REVIEW", "Ads", "contact", "Ads", 0.8, ("intl:ads",), "ADVERT"),
    Rule(
        "REJECT",
        "Blacklist",
        "custom",
        "Blacklist",
        1.0,
        ("intl:blacklist",),
        None,
        "blacklist",
    ),
    # A riskLabel1 outside the documented list, as a vendor may add one any day.
    Rule("REVIEW", "gambling", "dubo", "赌博:赌博:赌博", 0.85, ("newlabel-test",), None),
)

# The API doc's example (V4/智能文本识别产品API文档.md, "示例"): this text, this answer.
OFFICIAL_EXAMPLE = "加个好友吧 qq12345"
OFFICIAL_EXAMPLE_ANSWER: Mapping[str, Any] = {
    "allLabels": [
        {
            "probability": 1,
            "riskDescription": "涉政:涉政:涉政",
            "riskDetail": {},
            "riskLabel1": "politics",
            "riskLabel2": "shezheng",
            "riskLabel3": "shezheng",
            "riskLevel": "REVIEW",
        },
        {
            "probability": 0.95559550232975,
            "riskDescription": "广告:加好友:加好友",
            "riskDetail": {
                "matchedLists": [
                    {"name": "社区敏感词名单", "words": [{"position": [6, 7], "word": "qq"}]}
                ]
            },
            "riskLabel1": "ad",
            "riskLabel2": "jiahaoyou",
            "riskLabel3": "jiahaoyou",
            "riskLevel": "REJECT",
        },
        {
            "probability": 1,
            "riskDescription": "广告:联系方式:联系方式",
            "riskDetail": {},
            "riskLabel1": "ad",
            "riskLabel2": "lianxifangshi",
            "riskLabel3": "lianxifangshi",
            "riskLevel": "REJECT",
        },
    ],
    "auxInfo": {
        "contactResult": [{"contactString": "qq12345", "contactType": 2}],
        "filteredText": "加个好友吧 **12345",
    },
    "businessLabels": [],
    "code": 1100,
    "message": "成功",
    "finalResult": 1,
    "resultType": 0,
    "requestId": "bb917ec5fa11fd02d226fb384968feb1",
    "riskDescription": "广告:联系方式:联系方式",
    "riskDetail": {},
    "riskLabel1": "ad",
    "riskLabel2": "lianxifangshi",
    "riskLabel3": "lianxifangshi",
    "riskLevel": "REJECT",
}


def _request_id() -> str:
    return secrets.token_hex(16)


def _positions(text: str, word: str) -> list[int]:
    start = text.find(word)
    return list(range(start, start + len(word)))


def judge(text: str, risk_type: str = "TEXTRISK") -> dict[str, Any]:
    """The emulator's answer (code 1100) for a text under ``type`` = ``risk_type``."""
    if text == OFFICIAL_EXAMPLE:
        copy: dict[str, Any] = json.loads(json.dumps(OFFICIAL_EXAMPLE_ANSWER))
        return copy  # the caller may change it
    asked = frozenset().union(*(_DETECTIONS.get(part, ()) for part in risk_type.split("_")))
    for rule in RULES:
        hits = [t for t in rule.triggers if t in text]
        if hits and (rule.detection is None or rule.detection in asked):
            return _hit(text, rule, hits)
    return {
        "code": 1100,
        "message": MESSAGES[1100],
        "requestId": _request_id(),
        "riskLevel": "PASS",
        "riskLabel1": "normal",
        "riskLabel2": "",
        "riskLabel3": "",
        "riskDescription": "正常",
        "riskDetail": {},
        "tokenLabels": {"UGC_account_risk": {}},
        "auxInfo": {"filteredText": text},
        "allLabels": [],
        "businessLabels": [],
        "finalResult": 1,
        "resultType": 0,
    }


def _hit(text: str, rule: Rule, hits: list[str]) -> dict[str, Any]:
    detail: dict[str, Any]
    if rule.list_name is not None:
        words = [{"word": w, "position": _positions(text, w)} for w in hits]
        detail = {"matchedLists": [{"name": rule.list_name, "words": words}]}
    else:
        detail = {"riskSegments": [{"segment": w, "position": _positions(text, w)} for w in hits]}
    filtered = text
    for word in hits:
        filtered = filtered.replace(word, "*" * len(word))
    labels = {
        "riskLabel1": rule.risk_label1,
        "riskLabel2": rule.risk_label2,
        "riskLabel3": rule.risk_label2,
        "riskDescription": rule.description,
    }
    return {
        "code": 1100,
        "message": MESSAGES[1100],
        "requestId": _request_id(),
        "riskLevel": rule.risk_level,
        **labels,
        "riskDetail": detail,
        "tokenLabels": {"UGC_account_risk": {}},
        "auxInfo": {"filteredText": filtered},
        "allLabels": [
            {
                **labels,
                "probability": rule.probability,
                "riskDetail": detail,
                "riskLevel": rule.risk_level,
            }
        ],
        "businessLabels": [],
        "finalResult": 1,
        "resultType": 0,
    }


def _code(code: int, request_id: str | None = None) -> httpx.Response:
    body = {"code": code, "message": MESSAGES[code], "requestId": request_id or _request_id()}
    return httpx.Response(200, json=body)


class ShumeiEmulator:
    """The emulator; see the module docstring. For tests: ``requests`` (how many
    reached it) and ``inject()``."""

    def __init__(
        self,
        *,
        access_key: str = DEMO_ACCESS_KEY,
        app_id: str = DEMO_APP_ID,
        event_ids: frozenset[str] | None = None,
        rate_limit: float | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
        fault: str | None = None,
        latency: float = 0.0,
        slow_seconds: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._access_key = access_key
        self.app_id = app_id
        self.event_ids = event_ids
        self.max_text_chars = max_text_chars
        self.fault = _as_fault(fault)
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.clock = clock
        self.sleep = sleep
        self.requests = 0
        self._lock = threading.Lock()
        self._window = FixedWindow(rate_limit)
        self._faults = FaultQueue(FAULTS)

    def __repr__(self) -> str:
        return f"<ShumeiEmulator app {self.app_id!r}>"

    def inject(self, fault: str, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``fault``."""
        self._faults.inject(fault, times)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            self.sleep(self.latency)
        if request.url.path.rstrip("/") != PATH:
            return httpx.Response(404, text="404 page not found")
        if request.method != "POST":
            return httpx.Response(405, text="405 method not allowed")
        try:
            body = json.loads(request.read())
        except (ValueError, RecursionError):  # too deep is as unreadable as malformed
            body = None
        text = _text(body)
        marker = _MARKER.search(text) if text is not None else None
        with self._lock:
            self.requests += 1
            admitted = self._window.admit(self.clock())
        fault = self._faults.take(marker.group(1) if marker else None, self.fault)
        if fault is not None:
            forced = self._fault(fault, text or "")
            if forced is not None:
                return forced
        return self._check(body, admitted)

    def _fault(self, fault: str, text: str) -> httpx.Response | None:
        """The answer a fault forces, or None when the request goes on as usual."""
        if fault.isdigit() and int(fault) in MESSAGES:
            return _code(int(fault))
        if fault.isdigit():
            return httpx.Response(int(fault), text="<html>gateway error</html>")
        if fault == "garbage":
            return httpx.Response(200, text="<html>oops</html>")
        if fault == "nested":
            return httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000)
        if fault == "huge":
            answer = judge(text)
            answer["padding"] = "x" * (3 * 1024 * 1024)
            return httpx.Response(200, json=answer)
        if fault == "no_level":
            answer = judge(text)
            del answer["riskLevel"]
            return httpx.Response(200, json=answer)
        if fault == "string_code":
            return httpx.Response(200, json={**judge(text), "code": "1100"})
        if fault == "odd_level":
            return httpx.Response(200, json={**judge(text), "riskLevel": "MAYBE"})
        if fault == "slow":
            self.sleep(self.slow_seconds)
        return None

    def _check(self, body: Any, admitted: bool) -> httpx.Response:
        if not isinstance(body, dict):
            return _code(1902)
        key = body.get("accessKey")
        if not isinstance(key, str) or not secrets.compare_digest(
            key.encode(), self._access_key.encode()
        ):
            return _code(9101)
        app_id = body.get("appId")
        if not isinstance(app_id, str) or not app_id:
            return _code(1902)
        if app_id != self.app_id:
            return _code(9101)
        if not admitted:
            return _code(1901)
        problem = _problem(body, self.event_ids)
        if problem is not None:
            return _code(problem)
        text: str = body["data"]["text"]
        if len(text) > self.max_text_chars:
            return _code(1905)
        return httpx.Response(200, json=judge(text, body["type"]))


def _text(body: Any) -> str | None:
    data = body.get("data") if isinstance(body, dict) else None
    text = data.get("text") if isinstance(data, dict) else None
    return text if isinstance(text, str) else None


def _valid_type(value: object) -> bool:
    return isinstance(value, str) and all(part in _DETECTIONS for part in value.split("_"))


def _valid_token(value: object) -> bool:
    return isinstance(value, str) and _TOKEN_ID.fullmatch(value) is not None


def _problem(body: Mapping[str, Any], event_ids: frozenset[str] | None) -> int | None:
    """1902 for a missing or malformed field (5b.2), else None."""
    event_id = body.get("eventId")
    if not isinstance(event_id, str) or not event_id:
        return 1902
    if event_ids is not None and event_id not in event_ids:
        return 1902  # not provisioned for this app
    if not _valid_type(body.get("type")):
        return 1902
    data = body.get("data")
    if not isinstance(data, dict):
        return 1902
    text = data.get("text")
    if not isinstance(text, str) or not text:
        return 1902
    if not _valid_token(data.get("tokenId")):
        return 1902
    if "lang" in data and data["lang"] not in _LANGUAGES:
        return 1902
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        return 1902
    receiver = extra.get("receiveTokenId")
    if receiver is not None and not _valid_token(receiver):
        return 1902
    if event_id == "message" and receiver is None:
        return 1902  # required for private messages
    return None


def _as_float(name: str, value: object) -> float:
    return float_option(name, value, minimum=0)


def _as_limit(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "off")):
        return None
    return _as_float(name, value) or None  # 0 turns the limit off


def _as_int(name: str, value: object) -> int:
    return int_option(name, value, minimum=1)


def _as_fault(value: object) -> str | None:
    return choice_option("fault", value, FAULTS)


def _as_event_ids(name: str, value: object) -> frozenset[str] | None:
    event_ids = names_option(name, value, unset=("", "any"))
    return None if event_ids is None else frozenset(event_ids)


_OPTION_PARSERS: dict[str, Callable[[str, object], Any]] = {
    "access_key": lambda _n, v: str(v),
    "app_id": lambda _n, v: str(v),
    "event_ids": _as_event_ids,
    "rate_limit": _as_limit,
    "max_text_chars": _as_int,
    "fault": lambda _n, v: _as_fault(v),
    "latency": _as_float,
    "slow_seconds": _as_float,
}


def make_emulator(**options: Any) -> ShumeiEmulator:
    """A Shumei emulator. Every option may be given as a string (from the CLI's
    ``--set key=value``): access_key, app_id, event_ids (comma-separated eventIds
    provisioned for the app; default: any), rate_limit (requests/s, 0 = off, the
    default), max_text_chars, fault (see FAULTS), latency (seconds before every
    answer), slow_seconds. ``clock`` and ``sleep`` (callables) make time deterministic
    in tests."""
    return ShumeiEmulator(**parse_options(options, _OPTION_PARSERS, emulator="Shumei"))
