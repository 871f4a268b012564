"""The official SDK (tencentcloud-sdk-python-tms / -ims) pointed at the emulator over
real HTTP gets the answers the emulator means, errors included: what keeps the
emulator, and so the cassettes, honest. Our provider reads the same answers alike."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ims.v20201229 import ims_client
from tencentcloud.ims.v20201229 import models as ims_models
from tencentcloud.tms.v20201229 import models as tms_models
from tencentcloud.tms.v20201229 import tms_client

from moderation_core import Content, Decision, Label, Moderator
from moderation_core.testing import Clock, serve
from moderation_tencent_tms.emulator import SEED_IMAGE_ANSWERS, SEED_TEXT_ANSWERS

from .helpers import REGION, SECRET_ID, SECRET_KEY, TOKEN, config, emulator


def _profile(base_url: str) -> ClientProfile:
    endpoint = base_url.split("://", 1)[1].rstrip("/")
    return ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=10))


def _credential(
    secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY, token: str | None = None
) -> Any:
    return credential.Credential(secret_id, secret_key, token)


@pytest.fixture
def base_url() -> Iterator[str]:
    with serve(emulator()) as url:
        yield url


def _text_request(text: str | None = None, **fields: Any) -> tms_models.TextModerationRequest:
    params = dict(fields)
    if text is not None:
        params["Content"] = base64.b64encode(text.encode()).decode()
    request = tms_models.TextModerationRequest()
    request.from_json_string(json.dumps(params))
    return request


def _tms(base_url: str, **cred: Any) -> tms_client.TmsClient:
    return tms_client.TmsClient(_credential(**cred), REGION, _profile(base_url))


def _ims(base_url: str, **cred: Any) -> ims_client.ImsClient:
    return ims_client.ImsClient(_credential(**cred), REGION, _profile(base_url))


def _sdk_error(call: Any, *args: Any) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as caught:
        call(*args)
    return caught.value


def test_official_text_example_as_printed(base_url: str) -> None:
    request = _text_request(
        BizType="bigotest", User={"RoomId": "字符串", "ReceiverId": "123", "UserId": "user1"}
    )
    request.Content = "5LusCg"  # exactly as the example sends it, without base64 padding
    answer = json.loads(_tms(base_url).TextModeration(request).to_json_string())
    expected = dict(SEED_TEXT_ANSWERS["们\n"]["Response"])
    details = expected.pop("DetailResults")
    assert {k: answer[k] for k in expected} == expected
    # The SDK's model adds the fields it knows (HitInfos...) as null: compare the sent ones.
    for got, sent in zip(answer["DetailResults"], details, strict=True):
        assert {k: got[k] for k in sent} == sent


def test_official_block_example(base_url: str) -> None:
    answer = _tms(base_url).TextModeration(_text_request("绘声绘色"))
    assert (answer.Suggestion, answer.Label, answer.SubLabel, answer.Score) == (
        "Block",
        "Ad",
        "Contact",
        87,
    )
    assert answer.Keywords == ["加我好友，给你发优惠券"]
    assert answer.RiskDetails[0].Label == "RiskAccount"


def test_official_image_example(base_url: str) -> None:
    request = ims_models.ImageModerationRequest()
    request.from_json_string(
        json.dumps({"BizType": "test_1001", "DataId": "1213", "FileUrl": "https://xxx.jpg"})
    )
    answer = json.loads(_ims(base_url).ImageModeration(request).to_json_string())
    expected = SEED_IMAGE_ANSWERS["https://xxx.jpg"]["Response"]
    assert answer["RequestId"] == expected["RequestId"]
    assert answer["ObjectResults"][0]["Details"][0]["Location"]["Width"] == 769.9824
    assert (answer["Label"], answer["SubLabel"], answer["Score"]) == ("Porn", "SexBehavior", 90)


LABELLED = [
    ("今天天气不错", "Pass", "Normal", Decision.PASS, Label.NORMAL),
    ("涉政测试", "Block", "Polity", Decision.BLOCK, Label.POLITICS),
    ("这里有炸弹", "Block", "Terror", Decision.BLOCK, Label.VIOLENCE),
    ("色情内容", "Block", "Porn", Decision.BLOCK, Label.PORN),
    ("卖毒品", "Block", "Illegal", Decision.BLOCK, Label.ILLEGAL),
    ("你这个傻逼", "Block", "Abuse", Decision.BLOCK, Label.ABUSE),
    ("自定义词", "Block", "Custom", Decision.BLOCK, Label.OTHER),
    ("未成年吸烟", "Review", "Teenager", Decision.REVIEW, Label.OTHER),
    ("spam-test", "Review", "Spam", Decision.REVIEW, Label.OTHER),
    ("加我微信", "Review", "Ad", Decision.REVIEW, Label.AD),
    ("性感照片", "Review", "Sexy", Decision.REVIEW, Label.SEXY),
]


def test_every_label_reads_the_same_through_the_sdk_and_the_provider(base_url: str) -> None:
    client = _tms(base_url)
    with Moderator.from_config(config(base_url=base_url)) as mod:
        verdicts = mod.check_many([text for text, *_ in LABELLED], scene="Group")
    for (text, suggestion, label, decision, ours), verdict in zip(LABELLED, verdicts, strict=True):
        answer = client.TextModeration(_text_request(text, BizType="Group"))
        assert (answer.Suggestion, answer.Label) == (suggestion, label), text
        assert (verdict.decision, verdict.label, verdict.vendor_label) == (decision, ours, label)
        assert verdict.score == answer.Score
        assert list(verdict.keywords) == list(answer.Keywords or [])


def test_images_read_the_same_through_the_sdk_and_the_provider(base_url: str) -> None:
    request = ims_models.ImageModerationRequest()
    request.FileUrl = "https://cdn.example.com/qrcode_1.png"
    answer = _ims(base_url).ImageModeration(request)
    with Moderator.from_config(config(base_url=base_url)) as mod:
        verdict = mod.check(Content.image(request.FileUrl))
    assert (answer.Suggestion, answer.Label, answer.SubLabel) == ("Review", "Ad", "QRCode")
    assert (verdict.decision, verdict.label, verdict.sublabel) == (
        Decision.REVIEW,
        Label.AD,
        "QRCode",
    )


@pytest.mark.parametrize(
    ("cred", "code"),
    [
        ({"secret_key": "not-the-key"}, "AuthFailure.SignatureFailure"),
        ({"secret_id": "AKIDsomeoneElse000000000000000000"}, "AuthFailure.SecretIdNotFound"),
    ],
)
def test_credentials_refused(base_url: str, cred: dict[str, str], code: str) -> None:
    error = _sdk_error(_tms(base_url, **cred).TextModeration, _text_request("hello"))
    assert error.get_code() == code
    assert error.get_request_id()


def test_a_clock_five_minutes_off_is_signature_expire() -> None:
    clock = Clock(now=time.time() + 310)  # off from the SDK's clock, whatever it reads
    with serve(emulator(clock=clock)) as url:
        error = _sdk_error(_tms(url).TextModeration, _text_request("hello"))
        assert error.get_code() == "AuthFailure.SignatureExpire"
        clock.advance(-20)  # 290 s off: inside the window
        assert _tms(url).TextModeration(_text_request("hello")).Suggestion == "Pass"


def test_temporary_credentials_need_their_token() -> None:
    with serve(emulator(token=TOKEN)) as url:
        assert _tms(url, token=TOKEN).TextModeration(_text_request("hello")).Suggestion == "Pass"
        error = _sdk_error(_tms(url).TextModeration, _text_request("hello"))
    assert error.get_code() == "AuthFailure.TokenFailure"


@pytest.mark.parametrize(
    "code",
    [
        "InternalError",
        "InternalError.ErrTextTimeOut",
        "InternalError.QueryReqLimited",
        "RequestLimitExceeded",
        "UnauthorizedOperation.Unauthorized",
        "ResourceUnavailable.InQueueError",
    ],
)
def test_injected_vendor_errors(base_url: str, code: str) -> None:
    error = _sdk_error(_tms(base_url).TextModeration, _text_request(f"x [[fault:{code}]]"))
    assert error.get_code() == code


def test_request_errors(base_url: str) -> None:
    client = _tms(base_url)
    too_long = _sdk_error(client.TextModeration, _text_request("a" * 10_001))
    assert too_long.get_code() == "InvalidParameterValue.ErrTextContentLen"
    not_base64 = _text_request()
    not_base64.Content = "not base64!"
    assert (
        _sdk_error(client.TextModeration, not_base64).get_code()
        == "InvalidParameterValue.ErrTextContentType"
    )
    bad_biz = _text_request("hello", BizType="x!")
    assert (
        _sdk_error(client.TextModeration, bad_biz).get_code()
        == "InvalidParameterValue.InvalidBizType"
    )
    no_image = ims_models.ImageModerationRequest()
    assert (
        _sdk_error(_ims(base_url).ImageModeration, no_image).get_code()
        == "InvalidParameterValue.EmptyImageContent"
    )


def test_unsupported_region() -> None:
    with serve(emulator(regions="ap-singapore")) as url:
        client = tms_client.TmsClient(_credential(), "eu-frankfurt", _profile(url))
        error = _sdk_error(client.TextModeration, _text_request("hello"))
    assert error.get_code() == "UnsupportedRegion"


def test_http_errors_reach_the_sdk_as_server_network_errors(base_url: str) -> None:
    error = _sdk_error(_tms(base_url).TextModeration, _text_request("x [[fault:http502]]"))
    assert error.get_code() == "ServerNetworkError"
