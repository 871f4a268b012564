"""An emulator of Tencent Cloud TMS ``TextModeration`` and IMS ``ImageModeration``
(API 2020-12-29), for tests, cassettes, demos and benchmarks: ``make_emulator(**options)``
returns a function from ``httpx.Request`` to ``httpx.Response`` (use it with
``httpx.MockTransport``, or serve it with ``moderation emulate tencent_tms --port 9000``).
One emulator answers both actions, told apart by ``X-TC-Action``.

It checks what the API gateway checks (POST to ``/``, the ``X-TC-*`` headers, the
TC3-HMAC-SHA256 signature over the SignedHeaders the client declares, a 5-minute
timestamp window, ``Content-Type: application/json`` exactly, the body and its limits)
and answers errors as Tencent does, with HTTP 200 and ``Response.Error``; answers come
from a fixed content-to-label rule set and reproduce the official examples; faults can
be injected. Every answer carries exactly ``Content-Type: application/json``: the
official SDK reads errors only then. Options and markers: docs/providers/tencent_tms.md.
"""

from __future__ import annotations

import base64
import binascii
import hmac
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

from ._tc3 import canonical_request, parse_authorization, signature, string_to_sign, utc_date

__all__ = [
    "DEMO_SECRET_ID",
    "DEMO_SECRET_KEY",
    "IMAGE_RULES",
    "SEED_IMAGE_ANSWERS",
    "SEED_TEXT_ANSWERS",
    "TEXT_RULES",
    "TencentTmsEmulator",
    "make_emulator",
]

# The signing page's example credentials (vector T1): nobody's account.
DEMO_SECRET_ID: Final = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"  # noqa: S105
DEMO_SECRET_KEY: Final = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"  # noqa: S105

VERSION: Final = "2020-12-29"
_SERVICES: Final = {"TextModeration": "tms", "ImageModeration": "ims"}
_JSON: Final = "application/json"
_SKEW: Final = 300.0
_MAX_BODY: Final = 10 * 1024 * 1024  # TC3 POST limit
_MAX_TEXT_CHARS: Final = 10_000
_MAX_FILE_CONTENT: Final = 10 * 1024 * 1024  # base64 characters
_MIN_IMAGE_BYTES: Final = 16
_MAX_SLOW: Final = 30.0
_REGION: Final = re.compile(r"[a-z]+(-[a-z0-9]+)+")
_BIZ_TYPE: Final = re.compile(r"[A-Za-z0-9_]{3,32}")
_DATA_ID: Final = re.compile(r"[A-Za-z0-9_\-@#]{1,64}")
_ERROR_CODE: Final = re.compile(r"[A-Z][A-Za-z]+(\.[A-Za-z0-9]+)*")
_MARKER: Final = re.compile(r"\[\[(fault|slow|suggestion|label):([^\]]*)\]\]")
_TEXT_KEYS: Final = frozenset(
    {
        "Content",
        "BizType",
        "DataId",
        "User",
        "Device",
        "SourceLanguage",
        "Type",
        "SessionId",
        "BizTag",
    }
)
_IMAGE_KEYS: Final = frozenset(
    {
        "BizType",
        "DataId",
        "FileContent",
        "FileUrl",
        "Interval",
        "MaxFrames",
        "User",
        "Device",
        "Type",
        "BizTag",
    }
)
_USER_STRINGS: Final = ("UserId", "Nickname", "Phone", "HeadUrl", "Desc", "RoomId", "ReceiverId")

_MESSAGES: Final = {
    "AuthFailure.InvalidAuthorization": "The Authorization header is malformed.",
    "AuthFailure.SecretIdNotFound": "The SecretId is not found.",
    "AuthFailure.SignatureExpire": (
        "The signature expired: the timestamp and the server time differ by more than 5 minutes."
    ),
    "AuthFailure.SignatureFailure": "The provided credentials could not be validated.",
    "AuthFailure.TokenFailure": "The token is invalid.",
    "InternalError": "Internal error.",
    "InternalError.ErrTextTimeOut": "The request timed out.",
    "InternalError.QueryReqLimited": "Query request limited.",
    "InvalidAction": "The action does not exist.",
    "MissingParameter": "A required parameter is missing.",
    "NoSuchVersion": "The API version does not exist.",
    "RequestLimitExceeded": "Request frequency over the limit.",
    "RequestSizeLimitExceeded": "The request body is over the size limit.",
    "ResourceUnavailable.ImageDownloadError": "The image could not be downloaded.",
    "ServiceUnavailable": "The service is unavailable; try again later.",
    "UnauthorizedOperation.Unauthorized": (
        "Not activated, no valid resource package, or the account is in arrears."
    ),
    "UnsupportedRegion": "The API does not support this region.",
}


