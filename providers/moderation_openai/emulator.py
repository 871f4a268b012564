"""A fake OpenAI Moderation API (``POST /v1/moderations``) for tests, cassettes, demos
and benchmarks.

``make_emulator(**options)`` returns a thread-safe callable from ``httpx.Request`` to
``httpx.Response``: pass it to ``httpx.MockTransport``, or serve it over HTTP with
``moderation_core.testing.serve`` / ``moderation emulate openai --port N`` (the
official SDK talks to it with ``base_url="http://127.0.0.1:N/v1"``).

It checks what the service checks (the Bearer key, the organization and project
headers when it is told the key's own, a JSON body, ``input`` in one of its three
shapes, a known ``model``, images only on omni models, an image URL's scheme and a
data URL's 20 MB), answers in the documented shape (one result per string, one
combined result for a multimodal array; ``illicit*`` null on the text-moderation
models), reproduces both official examples word for word, and judges text and image
URLs by ``RULES``, which cover every category. It can be told to misbehave: the
``fault`` option (every request), ``inject()`` (the next N) or a ``[[fault:NAME]]``
marker in a text (names in ``FAULTS``); ``[[score:KEY=0.42]]`` in a text sets one
category's score (flagged at ``FLAG_AT`` and above).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from moderation_core.testing import (
    FaultQueue,
    FixedWindow,
    choice_option,
    float_option,
    parse_options,
)

from . import _wire as wire

__all__ = [
    "DEMO_API_KEY",
    "FAULTS",
    "FLAG_AT",
    "MODELS",
    "OFFICIAL_IMAGE_EXAMPLE",
    "OFFICIAL_TEXT_EXAMPLE",
    "RULES",
    "OpenAIEmulator",
    "Rule",
    "make_emulator",
]

# The emulator's own key; `moderation emulate openai --set api_key=...` changes it.
DEMO_API_KEY = "sk-emulator-0000000000000000"  # a demo value, not anyone's key
# A category is flagged at this score and above (the official example flags harassment
# at 0.52 and not hate at 0.23; the real thresholds are not published).
FLAG_AT = 0.5
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # CONTRACTS-MORE-VENDORS 2.2

# Requested model -> the model the answer names.
MODELS: Mapping[str, str] = {
    "omni-moderation-latest": "omni-moderation-latest",
    "omni-moderation-2024-09-26": "omni-moderation-2024-09-26",
    "text-moderation-latest": "text-moderation-007",
    "text-moderation-stable": "text-moderation-007",
    "text-moderation-007": "text-moderation-007",
}
# Categories that apply to images (openapi: category_applied_input_types).
IMAGE_CATEGORIES = frozenset(
    {
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
        "sexual",
        "violence",
        "violence/graphic",
    }
)
_ILLICIT = ("illicit", "illicit/violent")

FAULTS: Mapping[str, str] = {
    "500": "HTTP 500 'The server had an error while processing your request'",
    "502": "HTTP 502 Bad Gateway (an HTML page, as from the edge proxy)",
    "503": "HTTP 503 'The engine is currently overloaded'",
    "504": "HTTP 504 Gateway Timeout (HTML)",
    "slow_down": "HTTP 503 'Slow Down'",
    "rate_limit": "HTTP 429 rate_limit_exceeded with retry-after-ms and retry-after",
    "quota": "HTTP 429 insufficient_quota (billing, not load)",
    "auth": "HTTP 401 invalid_api_key",
    "region": "HTTP 403 unsupported_country_region_territory",
    "bad_request": "HTTP 400 invalid_request_error",
    "garbage": "HTTP 200 whose body is not JSON",
    "truncated": "HTTP 200 with the JSON answer cut short",
    "no_results": "HTTP 200 with an answer that has no results",
    "slow": "the answer only after slow_seconds (default 5): a client timeout",
}

_FAULT_MARKER = re.compile(r"\[\[fault:([a-z0-9_]+)\]\]")
_SCORE_MARKER = re.compile(r"\[\[score:([a-z/-]+)=([01](?:\.\d+)?)\]\]")
_LOW_SCORES: Mapping[str, float] = {  # an innocent text's scores, from the image example
    "harassment": 0.000012,
    "harassment/threatening": 0.0000041,
    "hate": 0.0000027,
    "hate/threatening": 0.0000003,
    "illicit": 0.0000089,
    "illicit/violent": 0.0000042,
    "self-harm": 0.0000051,
    "self-harm/intent": 0.0000023,
    "self-harm/instructions": 0.0000019,
    "sexual": 0.0000157,
    "sexual/minors": 0.0000002,
    "violence": 0.0000188,
    "violence/graphic": 0.0000044,
}


@attrs.frozen
class Rule:
    """A text (or image URL) containing any trigger, in any case, gets these scores;
    every matching rule counts, the highest score per category wins."""

    scores: Mapping[str, float]
    triggers: tuple[str, ...]


RULES: tuple[Rule, ...] = (
    # The official example's text, scored as the example scores it.
    Rule(
        {
            "violence": 0.9971134662628174,
            "harassment/threatening": 0.5694745779037476,
            "harassment": 0.5215635299682617,
            "hate": 0.22706663608551025,
        },
        ("kill them", "harassment-threatening-test"),
    ),
    Rule({"harassment": 0.93}, ("idiot", "傻逼", "harassment-test")),
    Rule({"harassment": 0.35}, ("stupid", "笨蛋", "review-test")),  # review, not flagged
    Rule({"hate": 0.91}, ("vermin", "hate-test")),
    Rule({"hate": 0.9, "hate/threatening": 0.88}, ("hate-threatening-test",)),
    Rule({"illicit": 0.86}, ("shoplift", "illicit-test")),
    Rule({"illicit": 0.7, "illicit/violent": 0.84}, ("untraceable gun", "illicit-violent-test")),
    Rule({"self-harm": 0.95, "self-harm/intent": 0.9}, ("kill myself", "self-harm-test")),
    Rule(
        {"self-harm": 0.8, "self-harm/instructions": 0.9},
        ("self-harm-instructions-test",),
    ),
    Rule({"sexual": 0.97}, ("porn", "nude", "色情", "sexual-test")),
    Rule({"sexual": 0.9, "sexual/minors": 0.96}, ("sexual-minors-test",)),
    Rule({"violence": 0.9}, ("violence-test",)),
    Rule({"violence": 0.8, "violence/graphic": 0.9}, ("gore", "violence-graphic-test")),
)
# Image URLs: only the categories that apply to images.
IMAGE_RULES: tuple[Rule, ...] = (
    Rule({"sexual": 0.98}, ("nsfw", "porn", "nude")),
    Rule({"violence": 0.95, "violence/graphic": 0.92}, ("gore", "violence")),
    Rule({"self-harm": 0.91, "self-harm/intent": 0.6}, ("selfharm", "self-harm")),
)

# The two examples of the API reference (openapi.yaml, createModeration), word for word.
OFFICIAL_TEXT_EXAMPLE: Mapping[str, Any] = {
    "id": "modr-AB8CjOTu2jiq12hp1AQPfeqFWaORR",
    "model": "text-moderation-007",
    "results": [
        {
            "flagged": True,
            "categories": {
                "sexual": False,
                "hate": False,
                "harassment": True,
                "self-harm": False,
                "sexual/minors": False,
                "hate/threatening": False,
                "violence/graphic": False,
                "self-harm/intent": False,
                "self-harm/instructions": False,
                "harassment/threatening": True,
                "violence": True,
            },
            "category_scores": {
                "sexual": 0.000011726012417057063,
                "hate": 0.22706663608551025,
                "harassment": 0.5215635299682617,
                "self-harm": 2.227119921371923e-6,
                "sexual/minors": 7.107352217872176e-8,
                "hate/threatening": 0.023547329008579254,
                "violence/graphic": 0.00003391829886822961,
                "self-harm/intent": 1.646940972932498e-6,
                "self-harm/instructions": 1.1198755256458526e-9,
                "harassment/threatening": 0.5694745779037476,
                "violence": 0.9971134662628174,
            },
        }
    ],
}
OFFICIAL_TEXT_INPUT = "I want to kill them."
OFFICIAL_IMAGE_INPUT = (
    {"type": "text", "text": "...text to classify goes here..."},
    {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}},
)
_IMAGE_EXAMPLE_TYPES = {key: ["text"] for key in wire.CATEGORIES} | {
    key: ["text", "image"] for key in IMAGE_CATEGORIES
}
OFFICIAL_IMAGE_EXAMPLE: Mapping[str, Any] = {
    "id": "modr-0d9740456c391e43c445bf0f010940c7",
    "model": "omni-moderation-latest",
    "results": [
        {
            "flagged": True,
            "categories": {
                "harassment": True,
                "harassment/threatening": True,
                "sexual": False,
                "hate": False,
                "hate/threatening": False,
                "illicit": False,
                "illicit/violent": False,
                "self-harm/intent": False,
                "self-harm/instructions": False,
                "self-harm": False,
                "sexual/minors": False,
                "violence": True,
                "violence/graphic": True,
            },
            "category_scores": {
                "harassment": 0.8189693396524255,
                "harassment/threatening": 0.804985420696006,
                "sexual": 1.573112165348997e-6,
                "hate": 0.007562942636942845,
                "hate/threatening": 0.004208854591835476,
                "illicit": 0.030535955153511665,
                "illicit/violent": 0.008925306722380033,
                "self-harm/intent": 0.00023023930975076432,
                "self-harm/instructions": 0.0002293869201073356,
                "self-harm": 0.012598046106750154,
                "sexual/minors": 2.212566909570261e-8,
                "violence": 0.9999992735124786,
                "violence/graphic": 0.843064871157054,
            },
            "category_applied_input_types": _IMAGE_EXAMPLE_TYPES,
        }
    ],
}


class _BadInput(ValueError):
    """The request's input is not one the API takes: a 400 naming ``param``."""

    def __init__(self, message: str, param: str = "input") -> None:
        super().__init__(message)
        self.param = param


