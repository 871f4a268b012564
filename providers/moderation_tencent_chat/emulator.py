"""An emulator of Tencent Chat's moderation REST API, for tests, cassettes, demos and
benchmarks: ``make_emulator(**options)`` returns a function from ``httpx.Request`` to
``httpx.Response`` (use it with ``httpx.MockTransport``, or serve it over HTTP with
``moderation emulate tencent_chat --port 9000``).

It checks what the service checks (POST, the query, the UserSig, the admin account,
the body and its limits) with the documented error codes, answers from a fixed
content-to-verdict rule set that reproduces the vendor's own examples, and can be told
to misbehave. Options and markers are listed in docs/providers/tencent_chat.md.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs
import httpx

from moderation_core.testing import (
    FixedWindow,
    float_option,
    int_option,
    names_option,
    parse_options,
)

from ._usersig import UserSigError, verify_usersig
from ._webhook import RESULT_NOTIFY, webhook_sign

__all__ = ["DEMO_SDKAPPID", "DEMO_SECRET_KEY", "TencentChatEmulator", "make_emulator"]

# Tencent's public demo inputs (CONTRACTS 1.4): not a secret of anyone's.
DEMO_SDKAPPID = 1400000000
DEMO_SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"  # noqa: S105
DEMO_IDENTIFIER = "admin"

_PATHS = {
    "/v4/im_msg_audit/content_moderation": "single",
    "/v4/im_msg_audit/batch_content_moderation": "batch",
}
_MAX_BYTES = 8192
_MAX_ITEMS = 10
_TYPES = ("Text", "Image", "Audio", "Video")
_BATCH_TYPES = ("Text", "Image")
# Seed 000: the six general moderation configs; anything else must be a custom config ID
# created in the console (the emulator's ``audit_configs``).
_GENERAL_AUDIT_NAMES = frozenset(
    {"C2C", "Group", "UserInfo", "GroupInfo", "GroupMemberInfo", "RelationChain"}
)
_MARKER = re.compile(r"\[\[(fault|item|slow|result|label):([^\]]*)\]\]")
_MAX_SLOW = 30.0

_MESSAGES = {
    60002: "HTTP parse error: only POST is accepted",
    60003: "invalid request parameters",
    60006: "invalid SDKAppID",
    60007: "REST API call frequency over the limit",
    60009: "request resource error: check the URL",
    60010: "the request needs App admin permission",
    60012: "SDKAppID missing from the URL",
    60025: "SDKAppID, identifier, UserSig, random or contenttype in the URL is wrong",
    70001: "UserSig expired",
    70002: "UserSig length is 0",
    70003: "illegal UserSig",
    70013: "identifier in the request does not match the UserSig",
    70014: "SDKAppID in the request does not match the UserSig",
    70020: "SDKAppID not found",
    70052: "UserSig no longer valid",
    93000: "content exceeds the maximum of 8KB",
    93001: "internal error, retry",
    93005: "batch moderation only takes Text and Image",
    93006: "moderation timed out (5s)",
    93007: "duplicate ContentId",
    93008: "at most 10 contents per batch",
}
_USERSIG_CODES = {
    "malformed": 70003,
    "sdkappid": 70014,
    "identifier": 70013,
    "expired": 70001,
    "userbuf": 70003,
    "sig": 70003,
}


@attrs.frozen
class _Rule:
    label: str
    result: str
    score: int
    sublabel: str
    terms: tuple[str, ...]
    keywords: bool = True  # False: a model hit, which the vendor reports without keywords


# Text: case-insensitive substrings, most severe first; the first rule that hits answers.
TEXT_RULES = (
    _Rule("Polity", "Block", 99, "SensitiveEvent", ("违规词汇", "涉政测试", "polity-test")),
    _Rule("Terror", "Block", 96, "Explosive", ("炸弹", "bomb", "terror-test")),
    _Rule("Porn", "Block", 95, "Sexual", ("色情", "porn")),
    _Rule("Illegal", "Block", 93, "Drugs", ("毒品", "赌博", "drugs")),
    _Rule("Abuse", "Block", 90, "Insult", ("傻逼", "脑残", "idiot")),
    _Rule("Composite", "Block", 88, "", ("综合违规", "composite-test")),
    _Rule("Ad", "Review", 80, "Contact", ("加我微信", "代开发票", "wechat", "whatsapp")),
    _Rule("Sexy", "Review", 70, "Suggestive", ("性感", "sexy")),
    _Rule("Illegal", "Review", 65, "Gambling", ("online casino",), keywords=False),
    _Rule("Abuse", "Review", 60, "Mild", ("笨蛋", "stupid")),
)
# Image, audio, video: words of the URL (split on anything not a letter or digit).
MEDIA_RULES = (
    _Rule("Polity", "Block", 95, "Flag", ("polity", "flag")),
    _Rule("Terror", "Block", 92, "Weapon", ("terror", "weapon", "gun")),
    _Rule("Porn", "Block", 97, "SexualBehavior", ("porn", "nsfw")),
    _Rule("Illegal", "Block", 93, "Drugs", ("illegal", "drugs")),
    _Rule("Abuse", "Block", 90, "Gesture", ("abuse",)),
    _Rule("Composite", "Block", 88, "", ("composite",)),
    _Rule("Ad", "Review", 80, "QRCode", ("qrcode", "advert")),
    _Rule("Sexy", "Review", 70, "Bikini", ("sexy", "bikini")),
)
# The vendor's own examples (seeds 000 and 001), answered exactly as printed there.
SEED_ANSWERS: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("Text", "abc"): {
        "RequestId": "91fa78f3-18c8-4b20-9c56-5845df18f634",
        "Result": "Block",
        "Score": 100,
        "Label": "Polity",
        "SubLabel": "",
        "Keywords": ["abc"],
    },
    ("Text", "abc123"): {
        "RequestId": "c442f95e-35b9-47d7-8e01-3f9d644965fd",
        "Result": "Block",
        "Score": 99,
        "Label": "Polity",
        "SubLabel": "ChinesePresident",
        "Keywords": ["违&规&词&汇", "违规词汇"],
    },
    ("Text", "abc1234"): {
        "RequestId": "bf422ad2-cb2e-40cb-9b81-5936305c7b41",
        "Result": "Pass",
        "Score": 0,
        "Label": "Normal",
        "SubLabel": "",
    },
    ("Image", "https://www.simple.com/1.jpg"): {
        "RequestId": "1ad85364-2bc1-454e-86bf-bbf1cc41fdff",
        "Result": "Block",
        "Score": 97,
        "Label": "Porn",
        "SubLabel": "SexualBehavior",
    },
    ("Text", "tttcccc"): {
        "RequestId": "ff7dad79-cb0c-4bea-aa99-1815b4de7591",
        "Result": "Pass",
        "Score": 0,
        "Label": "Normal",
        "SubLabel": "",
    },
}


class _Refusal(Exception):  # control flow inside the emulator
    def __init__(self, code: int, info: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.info = info or _MESSAGES.get(code, "error")


def _fail(code: int, info: str | None = None) -> httpx.Response:
    info = info or _MESSAGES.get(code, "error")
    return _json({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info})


def _json(body: Mapping[str, Any]) -> httpx.Response:
    return httpx.Response(
        200,
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
    )


def _parse_optional_float(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    number = float_option(name, value)
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


def _parse_int(name: str, value: object) -> int:
    return int_option(name, value)


class TencentChatEmulator:
    """The emulator; callable as ``emulator(request) -> response``, thread-safe (it is
    served by a threading HTTP server). Also keeps the audio/video checks it answered
    PENDING, so a test can ask for the webhook Tencent would send: ``result_notify``."""

    def __init__(
        self,
        *,
        sdkappid: int = DEMO_SDKAPPID,
        identifier: str = DEMO_IDENTIFIER,
        secret_key: str = DEMO_SECRET_KEY,
        rate_limit: float | None = None,
        latency: float = 0.0,
        fault: str | None = None,
        fault_every: int = 1,
        fault_times: int | None = None,
        revoked_before: float | None = None,
        webhook_token: str | None = None,
        audit_configs: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if fault is not None:
            _check_fault(fault)
        if fault_every < 1:
            raise ValueError(f"fault_every must be at least 1, got {fault_every}")
        self.sdkappid = sdkappid
        self.identifier = identifier
        self._key = secret_key
        self.rate_limit = rate_limit
        self.latency = latency
        self.fault = fault
        self.fault_every = fault_every
        self.fault_times = fault_times
        self.revoked_before = revoked_before
        self.webhook_token = webhook_token
        self.audit_configs = frozenset(audit_configs)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._seq = 0
        self._faults_sent = 0
        self._windows: dict[str, FixedWindow] = {}  # per endpoint
        self._pending: dict[str, dict[str, Any]] = {}
        self.requests = 0

    def __repr__(self) -> str:
        return f"<TencentChatEmulator sdkappid={self.sdkappid} identifier={self.identifier!r}>"

    # -- the service ------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
            number = self.requests
        if self.latency:
            self._sleep(self.latency)
        try:
            endpoint = self._check_envelope(request)
            self._check_rate(endpoint)
            injected = self._injected_fault(number)
            if injected is not None:
                return injected
            body = self._read_json(request)
            self._check_audit_name(body["AuditName"])
            if endpoint == "single":
                return self._single(body)
            return self._batch(body)
        except _Answered as answered:
            return answered.response
        except _Refusal as refusal:
            return _fail(refusal.code, refusal.info)

    def _check_envelope(self, request: httpx.Request) -> str:
        if request.method != "POST":
            raise _Refusal(60002)
        endpoint = _PATHS.get(request.url.path)
        if endpoint is None:
            raise _Refusal(60009)
        query = request.url.params
        appid = query.get("sdkappid")
        if not appid:
            raise _Refusal(60012)
        if not appid.isdigit():
            raise _Refusal(60006)
        if int(appid) != self.sdkappid:
            raise _Refusal(70020)
        identifier = query.get("identifier")
        random = query.get("random", "")
        if not identifier or query.get("contenttype") != "json":
            raise _Refusal(60025)
        if not random.isdigit() or int(random) >= 1 << 32:
            raise _Refusal(60025, "random must be a 32-bit unsigned integer")
        usersig = query.get("usersig")
        if not usersig:
            raise _Refusal(70002)
        try:
            fields = verify_usersig(
                usersig,
                sdkappid=self.sdkappid,
                identifier=identifier,
                key=self._key,
                now=self._clock(),
            )
        except UserSigError as exc:
            raise _Refusal(_USERSIG_CODES[exc.kind]) from None
        if self.revoked_before is not None and fields["TLS.time"] < self.revoked_before:
            raise _Refusal(70052)
        if identifier != self.identifier:
            raise _Refusal(60010)
        return endpoint

    def _check_rate(self, endpoint: str) -> None:
        now = self._clock()
        with self._lock:
            window = self._windows.get(endpoint)
            if window is None:  # 0 is no limit, as None
                window = self._windows[endpoint] = FixedWindow(self.rate_limit or None)
            admitted = window.admit(now)
        if not admitted:
            raise _Refusal(60007)

    def _injected_fault(self, number: int) -> httpx.Response | None:
        if self.fault is None or number % self.fault_every:
            return None
        with self._lock:
            if self.fault_times is not None and self._faults_sent >= self.fault_times:
                return None
            self._faults_sent += 1
        return _fault_response(self.fault)

    @staticmethod
    def _read_json(request: httpx.Request) -> dict[str, Any]:
        if not request.content:
            raise _Refusal(60003, "the request body is empty")
        try:
            body = json.loads(request.content)
        except ValueError:
            raise _Refusal(60003, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise _Refusal(60003, "the request body is not a JSON object")
        audit_name = body.get("AuditName")
        if not isinstance(audit_name, str) or not audit_name:
            raise _Refusal(60003, "AuditName is required")
        for key in ("ExtSender", "ExtReceiver"):
            if key in body and not isinstance(body[key], str):
                raise _Refusal(60003, f"{key} must be a string")
        return body

    def _check_audit_name(self, audit_name: str) -> None:
        # Case-sensitive, as every Tencent parameter value is (CONTRACTS 2.1).
        if audit_name not in _GENERAL_AUDIT_NAMES and audit_name not in self.audit_configs:
            raise _Refusal(
                60003,
                f"AuditName {audit_name[:64]!r} is neither a general moderation config "
                "(C2C, Group, UserInfo, GroupInfo, GroupMemberInfo, RelationChain) nor a "
                "custom config ID of this app",
            )

    def _single(self, body: dict[str, Any]) -> httpx.Response:
        kind, content = _item(body)
        markers = _markers(content)
        self._apply_markers(markers, item_level=False)
        if kind in ("Audio", "Video"):
            request_id = self._request_id(kind, content)
            answer = self._answer(kind, content, markers)
            with self._lock:
                self._pending[request_id] = {
                    "audit_name": body["AuditName"],
                    "kind": kind,
                    "content": content,
                    "sender": body.get("ExtSender"),
                    "receiver": body.get("ExtReceiver"),
                    "answer": answer,
                }
            return _json(
                {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "RequestId": request_id}
            )
        answer = self._answer(kind, content, markers)
        if not answer.get("SubLabel"):
            answer.pop("SubLabel", None)
        return _json({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", **answer})

    def _batch(self, body: dict[str, Any]) -> httpx.Response:
        contents = body.get("Contents")
        if not isinstance(contents, list) or not contents:
            raise _Refusal(60003, "Contents must be a non-empty array")
        if len(contents) > _MAX_ITEMS:
            raise _Refusal(93008)
        seen: set[int] = set()
        items = []
        for entry in contents:
            if not isinstance(entry, dict):
                raise _Refusal(60003, "each Contents entry must be an object")
            content_id = entry.get("ContentId")
            if not isinstance(content_id, int) or isinstance(content_id, bool):
                raise _Refusal(60003, "ContentId must be an integer")
            if content_id in seen:
                raise _Refusal(93007)
            seen.add(content_id)
            kind, content = _item(entry)
            if kind not in _BATCH_TYPES:
                raise _Refusal(93005)
            items.append((content_id, kind, content, _markers(content)))
        for *_, markers in items:
            self._apply_markers(markers, item_level=True)
        results = []
        for content_id, kind, content, markers in items:
            item_error = markers.get("item")
            if item_error is not None:
                code = _parse_int("item marker", item_error)
                results.append(
                    {
                        "ErrorCode": code,
                        "ErrorInfo": _MESSAGES.get(code, "error"),
                        "ContentId": content_id,
                    }
                )
                continue
            answer = self._answer(kind, content, markers)
            answer.setdefault("SubLabel", "")
            results.append({"ErrorCode": 0, "ErrorInfo": "", "ContentId": content_id, **answer})
        return _json(
            {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "AuditResults": results}
        )

    def _apply_markers(self, markers: Mapping[str, str], *, item_level: bool) -> None:
        """Request-wide markers: slow answers and faults (and ``item`` outside a batch)."""
        slow = markers.get("slow")
        if slow is not None:
            self._sleep(min(_parse_optional_float("slow marker", slow) or 0.0, _MAX_SLOW))
        fault = markers.get("fault")
        if fault is None and not item_level:
            fault = markers.get("item")
        if fault is not None:
            _check_fault(fault)
            response = _fault_response(fault)
            raise _Answered(response)

    def _answer(self, kind: str, content: str, markers: Mapping[str, str]) -> dict[str, Any]:
        seed = SEED_ANSWERS.get((kind, content))
        if seed is not None:
            return dict(seed)
        rule, hits = _match(kind, content)
        answer: dict[str, Any] = {"RequestId": self._request_id(kind, content)}
        if rule is None:
            answer.update(Result="Pass", Score=0, Label="Normal", SubLabel="")
        else:
            answer.update(
                Result=rule.result, Score=rule.score, Label=rule.label, SubLabel=rule.sublabel
            )
            if rule.keywords and hits:
                answer["Keywords"] = hits
        if "result" in markers:
            answer["Result"] = markers["result"]
        if "label" in markers:
            answer["Label"] = markers["label"]
        return answer

    def _request_id(self, kind: str, content: str) -> str:
        with self._lock:
            self._seq += 1
            seq = self._seq
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tencent-chat-emulator/{seq}/{kind}/{content}"))

    # -- the webhook it would send ------------------------------------------------------

    @property
    def pending(self) -> tuple[str, ...]:
        """RequestIds of audio/video checks answered PENDING, oldest first."""
        with self._lock:
            return tuple(self._pending)

    def result_notify(
        self, request_id: str, *, token: str | None = None, request_time: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The query and body of the ``ContentCallback.ResultNotify`` Tencent would send
        for a pending audio/video check; signed when a token is given (or configured)."""
        with self._lock:
            entry = self._pending.get(request_id)
        if entry is None:
            raise ValueError(f"no pending check with RequestId {request_id!r}")
        token = token if token is not None else self.webhook_token
        query = {
            "SdkAppid": str(self.sdkappid),
            "CallbackCommand": RESULT_NOTIFY,
            "contenttype": "json",
            "ClientIP": "127.0.0.1",
            "OptPlatform": "RESTAPI",
        }
        if token is not None:
            sent_at = int(self._clock()) if request_time is None else request_time
            query["Sign"] = webhook_sign(token, sent_at)
            query["RequestTime"] = str(sent_at)
        answer = entry["answer"]
        body = {
            "Scene": entry["audit_name"],
            "SdkAppId": self.sdkappid,
            "From_Account": entry["sender"] or "",
            "ContactItem": {"ContactType": 1, "To_Account": entry["receiver"] or ""},
            "ContentType": entry["kind"],
            "FileURL": entry["content"],
            "CtxcbResult": 1 if answer["Result"] == "Block" else 0,
            "CtxcbRequestId": request_id,
            "CtxcbSuggestion": answer["Result"],
            "CtxcbLabel": answer["Label"],
            "CtxcbKeywords": answer.get("Keywords", []),
            "IsRestAPI": True,
        }
        return query, json.dumps(body, ensure_ascii=False).encode()