@attrs.frozen
class _Rule:
    label: str
    suggestion: str
    score: int
    sublabel: str
    terms: tuple[str, ...]
    lib_type: int = 0  # 2: a custom keyword library hit


# Text: case-insensitive substrings of the decoded text, first rule that hits answers.
TEXT_RULES: Final = (
    _Rule("Polity", "Block", 99, "SensitiveEvent", ("涉政测试", "polity-test")),
    _Rule("Terror", "Block", 96, "Explosive", ("炸弹", "bomb")),
    _Rule("Porn", "Block", 95, "SexualBehavior", ("色情", "porn")),
    _Rule("Illegal", "Block", 93, "Drugs", ("毒品", "赌博", "drugs")),
    _Rule("Abuse", "Block", 90, "Insult", ("傻逼", "脑残", "idiot")),
    _Rule("Custom", "Block", 100, "", ("自定义词", "custom-test"), lib_type=2),
    _Rule("Teenager", "Review", 85, "Smoking", ("未成年吸烟", "teenager-test")),
    _Rule("Spam", "Review", 75, "Flood", ("spam-test",)),  # a label outside the crosswalk
    _Rule("Ad", "Review", 80, "Contact", ("加我微信", "代开发票", "wechat", "whatsapp")),
    _Rule("Sexy", "Review", 70, "Suggestive", ("性感", "sexy")),
    _Rule("Abuse", "Review", 60, "Mild", ("笨蛋", "stupid")),
)
# Images: words of the FileUrl (split on anything not a letter or digit).
IMAGE_RULES: Final = (
    _Rule("Polity", "Block", 95, "Flag", ("polity", "flag")),
    _Rule("Terror", "Block", 92, "Weapon", ("terror", "weapon", "gun")),
    _Rule("Porn", "Block", 97, "SexBehavior", ("porn", "nsfw")),
    _Rule("Illegal", "Block", 93, "Drugs", ("illegal", "drugs")),
    _Rule("Abuse", "Block", 90, "Gesture", ("abuse",)),
    _Rule("Custom", "Block", 100, "", ("custom",)),
    _Rule("Teenager", "Review", 85, "Minor", ("teenager",)),
    _Rule("Spam", "Review", 75, "Flood", ("spam",)),
    _Rule("Ad", "Review", 80, "QRCode", ("qrcode", "advert")),
    _Rule("Sexy", "Review", 70, "Bikini", ("sexy", "bikini")),
)

