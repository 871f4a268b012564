"""Both signature schemes by hand, checked against every documented vector
(CONTRACTS-MORE-VENDORS 4.4: A1, A2, A3; 4.5: the V3 vector) and against the official
signer (alibabacloud-tea-openapi's ``Utils``), and the requests the provider signs."""

from __future__ import annotations

import base64
import hashlib
import hmac
from types import SimpleNamespace
from urllib.parse import parse_qsl

import httpx
import pytest
from alibabacloud_tea_openapi.utils import Utils

from moderation_aliyun import acs3_authorization, parse_acs3_authorization, rpc_signature
from moderation_aliyun._signing import (
    acs3_canonical_request,
    percent_encode,
    rpc_string_to_sign,
    sha256_hex,
    timestamp,
)

from .helpers import ACCESS_KEY_ID, ACCESS_KEY_SECRET, NOW, SECURITY_TOKEN, form, signed_request

# Vector A1: the RPC signature page's DescribeRegions example.
A1 = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}
V3_PAYLOAD_HASH = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23"


def test_vector_a1_string_to_sign_and_signature() -> None:
    assert rpc_string_to_sign("GET", A1) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
        "%26Version%3D2014-05-26"
    )
    assert rpc_signature("testsecret", "GET", A1) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_vector_a1_with_the_older_doc_s_timestamp_spelling() -> None:
    older = {k if k != "Timestamp" else "TimeStamp": v for k, v in A1.items()}
    assert rpc_signature("testsecret", "GET", older) == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


def test_vector_a2_official_sdk_unit_test() -> None:
    params = {"query": "test", "body": "test"}
    assert rpc_string_to_sign("GET", params) == "GET&%2F&body%3Dtest%26query%3Dtest"
    assert rpc_signature("secret", "GET", params) == "XlUyV4sXjOuX5FnjUz9IF9tm5rU="
    assert Utils.get_rpcsignature(params, "GET", "secret") == "XlUyV4sXjOuX5FnjUz9IF9tm5rU="


def test_vector_a3_the_hmac_sha1_primitive() -> None:
    digest = hmac.new(b"secret", b"source", hashlib.sha1).digest()
    assert base64.b64encode(digest).decode() == "Jv4yi8SobFhg5t1C7nWLbhBSFZQ="


def test_vector_v3_official_sdk_unit_test() -> None:
    query = [("test", "ok"), ("empty", "")]
    headers = [("x-acs-test", "http"), ("x-acs-TEST", "https")]
    canonical = acs3_canonical_request(
        method="GET",
        path="/",
        query=query,
        headers=headers,
        signed_headers=["x-acs-test"],
        hashed_payload=V3_PAYLOAD_HASH,
    )
    assert (
        canonical
        == f"GET\n/\nempty=&test=ok\nx-acs-test:http,https\n\nx-acs-test\n{V3_PAYLOAD_HASH}"
    )
    header = acs3_authorization(
        access_key_id="acesskey",
        secret="secret",
        method="GET",
        path="/",
        query=query,
        headers=headers,
        signed_headers=["x-acs-test"],
        hashed_payload=V3_PAYLOAD_HASH,
    )
    assert header == (
        "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,"
        "Signature=d16b30a7699ae9e43875b13195b2f81bcc3ed10c14a9b5eb780e51619aa50be1"
    )
    parsed = parse_acs3_authorization(header)
    assert parsed.signed_headers == ("x-acs-test",)
    assert parsed.header() == header
    assert "acesskey" not in repr(parsed)
    assert parsed.signature not in repr(parsed)


