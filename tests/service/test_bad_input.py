"""Generated bodies against every endpoint: never a 5xx, every failure a problem+json,
every 200 in the shape /openapi.json documents (the issue's "Bad input")."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from moderation_core.service import create_app
from tests.service.helpers import LOCAL_ONLY, running

KEY = "bad-input-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
CONFIG = {
    **LOCAL_ONLY,
    "serve": {"api_keys": [KEY], "max_body_bytes": 20_000, "max_contents": 5},
}
Send = Callable[..., httpx.Response]


@pytest.fixture(scope="module")
def send() -> Iterator[Send]:
    """Requests to one app on a loop of its own, callable from a sync hypothesis test."""
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    client = loop.run_until_complete(stack.enter_async_context(running(create_app(CONFIG))))

    def request(method: str, path: str, **options: Any) -> httpx.Response:
        return loop.run_until_complete(client.request(method, path, **options))

    try:
        yield request
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


@pytest.fixture(scope="module")
def document(send: Send) -> dict[str, Any]:
    response = send("GET", "/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def schema(document: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


def test_the_openapi_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)
    for path in ("/v1/check", "/v1/evaluate", "/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert path in document["paths"]


def test_answers_match_the_documented_schemas(send: Send, document: dict[str, Any]) -> None:
    checked = send(
        "POST",
        "/v1/check",
        json={"contents": ["hi", "加我微信 abc123456", "", {"type": "image", "value": "x"}]},
        headers=AUTH,
    )
    schema(document, "CheckResponse").validate(checked.json())
    evaluated = send(
        "POST", "/v1/evaluate", json={"contents": ["加我微信 abc123456"]}, headers=AUTH
    )
    schema(document, "Outcome").validate(evaluated.json())
    schema(document, "Health").validate(send("GET", "/healthz").json())
    schema(document, "Readiness").validate(send("GET", "/readyz").json())
    for bad in (send("POST", "/v1/check", content=b"{", headers=AUTH), send("GET", "/v1/x")):
        schema(document, "Problem").validate(bad.json())


# -- generated bodies --------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
media = st.sampled_from(["text", "image", "audio", "video", "pdf", "", 3, None])
items = st.one_of(
    st.text(max_size=40),
    st.fixed_dictionaries(
        {
            "type": media,
            "value": st.text(max_size=30) | st.just("https://x.test/a.png") | json_scalars,
        },
        optional={"id": json_scalars, "extra": json_scalars},
    ),
    json_values,
)
requests = st.fixed_dictionaries(
    {"contents": st.lists(items, max_size=7) | json_values},
    optional={
        "scene": st.text(max_size=10) | json_scalars,
        "sender": st.text(max_size=10) | json_scalars,
        "receiver": st.text(max_size=10) | json_scalars,
        "other": json_values,
    },
)
surrogate_text = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))


def ok_or_problem(response: httpx.Response, document: dict[str, Any], name: str) -> None:
    assert response.status_code < 500, response.text
    assert "x-request-id" in response.headers
    if response.status_code == 200:
        schema(document, name).validate(response.json())
    else:
        assert response.headers["content-type"] == "application/problem+json"
        schema(document, "Problem").validate(response.json())
        assert "Traceback" not in response.text


PATHS = st.sampled_from([("/v1/check", "CheckResponse"), ("/v1/evaluate", "Outcome")])
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(path=PATHS, body=requests)
def test_generated_requests_never_get_a_5xx(
    send: Send, document: dict[str, Any], path: tuple[str, str], body: dict[str, Any]
) -> None:
    text = json.dumps(body)
    ok_or_problem(send("POST", path[0], content=text.encode(), headers=AUTH), document, path[1])


@SETTINGS
@given(path=PATHS, body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_never_get_a_5xx(
    send: Send, document: dict[str, Any], path: tuple[str, str], body: bytes
) -> None:
    ok_or_problem(send("POST", path[0], content=body, headers=AUTH), document, path[1])


@SETTINGS
@given(path=PATHS, text=surrogate_text, where=st.sampled_from(["item", "scene", "id"]))
def test_lone_surrogates_never_get_a_5xx(
    send: Send, document: dict[str, Any], path: tuple[str, str], text: str, where: str
) -> None:
    body: dict[str, Any] = {"contents": [text or "x"]}
    if where == "scene":
        body = {"contents": ["x"], "scene": text}
    elif where == "id":
        body = {"contents": [{"type": "text", "value": "x", "id": text}]}
    ok_or_problem(
        send("POST", path[0], content=json.dumps(body).encode(), headers=AUTH), document, path[1]
    )


@SETTINGS
@given(
    path=PATHS,
    authorization=st.none()
    | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
def test_missing_or_wrong_keys_are_401(
    send: Send, document: dict[str, Any], path: tuple[str, str], authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = send("POST", path[0], json={"contents": ["hi"]}, headers=headers)
    assert response.status_code == 401
    ok_or_problem(response, document, path[1])


@pytest.mark.parametrize("size", [20_001, 100_000])
def test_oversize_bodies_are_413(send: Send, document: dict[str, Any], size: int) -> None:
    body = json.dumps({"contents": ["x" * size]}).encode()
    response = send("POST", "/v1/check", content=body, headers=AUTH)
    assert response.status_code == 413
    ok_or_problem(response, document, "CheckResponse")