# The official examples (tencentcloud-cli tccli/examples/.../TextModeration.md and
# ImageModeration.md), answered exactly as printed, keyed by the decoded text / FileUrl.
SEED_TEXT_ANSWERS: Final[Mapping[str, Mapping[str, Any]]] = {
    "绘声绘色": {
        "Response": {
            "DataId": "123",
            "Extra": "xx",
            "BizType": "0",
            "RiskDetails": [{"Level": 2, "Label": "RiskAccount"}],
            "DetailResults": [
                {
                    "LibName": "Porn",
                    "Score": 72,
                    "Label": "Porn",
                    "SubLabel": "SexualBehavior",
                    "LibId": "12",
                    "Suggestion": "Review",
                    "Keywords": ["色情"],
                    "LibType": 0,
                },
                {
                    "LibName": "Porn",
                    "Score": 0,
                    "Label": "",
                    "LibId": "1",
                    "Suggestion": "Block",
                    "Keywords": ["色情"],
                    "LibType": 2,
                },
            ],
            "Label": "Ad",
            "SubLabel": "Contact",
            "Score": 87,
            "RequestId": "x2123-123123-123",
            "Suggestion": "Block",
            "Keywords": ["加我好友，给你发优惠券"],
            "ContextText": "加我好友 给你优惠券",
        }
    },
    "们\n": {
        "Response": {
            "RequestId": "7f54771f-9b67-4b55-9ac9-77b1a0f4dc37",
            "BizType": "bigotest",
            "Label": "Normal",
            "SubLabel": "",
            "Suggestion": "Pass",
            "Keywords": [],
            "Score": 0,
            "DataId": "",
            "DetailResults": [
                {
                    "Label": label,
                    "SubLabel": "",
                    "Suggestion": "Pass",
                    "Keywords": None,
                    "Score": 0,
                    "LibType": 0,
                    "LibId": "",
                    "LibName": "",
                    "Tags": None,
                }
                for label in ("Porn", "Abuse", "Ad")
            ],
            "RiskDetails": None,
            "Extra": "",
            "ContextText": "",
        },
        "retcode": 0,
        "retmsg": "",
    },
}
SEED_IMAGE_ANSWERS: Final[Mapping[str, Mapping[str, Any]]] = {
    "https://xxx.jpg": {
        "Response": {
            "RequestId": "a61237dd-c2a0-43e7-a3da-d27022d39ba7",
            "DataId": "a61237dd-c2a0-43e7-a3da-d27022d39ba7",
            "BizType": "test_1001",
            "Suggestion": "Block",
            "FileMD5": "",
            "Label": "Porn",
            "SubLabel": "SexBehavior",
            "Score": 90,
            "LabelResults": [
                {
                    "Scene": "Porn",
                    "Suggestion": "Block",
                    "Label": "Porn",
                    "SubLabel": "SexBehavior",
                    "Score": 90,
                    "Details": [],
                }
            ],
            "ObjectResults": [
                {
                    "Scene": "QrCode",
                    "Suggestion": "Block",
                    "Label": "Ad",
                    "SubLabel": "",
                    "Score": 100,
                    "Names": ["QRCODE"],
                    "Details": [
                        {
                            "Id": 0,
                            "Name": "QRCODE",
                            "Value": "https://test.com/test",
                            "ObjectId": "",
                            "SubLabel": "QRCODE",
                            "Score": 100,
                            "Location": {
                                "X": 155.01746,
                                "Y": 396.01746,
                                "Width": 769.9824,
                                "Height": 769.98254,
                                "Rotate": 0,
                            },
                        }
                    ],
                }
            ],
            "OcrResults": [],
            "LibResults": [],
            "RecognitionResults": [],
            "Extra": "",
        }
    },
}

_NAMED_FAULTS: Final = frozenset(
    {"garbage", "empty", "html", "null", "nested", "huge", "missing", "wrongtype", "noresponse"}
)


class _Refusal(Exception):  # control flow inside the emulator: answer this error
    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or _MESSAGES.get(code, "The request was refused.")


class _Answered(Exception):  # a marker or an injected fault asked for a whole response
    def __init__(self, response: httpx.Response) -> None:
        super().__init__("answered")
        self.response = response


def _json(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": _JSON},
    )


def _error(code: str, message: str, request_id: str) -> httpx.Response:
    return _json(
        {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}
    )


def check_fault(fault: str) -> None:
    """ValueError unless ``fault`` is one the emulator can inject."""
    name = fault.strip()
    if name.lower() in _NAMED_FAULTS or re.fullmatch(r"http[1-5]\d\d", name.lower()):
        return
    if _ERROR_CODE.fullmatch(name):
        return
    raise ValueError(
        f"unknown fault {fault[:40]!r}: use garbage, empty, html, null, nested, huge, missing, "
        "wrongtype, noresponse, httpNNN (e.g. http502, http429) or a Tencent error code "
        "(e.g. InternalError, AuthFailure.SignatureExpire)"
    )


def fault_response(fault: str, request_id: str) -> httpx.Response:
    name = fault.strip()
    lowered = name.lower()
    raw: dict[str, bytes] = {
        "garbage": b"\x00\x17not json{",
        "empty": b"",
        "html": b"<html><body>gateway</body></html>",
        "null": b"null",
        "nested": b"[" * 100_000 + b"]" * 100_000,
        "huge": b'{"Response": {"Suggestion": "Pass", "Pad": "' + b"x" * (2 << 20) + b'"}}',
        "missing": json.dumps({"Response": {"Label": "Normal", "RequestId": request_id}}).encode(),
        "wrongtype": json.dumps(
            {"Response": {"Suggestion": "Pass", "Score": "0", "RequestId": request_id}}
        ).encode(),
        "noresponse": b'{"Suggestion": "Pass"}',
    }
    if lowered in raw:
        kind = "text/html" if lowered == "html" else _JSON
        return httpx.Response(200, content=raw[lowered], headers={"Content-Type": kind})
    if lowered.startswith("http"):
        status = int(lowered[4:])
        headers = {"Retry-After": "2"} if status == 429 else {}
        return httpx.Response(status, content=f"HTTP {status} (emulated)".encode(), headers=headers)
    return _error(name, _MESSAGES.get(name, "Emulated error."), request_id)


