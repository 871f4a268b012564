"""Generated callbacks against both hooks: whatever the body and the query, the answer
is the platform's own shape (HTTP 200) or a 403, never a 5xx or a stack trace.

Most examples carry a valid signature, so the generated bodies get past verification
and into the readers; the rest exercise the checks themselves."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation_core.service import create_app
from moderation_huanxin import callback_signature
from moderation_tencent_chat import webhook_sign
from tests.service.hook_helpers import (
    BLOCKED,
    CLEAN,
    SDKAPPID,
    SECRET,
    SEXY,
    SPAM,
    TOKEN,
    Vendor,
    hook_config,
)

T = TypeVar("T")

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Portal:
    """One event loop in a thread for every example: the app's moderator keeps
    loop-bound state, and a loop per example would be slow besides."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[Portal, httpx.AsyncClient]]:
    portal = Portal()

    async def start() -> tuple[Any, httpx.AsyncClient, Any]:
        vendor = Vendor()
        app = create_app(hook_config(tencent={}, huanxin={}), transport=vendor.transport)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        return lifespan, client, app

    lifespan, client, _app = portal.run(start())
    try:
        yield portal, client
    finally:

        async def stop() -> None:
            await client.aclose()
            await lifespan.__aexit__(None, None, None)

        portal.run(stop())
        portal.close()


# -- values ------------------------------------------------------------------------------

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
texts = st.sampled_from(
    [BLOCKED, SPAM, SEXY, CLEAN, "", "  ", "\ud800", "加我微信 " * 40]
) | st.text(max_size=40)
urls = st.sampled_from(
    ["https://img.example.com/porn/1.jpg", "https://img.example.com/cat.png"]
) | st.text(max_size=20)
image_infos = st.lists(
    st.fixed_dictionaries({"Type": st.sampled_from([1, 2, 3, "1"]) | json_values, "URL": urls})
    | json_values,
    max_size=3,
)
msg_contents = st.fixed_dictionaries(
    {},
    optional={
        "Text": texts | json_values,
        "Data": texts | st.builds(json.dumps, json_values) | json_values,
        "Desc": texts,
        "ImageInfoArray": image_infos,
    },
)
elements = st.fixed_dictionaries(
    {
        "MsgType": st.sampled_from(
            [
                "TIMTextElem",
                "TIMCustomElem",
                "TIMImageElem",
                "TIMFaceElem",
                "TIMSoundElem",
                "TIMNewElem",
            ]
        )
        | json_values,
        "MsgContent": msg_contents | json_values,
    }
)
tencent_bodies = st.fixed_dictionaries(
    {},
    optional={
        "MsgBody": st.lists(elements | json_values, max_size=5) | json_values,
        "From_Account": texts | json_values,
        "To_Account": texts | json_values,
        "GroupId": texts | json_values,
        "CloudCustomData": json_values,
        "EventTime": json_values,
        "SdkAppId": st.sampled_from([SDKAPPID, SDKAPPID + 1]) | json_values,
        "TextContent": texts | json_values,
        "CtxcbKeywords": json_values,
        "CtxcbSuggestion": json_values,
    },
)
commands = st.sampled_from(
    [
        "C2C.CallbackBeforeSendMsg",
        "Group.CallbackBeforeSendMsg",
        "ContentCallback.ResultNotify",
        "State.StateChange",
        "",
    ]
)


@st.composite
def tencent_queries(draw: st.DrawFn) -> dict[str, str]:
    sent = int(time.time()) + draw(st.sampled_from([0, 0, 0, -3600, 3600]))
    query = {
        "SdkAppid": draw(st.sampled_from([str(SDKAPPID)] * 4 + ["1", "", "x"])),
        "CallbackCommand": draw(commands),
        "contenttype": "json",
        "Sign": draw(st.sampled_from([webhook_sign(TOKEN, sent)] * 4 + ["", "0" * 64])),
        "RequestTime": draw(st.sampled_from([str(sent)] * 4 + ["", "soon", "9" * 30])),
    }
    drop = draw(st.sets(st.sampled_from(list(query)), max_size=1))
    return {k: v for k, v in query.items() if k not in drop}


