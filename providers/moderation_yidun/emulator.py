"""An emulator of NetEase Yidun's text check v5, for tests, cassettes, demos and
benchmarks: ``make_emulator(**options)`` returns a function from ``httpx.Request`` to
``httpx.Response`` (use it with ``httpx.MockTransport``, or serve it over HTTP with
``moderation emulate yidun --port 9000``).

It checks what the service checks (POST, the form, the required parameters, the
secretId and businessId, the signature in MD5, SHA1, SHA256 or SM3, the millisecond
timestamp's window, the nonce and its reuse, the limits) with the documented error
codes, answers from a fixed content-to-verdict rule set with a rule for every label
code of the crosswalk, accepts the official Python demo's requests as the demo sends
them, and can be told to misbehave. Options and markers: docs/providers/yidun.md.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

import attrs
import httpx

from moderation_core.testing import (
    FixedWindow,
    float_option,
    int_option,
    names_option,
    parse_options,
)

from ._signature import signature_matches

__all__ = [
    "DEMO_BUSINESS_ID",
    "DEMO_SECRET_ID",
    "DEMO_SECRET_KEY",
    "OFFICIAL_BATCH",
    "OFFICIAL_SINGLE",
    "TEXT_RULES",
    "YidunEmulator",
    "make_emulator",
]

# The official SignerImplTest's inputs (CONTRACTS-MORE-VENDORS 5a.3): nobody's secret.
DEMO_SECRET_ID = "a-secret-id-1"  # noqa: S105 - the official test vector
DEMO_SECRET_KEY = "a-secret-key-1"  # noqa: S105 - the official test vector
DEMO_BUSINESS_ID = "your_business_id"  # the Python demo's placeholder

_PATHS = {"/v5/text/check": "single", "/v5/text/batch-check": "batch"}
_REQUIRED = ("secretId", "businessId", "version", "timestamp", "nonce", "signature")
_VERSION = re.compile(r"v5(\.\d{1,3})?")
_MAX_CONTENT = 10_000  # runes
_MAX_TEXTS = 100
_MAX_FIELDS = 64  # form fields in one request; the API defines about fifty
_MAX_NONCE = 32
_LIMITS = {"dataId": 128, "account": 128, "receiveUid": 64, "checkLabels": 512}
_NONCE_MEMORY = 100_000  # nonces remembered at most, oldest forgotten first
_MARKER = re.compile(r"\[\[(fault|item|slow|suggestion|label):([^\]]*)\]\]")
_MAX_SLOW = 30.0

Table = Literal["auth", "text"]

# One refusal, by cause, in each of the SDK's two code tables (errors.go); which the
# live text endpoint uses is not documented (CONTRACTS 5a.5), so it is an option.
_CODES: Mapping[str, Mapping[Table, int]] = {
    "param": {"auth": 405, "text": 5502},
    "secret_id": {"auth": 401, "text": 401},
    "business": {"auth": 401, "text": 5506},
    "signature": {"auth": 410, "text": 5508},
    "expired": {"auth": 420, "text": 5501},
    "nonce": {"auth": 430, "text": 5505},
    "not_found": {"auth": 404, "text": 404},
}
_MESSAGES = {
    400: "bad request",
    401: "secretId or businessId error",
    402: "business offline",
    404: "service not found",
    405: "param error",
    410: "signature failed",
    411: "rate or quantity exceeded",
    420: "request expired",
    430: "replay attack",
    500: "server error",
    503: "service unavailable",
    504: "quota exceeded",
    505: "service not enabled or expired",
    508: "trial quota insufficient",
    5501: "request expired",
    5502: "invalid param",
    5504: "decrypt failure",
    5505: "invalid nonce",
    5506: "invalid business",
    5508: "invalid signature",
    5509: "invalid product",
    5511: "duplicate",
    5512: "invalid token",
}


@attrs.frozen
class _Rule:
    label: int
    suggestion: int  # 1 suspect (review), 2 block
    rate: float
    terms: tuple[str, ...]
    keywords: bool = True  # False: a model hit, which carries no keywords


# Case-insensitive substrings, most severe first; the first rule that hits answers.
# Every label code of the crosswalk has one (test terms for the media-only codes).
TEXT_RULES = (
    _Rule(500, 2, 0.99, ("涉政测试", "polity-test")),
    _Rule(300, 2, 0.96, ("炸弹", "bomb", "terror-test")),
    _Rule(100, 2, 0.95, ("色情", "porn")),
    _Rule(400, 2, 0.93, ("毒品", "赌博", "drugs")),
    _Rule(600, 2, 0.90, ("傻逼", "脑残", "idiot")),
    _Rule(1100, 2, 0.88, ("拜金主义", "values-test")),
    _Rule(800, 2, 0.87, ("恶心视频", "gross-test")),
    _Rule(210, 1, 0.85, ("二维码", "qrcode")),
    _Rule(200, 1, 0.80, ("加我微信", "代开发票", "wechat", "buy now")),
    _Rule(260, 1, 0.78, ("全网最低价", "国家级产品", "best-in-the-world")),
    _Rule(110, 1, 0.70, ("性感", "sexy")),
    _Rule(700, 1, 0.66, ("灌水灌水", "flood-test")),
    _Rule(400, 1, 0.65, ("online casino",), keywords=False),
    _Rule(900, 1, 0.62, ("其他违规", "other-test")),
    _Rule(1020, 1, 0.61, ("black-screen-test",)),
    _Rule(1030, 1, 0.61, ("idle-test",)),
    _Rule(1040, 1, 0.61, ("label-1040-test",)),
    _Rule(1050, 1, 0.61, ("noise-test",)),
    _Rule(600, 1, 0.60, ("笨蛋", "stupid")),
)

# The official Python demo's requests (yidun/antispam-python-demo text/text_check.py and
# text_batch_check.py). They hit no rule, so they pass; taskIds are derived from dataId
# and content, so the demo's whole exchange holds still (tests pin them).
OFFICIAL_SINGLE: Mapping[str, str] = {
    "dataId": "ebfcad1c-dba1-490c-b4de-e784c2691768",
    "content": "易盾测试内容！",
}
OFFICIAL_BATCH: tuple[Mapping[str, str], ...] = (
    {"dataId": "ebfcad1c-dba1-490c-b4de-e784c2691761", "content": "易盾批量检测接口！v5接口!"},
    {"dataId": "ebfcad1c-dba1-490c-b4de-e784c2691768", "content": "易盾批量检测接口！v5接口!"},
)


class _Refusal(Exception):  # control flow inside the emulator
    def __init__(self, code: int, msg: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.msg = msg or _MESSAGES.get(code, "error")


class _Answered(Exception):
    """A marker or option asked for a whole response (garbage, a status, a code)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _json(body: Mapping[str, Any] | list[Any]) -> httpx.Response:
    return httpx.Response(
        200,
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json;charset=UTF-8"},
    )


