"""Shared by the pre-send hook tests (tests/service/test_hook*.py): configs with the
Tencent Chat emulator as the vendor, a vendor that hangs until a test lets it answer,
and the platform emulators pointed at an in-process app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import httpx
from starlette.applications import Starlette

from moderation_huanxin.platform import EasemobPlatform
from moderation_tencent_chat.emulator import make_emulator
from moderation_tencent_chat.platform import TencentImPlatform
from tests import fake_secrets as secrets

SDKAPPID = 1400000000
TOKEN = secrets.TENCENT_WEBHOOK_TOKEN
SECRET = secrets.HUANXIN_CALLBACK_SECRET
TENCENT_URL = "http://127.0.0.1/v1/hooks/tencent_chat"
HUANXIN_URL = "http://127.0.0.1/v1/hooks/huanxin"
HANG = "[[hang]]"  # a text with this makes the vendor wait for the test's go-ahead

# What the Tencent emulator answers (its TEXT_RULES): a Block, a Review with an AD
# label and keywords (masked by the policy below), a Review of another label.
BLOCKED = "you idiot"
SPAM = "加我微信 abc"
SEXY = "so sexy"
CLEAN = "hello there"

TENCENT_PROVIDER: Mapping[str, Any] = {
    "type": "tencent_chat",
    "sdkappid": SDKAPPID,
    "identifier": "admin",
    "secret_key": secrets.TENCENT_SECRET_KEY,
    "base_url": "http://tencent-chat.test",
}


def hook_config(
    *,
    tencent: Mapping[str, Any] | None = None,
    huanxin: Mapping[str, Any] | None = None,
    policy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Tencent emulator as the one provider, AD masked, and the hook tables given
    (each over a default that verifies)."""
    hooks: dict[str, Any] = {}
    if tencent is not None:
        hooks["tencent_chat"] = {"sdkappid": SDKAPPID, "token": TOKEN, **tencent}
    if huanxin is not None:
        hooks["huanxin"] = {"secret": SECRET, "budget_ms": 3000, **huanxin}
    return {
        "moderation": {"providers": ["tencent"]},
        "providers": {"tencent": dict(TENCENT_PROVIDER)},
        "policy": {"actions": {"AD": "mask"}, **(policy or {})},
        "serve": {"hooks": hooks},
    }


class Vendor:
    """The Tencent emulator behind an async transport: a content holding ``HANG``
    waits until ``release()``; ``calls`` counts the check requests."""

    def __init__(self) -> None:
        self.emulator = make_emulator(
            sdkappid=SDKAPPID, identifier="admin", secret_key=secrets.TENCENT_SECRET_KEY
        )
        self.released = asyncio.Event()
        self.hung = asyncio.Event()
        self.calls = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if HANG.encode() in request.content:
            self.hung.set()
            await self.released.wait()
        return self.emulator(request)

    def release(self) -> None:
        self.released.set()

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def tencent_platform(app: Starlette, **options: Any) -> TencentImPlatform:
    """Tencent IM sending its callbacks to ``app`` in process."""
    options.setdefault("token", TOKEN)
    options.setdefault("sdkappid", SDKAPPID)
    return TencentImPlatform(TENCENT_URL, async_transport=httpx.ASGITransport(app=app), **options)


def easemob_platform(app: Starlette, **options: Any) -> EasemobPlatform:
    """Easemob sending its pre-send callbacks to ``app`` in process. The wait (and the
    hook's budget in ``hook_config``) is generous: these tests are about answers on a
    busy machine; the budget tests set their own budget and assert order, not time."""
    options.setdefault("secret", SECRET)
    options.setdefault("timeout", 5.0)
    return EasemobPlatform(HUANXIN_URL, async_transport=httpx.ASGITransport(app=app), **options)


def text(value: str) -> dict[str, Any]:
    return {"MsgType": "TIMTextElem", "MsgContent": {"Text": value}}


def custom(data: str, desc: str = "") -> dict[str, Any]:
    return {"MsgType": "TIMCustomElem", "MsgContent": {"Data": data, "Desc": desc, "Ext": ""}}


def image(url: str) -> dict[str, Any]:
    return {
        "MsgType": "TIMImageElem",
        "MsgContent": {
            "UUID": "1853095_D61040894AC3DE44CDFFFB3EC7EB720F",
            "ImageFormat": 1,
            "ImageInfoArray": [
                {"Type": 1, "Size": 1853095, "Width": 2448, "Height": 3264, "URL": url},
                {"Type": 3, "Size": 5000, "Width": 198, "Height": 264, "URL": url + "?thumb"},
            ],
        },
    }


FACE = {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "content"}}
LOCATION = {
    "MsgType": "TIMLocationElem",
    "MsgContent": {"Desc": "someinfo", "Latitude": 29.34, "Longitude": 116.77},
}


def metric(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in exposition.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        metric_name, _, rest = sample.partition("{")
        pairs = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric_name == name and pairs == wanted:
            return float(value)
    return 0.0


def body_of(delivery_answer: Mapping[str, Any] | None) -> str:
    return json.dumps(delivery_answer, ensure_ascii=False)