def _error(
    status: int,
    message: str,
    error_type: str,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return httpx.Response(status, json=body, headers=headers)


def _masked_key(key: str) -> str:
    # What the service quotes back for a wrong key: the start and the last four.
    return f"{key[:3]}{'*' * max(len(key) - 7, 3)}{key[-4:]}" if len(key) > 10 else "***"


class OpenAIEmulator:
    """The emulator; see the module docstring. For tests: ``requests`` (how many
    arrived), ``inject()``, ``quota`` (requests left before insufficient_quota)."""

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        organization: str | None = None,
        project: str | None = None,
        rpm: int | None = None,
        quota: int | None = None,
        max_inputs: int | None = None,
        fault: str | None = None,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        retry_after: float | None = 1.0,
        retry_after_ms: float | None = 250.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_key = api_key
        self.organization = organization
        self.project = project
        self.quota = quota
        self.max_inputs = max_inputs
        self.fault = _as_fault(fault)
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.retry_after_ms = retry_after_ms
        self.clock = clock
        self.sleep = sleep
        self.requests = 0
        self._window = FixedWindow(rpm, seconds=60)
        self._lock = threading.Lock()
        self._faults = FaultQueue(FAULTS)

    def __repr__(self) -> str:
        return "<OpenAIEmulator /v1/moderations>"

    def inject(self, fault: str, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``fault``."""
        self._faults.inject(fault, times)

    # -- the service ------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            self.sleep(self.latency)
        with self._lock:
            self.requests += 1
        if request.url.path.rstrip("/") != "/v1/moderations":
            return _error(
                404, f"Invalid URL ({request.method} {request.url.path})", "invalid_request_error"
            )
        if request.method != "POST":
            return _error(
                405,
                f"Invalid method for URL ({request.method} /v1/moderations)",
                "invalid_request_error",
            )
        denied = self._authorize(request)
        if denied is not None:
            return denied
        body = _read_json(request)
        texts = _texts(body)
        marker = next(
            (m.group(1) for t in texts if (m := _FAULT_MARKER.search(t)) is not None), None
        )
        fault = self._take_fault(marker)
        if fault is not None:
            forced = self._fault_response(fault)
            if forced is not None:
                return forced
        limited = self._admit()
        if isinstance(limited, httpx.Response):
            return limited
        if body is None:
            return _error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)",
                "invalid_request_error",
            )
        try:
            answer = self._answer(body)
        except _BadInput as exc:
            return _error(400, str(exc), "invalid_request_error", param=exc.param)
        except LookupError as exc:  # an unknown model
            return _error(
                404, str(exc.args[0]), "invalid_request_error", "model_not_found", "model"
            )
        return httpx.Response(200, json=answer, headers=limited)

    def _authorize(self, request: httpx.Request) -> httpx.Response | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not key:
            return _error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
            )
        if not secrets.compare_digest(key.encode(), self._api_key.encode()):
            return _error(
                401,
                f"Incorrect API key provided: {_masked_key(key)}. You can find your API key "
                "at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        for header, own, code in (
            ("OpenAI-Organization", self.organization, "mismatched_organization"),
            ("OpenAI-Project", self.project, "mismatched_project"),
        ):
            sent = request.headers.get(header)
            if own is not None and sent is not None and sent != own:
                what = header.removeprefix("OpenAI-").lower()
                return _error(
                    401,
                    f"{header} header should match {what} for API key",
                    "invalid_request_error",
                    code,
                )
        return None

    def _take_fault(self, marker: str | None) -> str | None:
        return self._faults.take(marker, self.fault)

    def _admit(self) -> dict[str, str] | httpx.Response:
        """The x-ratelimit headers for an admitted request, or the 429 refusing it."""
        with self._lock:
            now = self.clock()
            admitted = self._window.admit(now)
            remaining, reset = self._window.remaining, self._window.reset_in(now)
            over_quota = self.quota is not None and self.quota <= 0
            if self.quota is not None and admitted and not over_quota:
                self.quota -= 1
        if over_quota:
            return _quota()
        if not admitted:
            return self._rate_limited(reset)
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-processing-ms": "12"}
        if self._window.limit is not None:
            headers |= {
                "x-ratelimit-limit-requests": str(self._window.limit),
                "x-ratelimit-remaining-requests": str(remaining),
                "x-ratelimit-reset-requests": f"{reset:.0f}s",
            }
        return headers

    def _rate_limited(self, reset: float | None = None) -> httpx.Response:
        headers: dict[str, str] = {}
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{self.retry_after_ms:g}"
        if self.retry_after is not None:
            headers["retry-after"] = f"{self.retry_after:g}"
        if reset is not None:
            headers["x-ratelimit-reset-requests"] = f"{reset:.0f}s"
        limit = self._window.limit if self._window.limit is not None else 250
        return _error(
            429,
            "Rate limit reached for omni-moderation-latest in organization org-emulator on "
            f"requests per min (RPM): Limit {limit}, Used {limit}, Requested 1. Please try "
            "again in 240ms.",
            "requests",
            "rate_limit_exceeded",
            headers=headers,
        )

    def _fault_response(self, fault: str) -> httpx.Response | None:
        """The answer a fault forces, or None when the request goes on (``slow``)."""
        answers: Mapping[str, Callable[[], httpx.Response]] = {
            "500": lambda: _error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            ),
            "502": lambda: _html(502, "Bad Gateway"),
            "503": lambda: _error(
                503, "The engine is currently overloaded, please try again later.", "server_error"
            ),
            "504": lambda: _html(504, "Gateway Timeout"),
            "slow_down": lambda: _error(503, "Slow Down", "server_error"),
            "rate_limit": self._rate_limited,
            "quota": _quota,
            "auth": lambda: _error(
                401,
                "Incorrect API key provided: sk-***. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            ),
            "region": lambda: _error(
                403,
                "Country, region, or territory not supported",
                "request_forbidden",
                "unsupported_country_region_territory",
            ),
            "bad_request": lambda: _error(
                400, "Invalid value for 'input'.", "invalid_request_error", "invalid_value", "input"
            ),
            "garbage": lambda: httpx.Response(200, text="<html>upstream connect error</html>"),
            "truncated": lambda: httpx.Response(
                200,
                content=b'{"id": "modr-x", "model": "omni-moderation-latest", "results": [{"fla',
                headers={"Content-Type": "application/json"},
            ),
            "no_results": lambda: httpx.Response(
                200, json={"id": "modr-x", "model": "omni-moderation-latest"}
            ),
        }
        if fault == "slow":
            self.sleep(self.slow_seconds)
            return None
        return answers[fault]()

    # -- answers ----------------------------------------------------------------------

    def _answer(self, body: object) -> dict[str, Any]:
        if not isinstance(body, dict) or "input" not in body:
            raise _BadInput("'input' is a required property")
        model = body.get("model", "omni-moderation-latest")
        if not isinstance(model, str) or model not in MODELS:
            raise LookupError(
                f"The model `{model}` does not exist or you do not have access to it."
            )
        answered = MODELS[model]
        omni = answered.startswith("omni")
        items = _inputs(body["input"])
        if self.max_inputs is not None and len(items) > self.max_inputs:
            raise _BadInput(f"Too many inputs: at most {self.max_inputs} are allowed.")
        multimodal = any(isinstance(item, dict) for item in items)
        if multimodal:
            _check_multimodal(items, omni)
            if items == list(OFFICIAL_IMAGE_INPUT) and model == "omni-moderation-latest":
                return _copy(OFFICIAL_IMAGE_EXAMPLE)
            results = [judge_inputs(items, omni=True)]
        else:
            if items == [OFFICIAL_TEXT_INPUT] and not omni:
                return _copy(OFFICIAL_TEXT_EXAMPLE)
            results = [judge_inputs([text], omni=omni) for text in items]
        return {"id": f"modr-{uuid.uuid4().hex}", "model": answered, "results": results}


def _copy(example: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(example))  # no caller shares our lists
    return copied


def _quota() -> httpx.Response:
    return _error(
        429,
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        "insufficient_quota",
    )


def _html(status: int, reason: str) -> httpx.Response:
    page = f"<html><head><title>{status} {reason}</title></head><body>cloudflare</body></html>"
    return httpx.Response(status, text=page, headers={"Content-Type": "text/html"})


def _read_json(request: httpx.Request) -> object | None:
    if "application/json" not in request.headers.get("Content-Type", ""):
        return None
    try:
        body: object = json.loads(request.read())
    except (ValueError, RecursionError):  # too deep is as unreadable as malformed
        return None
    return body


def _texts(body: object) -> list[str]:
    """Every text of a request, for the fault markers; nothing for a malformed one."""
    value = body.get("input") if isinstance(body, dict) else None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return []
    found = [item for item in value if isinstance(item, str)]
    found += [
        item["text"]
        for item in value
        if isinstance(item, dict) and isinstance(item.get("text"), str)
    ]
    return found


def _inputs(value: object) -> list[Any]:
    """``input`` as a list: a string, an array of strings, or an array of objects."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise _BadInput("'input' must be a string, an array of strings or an array of objects")
    if all(isinstance(item, str) for item in value):
        return list(value)
    if all(isinstance(item, dict) for item in value):
        return list(value)
    raise _BadInput("'input' must not mix strings and objects")


def _check_multimodal(items: Sequence[dict[str, Any]], omni: bool) -> None:
    for index, item in enumerate(items):
        kind = item.get("type")
        if kind == "text":
            if not isinstance(item.get("text"), str):
                raise _BadInput("'text' must be a string", f"input[{index}].text")
        elif kind == "image_url":
            if not omni:
                raise _BadInput("This model does not support image inputs.", "model")
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str):
                raise _BadInput("'image_url.url' must be a string", f"input[{index}].image_url")
            _check_image_url(url, f"input[{index}].image_url.url")
        else:
            raise _BadInput(f"Invalid input type {kind!r}", f"input[{index}].type")


def _check_image_url(url: str, param: str) -> None:
    if url.startswith(("http://", "https://")):
        return
    header, comma, data = url.partition(",")
    if not (url.startswith("data:image/") and header.endswith(";base64") and comma):
        raise _BadInput("Invalid image URL: an http(s) URL or a base64 data URL", param)
    if len(data) * 3 // 4 > MAX_IMAGE_BYTES:
        raise _BadInput("Image too large: at most 20 MB", param)
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _BadInput("Invalid base64 image data", param) from None


def judge_inputs(items: Sequence[str | Mapping[str, Any]], *, omni: bool) -> dict[str, Any]:
    """One result for ``items`` (strings, or multimodal objects judged together)."""
    scores = dict(_LOW_SCORES)
    applied: dict[str, list[str]] = {key: [] for key in wire.CATEGORIES}
    for item in items:
        if isinstance(item, str) or item.get("type") == "text":
            text = item if isinstance(item, str) else str(item["text"])
            _apply(scores, RULES, text, wire.CATEGORIES)
            for marker in _SCORE_MARKER.finditer(text):
                if marker.group(1) in scores:
                    scores[marker.group(1)] = float(marker.group(2))
            kind = "text"
        else:
            _apply(scores, IMAGE_RULES, str(item["image_url"]["url"]), IMAGE_CATEGORIES)
            kind = "image"
        for key in wire.CATEGORIES:
            if (kind == "text" or key in IMAGE_CATEGORIES) and kind not in applied[key]:
                applied[key].append(kind)
    categories: dict[str, bool | None] = {key: score >= FLAG_AT for key, score in scores.items()}
    result: dict[str, Any] = {
        "flagged": any(categories.values()),
        "categories": categories,
        "category_scores": scores,
    }
    if omni:
        result["category_applied_input_types"] = applied
    else:
        # The text-moderation models have no illicit categories: null flags, no scores.
        for key in _ILLICIT:
            categories[key] = None
            del scores[key]
        result["flagged"] = any(categories.values())
    return result


def _apply(
    scores: dict[str, float],
    rules: Sequence[Rule],
    text: str,
    allowed: Sequence[str] | frozenset[str],
) -> None:
    lowered = text.lower()
    for rule in rules:
        if any(trigger in lowered for trigger in rule.triggers):
            for key, score in rule.scores.items():
                if key in allowed:
                    scores[key] = max(scores[key], score)


# -- options, as `moderation emulate openai --set key=value` gives them (strings) ------


def _as_fault(value: object) -> str | None:
    return choice_option("fault", value, FAULTS)


def _as_float(name: str, value: object) -> float:
    return float_option(name, value, minimum=0)


def _as_count(name: str, value: object) -> int | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "off")):
        return None
    number = _as_float(name, value)
    if number != int(number):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _as_optional_float(name: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "off")):
        return None
    return _as_float(name, value)