def _fail(code: int, msg: str | None = None) -> httpx.Response:
    return _json({"code": code, "msg": msg or _MESSAGES.get(code, "error")})


class YidunEmulator:
    """The emulator; callable as ``emulator(request) -> response``, thread-safe (it is
    served by a threading HTTP server)."""

    def __init__(
        self,
        *,
        secret_id: str = DEMO_SECRET_ID,
        secret_key: str = DEMO_SECRET_KEY,
        business_ids: Iterable[str] = (DEMO_BUSINESS_ID,),
        codes: Table = "auth",
        window: float = 300.0,
        rate_limit: float | None = None,
        quota: int | None = None,
        latency: float = 0.0,
        fault: str | None = None,
        fault_every: int = 1,
        fault_times: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if codes not in ("auth", "text"):
            raise ValueError(f"codes must be auth or text, got {codes!r}")
        if fault is not None:
            _check_fault(fault)
        if fault_every < 1:
            raise ValueError(f"fault_every must be at least 1, got {fault_every}")
        self.secret_id = secret_id
        self._key = secret_key
        self.business_ids = frozenset(business_ids)
        self.codes: Table = codes
        self.window = window
        self.rate_limit = rate_limit
        self.quota = quota
        self.latency = latency
        self.fault = fault
        self.fault_every = fault_every
        self.fault_times = fault_times
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._nonces: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._per_second = FixedWindow(rate_limit or None)  # 0: no limit, as None
        self._faults_sent = 0
        self.requests = 0
        self.texts_checked = 0

    def __repr__(self) -> str:
        return f"<YidunEmulator secret_id={self.secret_id!r} codes={self.codes}>"

    def code(self, cause: str) -> int:
        """The code this emulator answers for a cause (``signature``, ``expired``...)."""
        return _CODES[cause][self.codes]

    # -- the service ------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
            number = self.requests
        if self.latency:
            self._sleep(self.latency)
        try:
            endpoint = _PATHS.get(request.url.path)
            if endpoint is None:
                raise _Refusal(self.code("not_found"))
            if request.method != "POST":
                raise _Refusal(400, "only POST is accepted")
            params = self._read_form(request)
            self._authenticate(params)
            self._check_rate()
            injected = self._injected_fault(number)
            if injected is not None:
                return injected
            if endpoint == "single":
                return self._single(params)
            return self._batch(params)
        except _Answered as answered:
            return answered.response
        except _Refusal as refusal:
            return _fail(refusal.code, refusal.msg)

    def _param_error(self, msg: str) -> _Refusal:
        return _Refusal(self.code("param"), msg)

    def _read_form(self, request: httpx.Request) -> dict[str, str]:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise self._param_error("the body must be application/x-www-form-urlencoded")
        try:
            pairs = parse_qsl(
                request.content.decode("utf-8"),
                keep_blank_values=True,
                max_num_fields=_MAX_FIELDS,
                errors="strict",
            )
        except (UnicodeDecodeError, ValueError):
            raise self._param_error("the form is not UTF-8 or has too many fields") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            raise self._param_error("a parameter is given twice")
        missing = [name for name in _REQUIRED if not params.get(name)]
        if missing:
            raise self._param_error(f"missing {', '.join(missing)}")
        if not _VERSION.fullmatch(params["version"]):
            raise self._param_error("version must be a v5 version")
        for name, limit in _LIMITS.items():
            if len(params.get(name, "")) > limit:
                raise self._param_error(f"{name} is longer than {limit}")
        return params

    def _authenticate(self, params: Mapping[str, str]) -> None:
        if params["secretId"] != self.secret_id:
            raise _Refusal(self.code("secret_id"))
        if params["businessId"] not in self.business_ids:
            raise _Refusal(self.code("business"))
        method = params.get("signatureMethod")
        if method is not None and method.upper() not in ("MD5", "SHA1", "SHA256", "SM3"):
            raise self._param_error("signatureMethod must be MD5, SHA1, SHA256 or SM3")
        if not signature_matches(params, self._key):
            raise _Refusal(self.code("signature"))
        timestamp = params["timestamp"]
        now = self._clock()
        if not timestamp.isdigit() or len(timestamp) > 16:
            raise self._param_error("timestamp must be milliseconds since the epoch")
        if abs(now - int(timestamp) / 1000) > self.window:
            raise _Refusal(self.code("expired"))
        nonce = params["nonce"]
        if len(nonce) > _MAX_NONCE:
            raise _Refusal(self.code("nonce"), f"nonce must be at most {_MAX_NONCE} characters")
        self._remember_nonce(f"{params['secretId']}/{nonce}", now)

    def _remember_nonce(self, key: str, now: float) -> None:
        with self._lock:
            nonces = self._nonces
            horizon = now - 2 * self.window  # a timestamp this old is refused anyway
            while nonces and (
                len(nonces) >= _NONCE_MEMORY or next(iter(nonces.values())) < horizon
            ):
                nonces.popitem(last=False)
            if key in nonces:
                raise _Refusal(self.code("nonce"), "this nonce was already used")
            nonces[key] = now

    def _check_rate(self) -> None:
        now = self._clock()
        with self._lock:
            admitted = self._per_second.admit(now)
        if not admitted:
            raise _Refusal(411)

    def _injected_fault(self, number: int) -> httpx.Response | None:
        if self.fault is None or number % self.fault_every:
            return None
        with self._lock:
            if self.fault_times is not None and self._faults_sent >= self.fault_times:
                return None
            self._faults_sent += 1
        return _fault_response(self.fault)

    def _spend_quota(self, texts: int) -> None:
        with self._lock:
            if self.quota is not None and self.texts_checked + texts > self.quota:
                raise _Refusal(504)
            self.texts_checked += texts

    def _single(self, params: Mapping[str, str]) -> httpx.Response:
        item = self._item(params)
        labels = _check_labels(params.get("checkLabels"), self._param_error)
        markers = _markers(item["content"])
        self._apply_markers(markers)
        self._spend_quota(1)
        if "item" in markers:  # a failing item, asked for alone: an answer without a result
            return _json({"code": 200, "msg": "ok", "result": {}})
        return _json({"code": 200, "msg": "ok", "result": _result(item, markers, labels)})

    def _batch(self, params: Mapping[str, str]) -> httpx.Response:
        try:
            texts = json.loads(params.get("texts") or "null")
        except (ValueError, RecursionError):
            raise self._param_error("texts must be a JSON array") from None
        if not isinstance(texts, list) or not texts:
            raise self._param_error("texts must be a non-empty JSON array")
        if len(texts) > _MAX_TEXTS:
            raise self._param_error(f"at most {_MAX_TEXTS} texts per batch")
        items = [self._item(entry) for entry in texts]
        if len({item["dataId"] for item in items}) != len(items):
            raise self._param_error("dataId repeats within texts")
        labels = _check_labels(params.get("checkLabels"), self._param_error)
        marked = [(item, _markers(item["content"])) for item in items]
        for _item, markers in marked:
            self._apply_markers(markers)
        self._spend_quota(len(items))
        results: list[Any] = []
        for item, markers in marked:
            how = markers.get("item")
            if how == "missing":
                continue
            if how == "garbage":
                results.append({"antispam": "not an object"})
                continue
            results.append(_result(item, markers, labels))
            if how == "duplicate":
                results.append(_result(item, markers, labels))
        results.reverse()  # the order is not promised: the provider must match by dataId
        return _json({"code": 200, "msg": "ok", "result": results})

    def _apply_markers(self, markers: Mapping[str, str]) -> None:
        """Request-wide markers: a slow answer, a fault."""
        slow = markers.get("slow")
        if slow is not None:
            self._sleep(min(_parse_float("slow marker", slow), _MAX_SLOW))
        fault = markers.get("fault")
        if fault is not None:
            _check_fault(fault)
            raise _Answered(_fault_response(fault))

    def _item(self, entry: object) -> dict[str, str]:
        """One text's business parameters, checked."""
        if not isinstance(entry, Mapping):
            raise self._param_error("each text must be an object")
        item: dict[str, str] = {}
        for name in ("dataId", "content", "account", "receiveUid"):
            value = entry.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise self._param_error(f"{name} must be a string")
            limit = _MAX_CONTENT if name == "content" else _LIMITS[name]
            if len(value) > limit:
                raise self._param_error(f"{name} is longer than {limit}")
            item[name] = value
        if not item.get("dataId") or not item.get("content"):
            raise self._param_error("dataId and content are required")
        return item


def _check_labels(value: str | None, error: Callable[[str], _Refusal]) -> frozenset[int] | None:
    """The label codes to check (``checkLabels``, "200, 500" as the demo writes it), or
    None for all."""
    if not value:
        return None
    parts = [part.strip() for part in value.split(",")]
    if not all(part.isdigit() and len(part) <= 6 for part in parts):
        raise error("checkLabels must be comma-separated label codes")
    return frozenset(int(part) for part in parts)


def _markers(content: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _MARKER.finditer(content)} if "[[" in content else {}


def _match(content: str, labels: frozenset[int] | None) -> tuple[_Rule | None, list[str]]:
    folded = content.lower()
    for rule in TEXT_RULES:
        if labels is not None and rule.label not in labels:
            continue
        hits = [term for term in rule.terms if term in folded]
        if hits:
            # The words as they appear in the text, as the vendor reports them.
            return rule, [_as_written(content, folded, term) for term in hits]
    return None, []


def _as_written(content: str, folded: str, term: str) -> str:
    if len(folded) != len(content):
        return term
    start = folded.find(term)
    return content[start : start + len(term)]


def _task_id(item: Mapping[str, str]) -> str:
    # Deterministic, so recordings and the official examples hold still.
    return uuid.uuid5(uuid.NAMESPACE_URL, f"yidun-emulator/{item['dataId']}/{item['content']}").hex


def _result(
    item: Mapping[str, str], markers: Mapping[str, str], labels: frozenset[int] | None
) -> dict[str, Any]:
    """One text's ``result`` object, with every field the official demo reads."""
    rule, hits = _match(item["content"], labels)
    suggestion = rule.suggestion if rule is not None else 0
    label = rule.label if rule is not None else 0
    if "label" in markers:
        label = int(_parse_float("label marker", markers["label"]))
    if "suggestion" in markers:
        suggestion = int(_parse_float("suggestion marker", markers["suggestion"]))
    antispam: dict[str, Any] = {
        "taskId": _task_id(item),
        "dataId": item["dataId"],
        "suggestion": suggestion,
        "suggestionLevel": suggestion,
        "resultType": 1,  # machine
        "censorType": 0,
        "isRelatedHit": False,
        "label": label,
        "strategyVersions": [],
        "labels": [],
    }
    if label:
        sub_label = f"{label}{1:03d}"
        details: dict[str, Any] = {}
        if rule is not None and rule.keywords and hits:
            details["keywords"] = [{"word": word} for word in hits]
        rate = rule.rate if rule is not None else 0.5
        antispam["secondLabel"] = sub_label
        antispam["strategyVersions"] = [{"label": label, "version": "emulator-1"}]
        antispam["labels"] = [
            {
                "label": label,
                "level": min(max(suggestion, 1), 2),
                "rate": rate,
                "subLabels": [{"subLabel": sub_label, "rate": rate, "details": details}],
            }
        ]
    return {"antispam": antispam}


def _check_fault(fault: str) -> None:
    name = fault.strip().lower()
    if name in ("garbage", "empty", "html", "nested") or re.fullmatch(
        r"http[1-5]\d\d|\d{3,4}", name
    ):
        return
    raise ValueError(
        f"unknown fault {fault!r}: use garbage, empty, html, nested, httpNNN (e.g. http502) "
        "or a Yidun code (e.g. 411)"
    )


def _fault_response(fault: str) -> httpx.Response:
    name = fault.strip().lower()
    if name == "garbage":
        return httpx.Response(
            200, content=b"\x00\x17not json{", headers={"Content-Type": "application/json"}
        )
    if name == "empty":
        return httpx.Response(200, content=b"")
    if name == "html":
        return httpx.Response(
            200, content=b"<html><body>gateway</body></html>", headers={"Content-Type": "text/html"}
        )
    if name == "nested":
        return httpx.Response(200, content=b'{"code":200,"result":' + b"[" * 100_000)
    if name.startswith("http"):
        status = int(name[4:])
        return httpx.Response(status, content=f"HTTP {status} (emulated)".encode())
    return _fail(int(name))


def _parse_float(name: str, value: object) -> float:
    number = float_option(name, value)
    if not 0 <= number < 1e9:
        raise ValueError(f"{name} must be a number from 0, got {value!r}")
    return number


def _optional_float(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    return _parse_float(name, value)


def _int(name: str, value: object) -> int:
    return int_option(name, value)


def _text(_name: str, value: object) -> str:
    return str(value)


def _optional_int(name: str, value: object) -> int | None:
    return None if value in (None, "", "none") else _int(name, value)


_OPTION_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "secret_id": _text,
    "secret_key": _text,
    "business_ids": lambda name, value: names_option(name, value, unset=()),  # "": no names
    "codes": _text,
    "window": _parse_float,
    "rate_limit": _optional_float,
    "quota": _optional_int,
    "latency": lambda name, value: _optional_float(name, value) or 0.0,
    "fault": lambda _, value: None if value in (None, "", "none") else str(value),
    "fault_every": _int,
    "fault_times": _optional_int,
}


def make_emulator(**options: Any) -> YidunEmulator:
    """Build the emulator; options may be strings (from ``--set key=value``):

    ``secret_id``, ``secret_key`` (default: the official SignerImplTest's),
    ``business_ids`` (accepted businessIds, a comma-separated string or a list; default
    ``your_business_id``), ``codes`` (``auth``: 401/410/420/430/405, the default; or
    ``text``: 5506/5508/5501/5505/5502), ``window`` (seconds a timestamp may be off,
    default 300), ``rate_limit`` (requests/s, over it answers 411), ``quota`` (texts in
    all, over it 504), ``latency`` (seconds before each answer), ``fault`` (``garbage``,
    ``empty``, ``html``, ``nested``, ``httpNNN`` or a Yidun code), ``fault_every`` (every
    Nth request, default 1) and ``fault_times`` (at most this many).
    """
    return YidunEmulator(**parse_options(options, _OPTION_PARSERS, emulator="Yidun"))