def _check_tencent(response: httpx.Response, sent: Any) -> None:
    assert response.status_code in (200, 403, 413), response.text
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
        return
    answer = response.json()
    assert answer["ActionStatus"] == "OK"
    assert type(answer["ErrorCode"]) is int
    assert isinstance(answer["ErrorInfo"], str)
    if "MsgBody" in answer:
        assert answer["ErrorCode"] == 0
        assert isinstance(sent, dict)
        assert len(answer["MsgBody"]) == len(sent["MsgBody"])


@EXAMPLES
@given(query=tencent_queries(), body=tencent_bodies | json_values)
def test_any_tencent_callback_gets_an_answer_or_403(
    hooks: tuple[Portal, httpx.AsyncClient], query: dict[str, str], body: Any
) -> None:
    portal, client = hooks
    # Each example is a new message: the same body twice would be a replay (403 too).
    if isinstance(body, dict):
        body = {**body, "MsgRandom": uuid.uuid4().int}
    # ASCII-escaped JSON: a lone surrogate travels escaped, as a platform would send it.
    content = json.dumps(body).encode()
    response = portal.run(client.post("/v1/hooks/tencent_chat", params=query, content=content))
    _check_tencent(response, body)


@EXAMPLES
@given(query=tencent_queries(), raw=st.binary(max_size=200))
def test_any_tencent_bytes_get_an_answer_or_403(
    hooks: tuple[Portal, httpx.AsyncClient], query: dict[str, str], raw: bytes
) -> None:
    portal, client = hooks
    response = portal.run(client.post("/v1/hooks/tencent_chat", params=query, content=raw))
    _check_tencent(response, None)


easemob_bodies_one = st.fixed_dictionaries(
    {"type": st.sampled_from(["txt", "img", "custom", "loc", "cmd", "audio"]) | json_values},
    optional={
        "msg": texts | json_values,
        "url": urls | json_values,
        "v2:customExts": json_values,
        "customExts": json_values,
    },
)
payloads = easemob_bodies_one | st.fixed_dictionaries(
    {"bodies": st.lists(easemob_bodies_one | json_values, max_size=3) | json_values}
)


@st.composite
def easemob_callbacks(draw: st.DrawFn) -> dict[str, Any]:
    call_id = draw(st.sampled_from([f"demo-org#demo-app_{uuid.uuid4()}"] * 3) | json_values)
    timestamp = int(time.time() * 1000) + draw(st.sampled_from([0, 0, 0, -3_600_000]))
    body: dict[str, Any] = {
        "callId": call_id,
        "timestamp": draw(st.sampled_from([timestamp] * 4) | json_values),
        "chat_type": draw(
            st.sampled_from(["chat", "group", "groupchat", "chatroom"]) | json_values
        ),
        "from": draw(texts | json_values),
        "to": draw(texts | json_values),
        "msg_id": "1",
    }
    kind = draw(st.sampled_from(["presend", "presend", "moderation", "other"]))
    if kind == "presend":
        body["payload"] = draw(payloads | json_values)
    elif kind == "moderation":
        body |= {
            "eventType": "moderation",
            "moderationResult": draw(json_values),
            "msg": draw(texts),
        }
    if (
        isinstance(call_id, str)
        and isinstance(body["timestamp"], int)
        and draw(st.booleans() | st.just(True))
    ):
        body["security"] = callback_signature(call_id, SECRET, body["timestamp"])
    else:
        body["security"] = draw(json_values)
    return body


def _check_easemob(response: httpx.Response) -> None:
    assert response.status_code in (200, 403, 413), response.text
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
        return
    assert len(response.content.decode()) < 1000
    answer = response.json()
    assert isinstance(answer["valid"], bool)


@EXAMPLES
@given(body=easemob_callbacks())
def test_any_easemob_callback_gets_an_answer_or_403(
    hooks: tuple[Portal, httpx.AsyncClient], body: dict[str, Any]
) -> None:
    portal, client = hooks
    response = portal.run(client.post("/v1/hooks/huanxin", content=json.dumps(body).encode()))
    _check_easemob(response)


@EXAMPLES
@given(raw=st.binary(max_size=200))
def test_any_easemob_bytes_get_an_answer_or_403(
    hooks: tuple[Portal, httpx.AsyncClient], raw: bytes
) -> None:
    portal, client = hooks
    response = portal.run(client.post("/v1/hooks/huanxin", content=raw))
    _check_easemob(response)