def _as_optional_str(_name: str, value: object) -> str | None:
    return None if value in (None, "", "none") else str(value)


_OPTION_PARSERS: Mapping[str, Callable[[str, object], Any]] = {
    "api_key": lambda _n, v: str(v),
    "organization": _as_optional_str,
    "project": _as_optional_str,
    "rpm": _as_count,
    "quota": _as_count,
    "max_inputs": _as_count,
    "fault": lambda _n, v: _as_fault(v),
    "latency": _as_float,
    "slow_seconds": _as_float,
    "retry_after": _as_optional_float,
    "retry_after_ms": _as_optional_float,
}


def make_emulator(**options: Any) -> OpenAIEmulator:
    """An OpenAI Moderation emulator. Every option may be a string (from the CLI's
    ``--set key=value``): api_key (default ``DEMO_API_KEY``), organization and project
    (the key's own: a different header is a 401), rpm (requests per minute, default
    off), quota (requests before 429 insufficient_quota), max_inputs (array length;
    the real limit is not documented, default none), fault (see ``FAULTS``), latency
    (seconds before every answer), slow_seconds, retry_after and retry_after_ms (the
    headers of a 429 rate limit; ``none`` leaves one out). ``clock`` and ``sleep``
    (callables) make time deterministic in tests."""
    return OpenAIEmulator(**parse_options(options, _OPTION_PARSERS, emulator="OpenAI"))