class _Answered(_Refusal):
    """A marker asked for a whole response (garbage, 5xx, an error code)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(0)
        self.response = response


def _item(entry: Mapping[str, Any]) -> tuple[str, str]:
    kind = entry.get("ContentType")
    content = entry.get("Content")
    if kind not in _TYPES:
        raise _Refusal(60003, "ContentType must be Text, Image, Audio or Video")
    if not isinstance(content, str) or not content:
        raise _Refusal(60003, "Content is required")
    if len(content.encode()) > _MAX_BYTES:
        raise _Refusal(93000)
    return kind, content


def _markers(content: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _MARKER.finditer(content)} if "[[" in content else {}


def _match(kind: str, content: str) -> tuple[_Rule | None, list[str]]:
    if kind == "Text":
        folded = content.lower()
        for rule in TEXT_RULES:
            hits = [t for t in rule.terms if t in folded]
            if hits:
                # Report the words as they appear in the text, as the vendor does.
                return rule, [_as_written(content, folded, t) for t in hits]
        return None, []
    words = set(re.split(r"[^a-z0-9]+", content.lower()))
    for rule in MEDIA_RULES:
        if words.intersection(rule.terms):
            return rule, []
    return None, []


def _as_written(content: str, folded: str, term: str) -> str:
    start = folded.find(term)
    if len(folded) != len(content):
        return term
    return content[start : start + len(term)]


def _check_fault(fault: str) -> None:
    name = fault.strip().lower()
    if name in ("garbage", "empty", "html") or re.fullmatch(r"http[1-5]\d\d|\d{4,6}", name):
        return
    raise ValueError(
        f"unknown fault {fault!r}: use garbage, empty, html, httpNNN (e.g. http502) or a "
        "Tencent error code (e.g. 93001)"
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
    if name.startswith("http"):
        status = int(name[4:])
        return httpx.Response(status, content=f"HTTP {status} (emulated)".encode())
    return _fail(int(name))


def _optional_text(_name: str, value: Any) -> Any:
    return None if value in (None, "", "none") else value


_OPTION_PARSERS: Final[Mapping[str, Callable[[str, Any], Any]]] = {
    "sdkappid": _parse_int,
    "identifier": lambda _name, value: value,
    "secret_key": lambda _name, value: DEMO_SECRET_KEY if value in (None, "", "none") else value,
    "rate_limit": _parse_optional_float,
    "latency": lambda name, value: _parse_optional_float(name, value) or 0.0,
    "fault": _optional_text,
    "fault_every": _parse_int,
    "fault_times": lambda name, value: (
        None if value in (None, "", "none") else _parse_int(name, value)
    ),
    "revoked_before": _parse_optional_float,
    "webhook_token": _optional_text,
    "audit_configs": lambda name, value: names_option(name, value, unset=()),  # "": no names
}


def make_emulator(**options: Any) -> TencentChatEmulator:
    """Build the emulator; options may be strings (from ``--set key=value``):

    ``sdkappid`` (default 1400000000), ``identifier`` (default "admin"), ``secret_key``
    (default Tencent's public demo key), ``rate_limit`` (requests/s per endpoint, default
    off; over it answers 60007), ``latency`` (seconds before each answer), ``fault``
    (``garbage``, ``empty``, ``html``, ``httpNNN`` or an error code), ``fault_every`` (every
    Nth request, default 1), ``fault_times`` (at most this many), ``revoked_before`` (Unix
    time: older sigs get 70052), ``webhook_token`` (signs ``result_notify``) and
    ``audit_configs`` (custom config IDs accepted as AuditName besides the six general
    ones; a comma-separated string or a list; any other AuditName gets 60003).
    """
    return TencentChatEmulator(**parse_options(options, _OPTION_PARSERS, emulator="Tencent Chat"))