@pytest.mark.parametrize(
    "value",
    [
        "TC3-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=xyz",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host;;date,Signature=" + "0" * 64,
        "",
    ],
)
def test_parse_refuses_other_headers(value: str) -> None:
    with pytest.raises(ValueError, match=r"ACS3|empty"):
        parse_acs3_authorization(value)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a%20b"),
        ("a*b", "a%2Ab"),
        ("a~b", "a~b"),
        ("a/b+c", "a%2Fb%2Bc"),
        ("中", "%E4%B8%AD"),
    ],
)
def test_percent_encoding_is_rfc3986(raw: str, encoded: str) -> None:
    # The classic causes of SignatureDoesNotMatch (4.9): '+', '*', '~' and spaces.
    assert percent_encode(raw) == encoded


def test_timestamps_are_utc() -> None:
    assert timestamp(NOW) == "2023-11-14T22:13:20Z"


# -- the provider's own requests, checked with the official signer ----------------------


def _sdk_rpc_signature(request: httpx.Request) -> str:
    params = dict(request.url.params.multi_items())
    signature = params.pop("Signature")
    params |= form(request)
    assert Utils.get_rpcsignature(params, "POST", ACCESS_KEY_SECRET) == signature
    return signature


@pytest.mark.parametrize("text", ["hello", "a b*c~d+e/f", "你这个傻逼 😀", "x" * 500])
def test_v1_requests_verify_with_the_official_signer(text: str) -> None:
    request = signed_request(text, sender="user 1", signature="v1")
    query = dict(request.url.params.multi_items())
    assert query == {
        "Action": "TextModerationPlus",
        "Format": "JSON",
        "Version": "2022-03-02",
        "Timestamp": "2023-11-14T22:13:20Z",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": "nonce-1",
        "AccessKeyId": ACCESS_KEY_ID,
        "Signature": query["Signature"],
    }
    _sdk_rpc_signature(request)
    assert "Authorization" not in request.headers


def test_v1_with_sts_signs_the_token() -> None:
    request = signed_request(signature="v1", security_token=SECURITY_TOKEN)
    assert request.url.params["SecurityToken"] == SECURITY_TOKEN
    _sdk_rpc_signature(request)


@pytest.mark.parametrize("text", ["hello", "a b*c~d+e/f", "你这个傻逼 😀"])
def test_acs3_requests_verify_with_the_official_signer(text: str) -> None:
    request = signed_request(text, sender="u1")
    assert request.headers["x-acs-content-sha256"] == sha256_hex(request.content)
    assert request.headers["x-acs-date"] == "2023-11-14T22:13:20Z"
    assert request.headers["x-acs-signature-nonce"] == "nonce-1"
    assert request.headers["x-acs-action"] == "TextModerationPlus"
    assert request.headers["x-acs-version"] == "2022-03-02"
    parsed = parse_acs3_authorization(request.headers["Authorization"])
    assert parsed.access_key_id == ACCESS_KEY_ID
    assert parsed.signed_headers == (
        "content-type",
        "host",
        "x-acs-action",
        "x-acs-content-sha256",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    )
    # The official signer over the same request, with the headers the signature names.
    tea_request = SimpleNamespace(
        pathname="/",
        method="POST",
        query={},
        headers={name: request.headers[name] for name in parsed.signed_headers},
    )
    official = Utils.get_authorization(
        tea_request,
        "ACS3-HMAC-SHA256",
        request.headers["x-acs-content-sha256"],
        ACCESS_KEY_ID,
        ACCESS_KEY_SECRET,
    )
    assert official == request.headers["Authorization"]


def test_acs3_with_sts_signs_the_token_and_the_key_id() -> None:
    request = signed_request(security_token=SECURITY_TOKEN)
    assert request.headers["x-acs-security-token"] == SECURITY_TOKEN
    assert request.headers["x-acs-accesskey-id"] == ACCESS_KEY_ID
    parsed = parse_acs3_authorization(request.headers["Authorization"])
    assert {"x-acs-security-token", "x-acs-accesskey-id"} <= set(parsed.signed_headers)


def test_the_body_is_the_form_the_signature_covers() -> None:
    request = signed_request("a+b & c=d", signature="v1")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    fields = dict(parse_qsl(request.content.decode()))
    assert set(fields) == {"Service", "ServiceParameters"}
