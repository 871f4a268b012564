"""TC3-HMAC-SHA256 by hand, checked against the documented vectors (T1, T2, T3 in
CONTRACTS-MORE-VENDORS 1.4) and the official signer (tencentcloud-sdk-python-common)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.sign import Sign
from tencentcloud.tms.v20201229 import tms_client

from moderation_core import CheckContext, Content
from moderation_core.testing import Clock
from moderation_tencent_tms import parse_authorization, sign
from moderation_tencent_tms._tc3 import canonical_request, signature, string_to_sign, utc_date

from .helpers import SECRET_ID, SECRET_KEY, provider

# Vector T1: the signing page's CVM DescribeInstances example, body bytes exactly.
T1_BODY = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
T1_HEADERS = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
T1_TIMESTAMP = 1551113065
T1_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
T1_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
T2_KEY = "Gu5t9xGARNpq86cd98joQYCN3*******"


def _t1(**overrides: Any) -> str:
    options: dict[str, Any] = {
        "secret_id": T1_ID,
        "secret_key": T1_KEY,
        "service": "cvm",
        "timestamp": T1_TIMESTAMP,
        "method": "POST",
        "path": "/",
        "headers": T1_HEADERS,
        "payload": T1_BODY,
    }
    options.update(overrides)
    return sign(**options)


def test_vector_t1_canonical_request_string_to_sign_and_header() -> None:
    canonical = canonical_request(
        method="POST",
        path="/",
        query="",
        headers=T1_HEADERS,
        signed_headers=("content-type", "host"),
        payload=T1_BODY,
    )
    assert canonical == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\n"
        "host:cvm.tencentcloudapi.com\n\ncontent-type;host\n"
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    to_sign = string_to_sign(timestamp=T1_TIMESTAMP, service="cvm", canonical=canonical)
    assert to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert _t1() == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


def test_vector_t2_masked_key() -> None:
    header = _t1(secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", secret_key=T2_KEY)
    assert header.endswith(
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


def test_vector_t3_x_tc_action_signed_lowercased() -> None:
    header = _t1(
        secret_key=T2_KEY,
        headers={**T1_HEADERS, "x-tc-action": "DescribeInstances"},
        signed_headers=("content-type", "host", "x-tc-action"),
    )
    auth = parse_authorization(header)
    assert auth.signed_headers == ("content-type", "host", "x-tc-action")
    assert auth.signature == "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"


@pytest.mark.parametrize(
    ("key", "service", "timestamp"),
    [(T1_KEY, "cvm", T1_TIMESTAMP), (SECRET_KEY, "tms", 1_700_000_000), ("ключ-🔑", "ims", 0)],
)
def test_signature_equals_the_official_signer(key: str, service: str, timestamp: int) -> None:
    date = utc_date(timestamp)
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{'ab' * 32}"
    assert signature(key, date=date, service=service, to_sign=to_sign) == Sign.sign_tc3(
        key, date, service, to_sign
    )


def test_request_signed_like_the_official_sdk() -> None:
    """The SDK's own request builder and ours sign the same body, host and second alike."""
    client = tms_client.TmsClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-singapore")
    params = {"Content": "5LusCg==", "BizType": "bigotest"}
    request = RequestInternal("tms.tencentcloudapi.com", "POST", "/")
    client._build_req_with_tc3_signature("TextModeration", params, request)
    timestamp = int(request.header["X-TC-Timestamp"])
    ours = sign(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="tms",
        timestamp=timestamp,
        method="POST",
        path="/",
        headers={"content-type": "application/json", "host": "tms.tencentcloudapi.com"},
        payload=request.data.encode(),
    )
    assert ours == request.header["Authorization"]


def test_provider_request_verifies_with_the_official_signer() -> None:
    clock = Clock(now=1_700_000_000.5)
    prov = provider(clock, base_url=None)
    flow = prov.flow([Content.text("你好")], CheckContext(scene="Group"))
    request = next(flow)
    assert request.url == "https://tms.tencentcloudapi.com/"
    assert request.headers["X-TC-Timestamp"] == "1700000000"
    auth = parse_authorization(request.headers["Authorization"])
    assert (auth.secret_id, auth.date, auth.service) == (SECRET_ID, "2023-11-14", "tms")
    canonical = (
        "POST\n/\n\ncontent-type:application/json\nhost:tms.tencentcloudapi.com\n\n"
        f"content-type;host\n{hashlib.sha256(request.content).hexdigest()}"
    )
    to_sign = string_to_sign(timestamp=1_700_000_000, service="tms", canonical=canonical)
    assert auth.signature == Sign.sign_tc3(SECRET_KEY, "2023-11-14", "tms", to_sign)
    assert json.loads(request.content)["BizType"] == "Group"


def test_the_date_is_the_utc_day_not_the_local_one() -> None:
    # 2024-01-01 23:59:59 UTC is already 2 January in Beijing.
    assert utc_date(1_704_153_599) == "2024-01-01"
    assert utc_date(1_704_153_600) == "2024-01-02"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer abc",
        "TC3-HMAC-SHA256 Credential=id/2024-01-01/tms/tc3_request, SignedHeaders=, Signature="
        + "0" * 64,
        "TC3-HMAC-SHA256 Credential=id/2024-01-01/tms/tc3_request, "
        "SignedHeaders=content-type;;host, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=id/2024-01-01/tms/tc3_request SignedHeaders=host Signature=x",
    ],
)
def test_malformed_authorization_headers_are_refused(header: str) -> None:
    with pytest.raises(ValueError, match=r"TC3|empty"):
        parse_authorization(header)


def test_authorization_repr_hides_the_credential() -> None:
    auth = parse_authorization(_t1())
    assert T1_ID not in repr(auth)
    assert auth.signature not in repr(auth)
    assert auth.header() == _t1()