def _parse_optional_float(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    number = float_option(name, value)
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


def _parse_int(name: str, value: object) -> int:
    return int_option(name, value)


class TencentTmsEmulator:
    """The emulator; callable as ``emulator(request) -> response`` and thread-safe (it
    is served by a threading HTTP server). ``requests`` counts what it was sent."""

    def __init__(
        self,
        *,
        secret_id: str = DEMO_SECRET_ID,
        secret_key: str = DEMO_SECRET_KEY,
        token: str | None = None,
        regions: Iterable[str] | None = None,
        biz_types: Iterable[str] | None = None,
        rate_limit: float | None = None,
        image_rate_limit: float | None = None,
        latency: float = 0.0,
        fault: str | None = None,
        fault_every: int = 1,
        fault_times: int | None = None,
        skew: float = _SKEW,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if fault is not None:
            check_fault(fault)
        if fault_every < 1:
            raise ValueError(f"fault_every must be at least 1, got {fault_every}")
        self.secret_id = secret_id
        self._key = secret_key
        self._token = token
        self.regions = frozenset(regions) if regions is not None else None
        self.biz_types = frozenset(biz_types) if biz_types is not None else None
        self.rate_limits = {"TextModeration": rate_limit, "ImageModeration": image_rate_limit}
        self.latency = latency
        self.fault = fault
        self.fault_every = fault_every
        self.fault_times = fault_times
        self.skew = skew
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._seq = 0
        self._faults_sent = 0
        # Per action, per second; 0 is no limit, as None.
        self._windows = {
            action: FixedWindow(limit or None) for action, limit in self.rate_limits.items()
        }
        self.requests = 0

    def __repr__(self) -> str:
        return f"<TencentTmsEmulator regions={sorted(self.regions or ())}>"

    # -- the service ------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
            number = self.requests
        request_id = self._request_id(f"request/{number}")
        if self.latency:
            self._sleep(min(self.latency, _MAX_SLOW))
        if request.url.path != "/":
            return httpx.Response(404, content=b"not found", headers={"Content-Type": "text/plain"})
        try:
            action = self._check_headers(request)
            self._check_signature(request, action)
            self._check_rate(action)
            self._inject(number, request_id)
            body = self._read_json(request)
            if action == "TextModeration":
                return _json(self._text(body, request_id))
            return _json(self._image(body, request_id))
        except _Answered as answered:
            return answered.response
        except _Refusal as refusal:
            return _error(refusal.code, refusal.message, request_id)

    def _check_headers(self, request: httpx.Request) -> str:
        if request.method != "POST":
            raise _Refusal("UnsupportedOperation", "The emulator takes POST requests only.")
        action: str | None = request.headers.get("X-TC-Action")
        if not action:
            raise _Refusal("MissingParameter", "The X-TC-Action header is missing.")
        if action not in _SERVICES:
            raise _Refusal("InvalidAction", f"The action {action[:64]!r} does not exist.")
        version = request.headers.get("X-TC-Version")
        if not version:
            raise _Refusal("MissingParameter", "The X-TC-Version header is missing.")
        if version != VERSION:
            raise _Refusal("NoSuchVersion", f"The version {version[:32]!r} does not exist.")
        region = request.headers.get("X-TC-Region")
        if not region:
            raise _Refusal("MissingParameter", "The X-TC-Region header is missing.")
        if not _REGION.fullmatch(region) or (
            self.regions is not None and region not in self.regions
        ):
            raise _Refusal("UnsupportedRegion")
        return action

    def _check_signature(self, request: httpx.Request, action: str) -> None:
        header = request.headers.get("Authorization")
        if not header:
            raise _Refusal(
                "AuthFailure.InvalidAuthorization", "The Authorization header is missing."
            )
        try:
            auth = parse_authorization(header)
        except ValueError:
            raise _Refusal("AuthFailure.InvalidAuthorization") from None
        stamp = request.headers.get("X-TC-Timestamp", "")
        if not stamp.isdigit() or len(stamp) > 12:
            raise _Refusal("InvalidParameter", "X-TC-Timestamp must be Unix seconds.")
        timestamp = int(stamp)
        if not hmac.compare_digest(auth.secret_id, self.secret_id):
            raise _Refusal("AuthFailure.SecretIdNotFound")
        if abs(self._clock() - timestamp) > self.skew:
            raise _Refusal("AuthFailure.SignatureExpire")
        if self._token is not None and not hmac.compare_digest(
            request.headers.get("X-TC-Token", ""), self._token
        ):
            raise _Refusal("AuthFailure.TokenFailure")
        signed = auth.signed_headers
        if not {"content-type", "host"} <= set(signed) or len(set(signed)) != len(signed):
            raise _Refusal(
                "AuthFailure.InvalidAuthorization", "SignedHeaders must name content-type and host."
            )
        missing = [name for name in signed if name not in request.headers]
        if missing:
            raise _Refusal(
                "AuthFailure.InvalidAuthorization", f"The signed header {missing[0]!r} is missing."
            )
        service = _SERVICES[action]
        # A scope for another day or service is a wrong signature, as Tencent reports it.
        if auth.date != utc_date(timestamp) or auth.service != service:
            raise _Refusal("AuthFailure.SignatureFailure")
        canonical = canonical_request(
            method=request.method,
            path=request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
            query=request.url.query.decode("ascii"),
            headers={name: request.headers[name] for name in signed},
            signed_headers=signed,
            payload=request.content,
        )
        to_sign = string_to_sign(timestamp=timestamp, service=service, canonical=canonical)
        expected = signature(self._key, date=auth.date, service=service, to_sign=to_sign)
        if not hmac.compare_digest(expected, auth.signature):
            raise _Refusal("AuthFailure.SignatureFailure")
        # Checked after the signature, which covers it: the gateway reads JSON bodies only.
        if request.headers.get("Content-Type") != _JSON:
            raise _Refusal("InvalidParameter", "Content-Type must be application/json.")

    def _check_rate(self, action: str) -> None:
        now = self._clock()
        with self._lock:
            admitted = self._windows[action].admit(now)
        if not admitted:
            raise _Refusal("RequestLimitExceeded")

    def _inject(self, number: int, request_id: str) -> None:
        if self.fault is None or number % self.fault_every:
            return
        with self._lock:
            if self.fault_times is not None and self._faults_sent >= self.fault_times:
                return
            self._faults_sent += 1
        raise _Answered(fault_response(self.fault, request_id))

    @staticmethod
    def _read_json(request: httpx.Request) -> dict[str, Any]:
        if len(request.content) > _MAX_BODY:
            raise _Refusal("RequestSizeLimitExceeded")
        try:
            body = json.loads(request.content)
        except (ValueError, RecursionError):
            raise _Refusal("InvalidParameter", "The request body is not JSON.") from None
        if not isinstance(body, dict):
            raise _Refusal("InvalidParameter", "The request body must be a JSON object.")
        return body

    # -- the two actions ----------------------------------------------------------------

    def _common(self, body: Mapping[str, Any], keys: frozenset[str], data_id_code: str) -> None:
        unknown = sorted(set(body) - keys)
        if unknown:
            raise _Refusal("UnknownParameter", f"The parameter {unknown[0][:64]!r} is unknown.")
        biz_type = body.get("BizType")
        if biz_type is not None:
            if not isinstance(biz_type, str) or not _BIZ_TYPE.fullmatch(biz_type):
                raise _Refusal("InvalidParameterValue.InvalidBizType", "BizType is malformed.")
            if self.biz_types is not None and biz_type not in self.biz_types:
                raise _Refusal("InvalidParameterValue.InvalidBizType", "No such BizType policy.")
        data_id = body.get("DataId")
        if data_id is not None and (
            not isinstance(data_id, str) or not _DATA_ID.fullmatch(data_id)
        ):
            raise _Refusal(data_id_code, "DataId must be 1-64 of A-Z a-z 0-9 _ - @ #.")
        user = body.get("User")
        if user is not None and (
            not isinstance(user, dict)
            or any(not isinstance(user.get(k, ""), str) for k in _USER_STRINGS)
        ):
            raise _Refusal("InvalidParameter.ParameterError", "User is malformed.")

    def _text(self, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        self._common(body, _TEXT_KEYS, "InvalidParameter.ParameterError")
        if body.get("Type", "TEXT") not in ("TEXT", "TEXT_AIGC"):
            raise _Refusal("InvalidParameterValue.ErrType", "Type must be TEXT or TEXT_AIGC.")
        content = body.get("Content")
        if content is None:
            raise _Refusal("MissingParameter", "Content is required.")
        if not isinstance(content, str):
            raise _Refusal("InvalidParameterValue.ErrTextContentType", "Content must be base64.")
        try:
            # The official example sends "5LusCg", without padding: the service takes it.
            raw = base64.b64decode(content + "=" * (-len(content) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise _Refusal(
                "InvalidParameterValue.ErrTextContentType", "Content is not base64."
            ) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refusal(
                "InvalidParameterValue.ErrFileContent", "Content is not UTF-8."
            ) from None
        if not text:
            raise _Refusal("InvalidParameterValue.InvalidContent", "Content is empty.")
        if len(text) > _MAX_TEXT_CHARS:
            raise _Refusal(
                "InvalidParameterValue.ErrTextContentLen",
                f"Content is over {_MAX_TEXT_CHARS} characters.",
            )
        markers = self._markers(text)
        seed = SEED_TEXT_ANSWERS.get(text)
        if seed is not None and not markers:
            raise _Answered(_json(seed))
        rule, hits = _match_text(text)
        return self._answer(body, rule, hits, markers, request_id, image=False)

    def _image(self, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        self._common(body, _IMAGE_KEYS, "InvalidParameterValue.InvalidDataId")
        if body.get("Type", "IMAGE") not in ("IMAGE", "IMAGE_AIGC"):
            raise _Refusal("InvalidParameter", "Type must be IMAGE or IMAGE_AIGC.")
        url, content = body.get("FileUrl"), body.get("FileContent")
        if not url and not content:
            raise _Refusal("InvalidParameterValue.EmptyImageContent", "FileUrl or FileContent.")
        if url and content:
            raise _Refusal(
                "InvalidParameterValue.InvalidContent", "FileUrl or FileContent, not both."
            )
        if url:
            if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
                raise _Refusal("InvalidParameterValue.InvalidContent", "FileUrl must be http(s).")
            words = url
            seed = SEED_IMAGE_ANSWERS.get(url)
            if seed is not None and not self._markers(url):
                raise _Answered(_json(seed))
        else:
            words = self._file_words(content)
        markers = self._markers(words)
        rule = _match_image(words)
        return self._answer(body, rule, [], markers, request_id, image=True)

    @staticmethod
    def _file_words(content: object) -> str:
        if not isinstance(content, str):
            raise _Refusal("InvalidParameter.InvalidImageContent", "FileContent must be base64.")
        if len(content) > _MAX_FILE_CONTENT:
            raise _Refusal("InvalidParameterValue.InvalidFileContentSize", "Over 10 MB.")
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise _Refusal(
                "InvalidParameter.InvalidImageContent", "FileContent is not base64."
            ) from None
        if len(data) < _MIN_IMAGE_BYTES:
            raise _Refusal("InvalidParameter.ImageDataTooSmall", "The image is under 16 bytes.")
        return data.decode("latin-1")  # judged by the words in its bytes, like a URL

    def _markers(self, content: str) -> dict[str, str]:
        """Markers in the content: ``slow`` sleeps, ``fault`` answers a fault; the rest
        (``suggestion``, ``label``) are returned to change the answer."""
        if "[[" not in content:
            return {}
        markers = {m.group(1): m.group(2) for m in _MARKER.finditer(content)}
        slow = markers.get("slow")
        if slow is not None:
            self._sleep(min(_parse_optional_float("slow marker", slow) or 0.0, _MAX_SLOW))
        fault = markers.get("fault")
        if fault is not None:
            check_fault(fault)
            raise _Answered(fault_response(fault, self._request_id("fault")))
        return markers

    def _answer(
        self,
        body: Mapping[str, Any],
        rule: _Rule | None,
        hits: list[str],
        markers: Mapping[str, str],
        request_id: str,
        *,
        image: bool,
    ) -> dict[str, Any]:
        if rule is None:
            label, suggestion, score, sublabel, lib_type = "Normal", "Pass", 0, "", 0
        else:
            label, suggestion, score = rule.label, rule.suggestion, rule.score
            sublabel, lib_type = rule.sublabel, rule.lib_type
        suggestion = markers.get("suggestion", suggestion)
        label = markers.get("label", label)
        answer: dict[str, Any] = {
            "BizType": body.get("BizType", ""),
            "DataId": body.get("DataId", ""),
            "Suggestion": suggestion,
            "Label": label,
            "SubLabel": sublabel,
            "Score": score,
        }
        detail = {
            "Scene": label,
            "Suggestion": suggestion,
            "Label": label,
            "SubLabel": sublabel,
            "Score": score,
        }
        if image:
            answer.update(
                FileMD5="",
                LabelResults=[{**detail, "Details": []}],
                ObjectResults=[],
                OcrResults=[],
                LibResults=[],
                RecognitionResults=[],
                Extra="",
            )
        else:
            del detail["Scene"]
            answer.update(
                Keywords=hits,
                DetailResults=[
                    {
                        **detail,
                        "Keywords": hits or None,
                        "LibType": lib_type,
                        "LibId": "",
                        "LibName": "",
                    }
                ],
                RiskDetails=None,
                Extra="",
                ContextText="",
            )
        answer["RequestId"] = request_id
        return {"Response": answer}

    def _request_id(self, what: str) -> str:
        with self._lock:
            self._seq += 1
            seq = self._seq
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tencent-tms-emulator/{seq}/{what}"))


def _match_text(text: str) -> tuple[_Rule | None, list[str]]:
    folded = text.lower()
    for rule in TEXT_RULES:
        hits = [term for term in rule.terms if term in folded]
        if hits:
            # The words as they appear in the text, as the vendor reports them.
            if len(folded) == len(text):
                hits = [text[folded.find(t) : folded.find(t) + len(t)] for t in hits]
            return rule, hits
    return None, []


def _match_image(words: str) -> _Rule | None:
    found = set(re.split(r"[^a-z0-9]+", words.lower()))
    for rule in IMAGE_RULES:
        if found.intersection(rule.terms):
            return rule
    return None


def _optional_text(_name: str, value: object) -> str | None:
    return None if value in (None, "", "none") else str(value)


def _text_or(default: str) -> Callable[[str, object], str]:
    return lambda _name, value: default if value in (None, "") else str(value)


_OPTION_PARSERS: Final[Mapping[str, Callable[[str, Any], Any]]] = {
    "secret_id": _text_or(DEMO_SECRET_ID),
    "secret_key": _text_or(DEMO_SECRET_KEY),
    "token": _optional_text,
    "regions": names_option,
    "biz_types": names_option,
    "rate_limit": _parse_optional_float,
    "image_rate_limit": _parse_optional_float,
    "latency": lambda name, value: _parse_optional_float(name, value) or 0.0,
    "fault": _optional_text,
    "fault_every": _parse_int,
    "fault_times": lambda name, value: (
        None if value in (None, "", "none") else _parse_int(name, value)
    ),
    "skew": lambda name, value: _SKEW if (n := _parse_optional_float(name, value)) is None else n,
}


def make_emulator(**options: Any) -> TencentTmsEmulator:
    """Build the emulator; options may be strings (from ``--set key=value``):

    ``secret_id`` / ``secret_key`` (default: the signing page's example pair),
    ``token`` (then ``X-TC-Token`` must match), ``regions`` and ``biz_types`` (comma
    lists; default any well-formed one), ``rate_limit`` / ``image_rate_limit``
    (requests/s per action, default off; over it answers RequestLimitExceeded),
    ``latency`` (seconds before each answer), ``fault`` (see ``check_fault``),
    ``fault_every`` (every Nth request, default 1), ``fault_times`` (at most this many),
    ``skew`` (seconds a timestamp may be off, default 300).
    """
    return TencentTmsEmulator(**parse_options(options, _OPTION_PARSERS, emulator="Tencent TMS"))
