"""The official ``azure-ai-contentsafety`` SDK against the emulator over real HTTP: it
gets the answers the emulator means, errors included. This is what keeps the emulator,
and so the cassettes recorded from it, honest."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from azure.ai.contentsafety import ContentSafetyClient
from azure.ai.contentsafety.models import (
    AnalyzeImageOptions,
    AnalyzeTextOptions,
    AnalyzeTextOutputType,
    ImageData,
    TextCategory,
)
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.rest import HttpResponse

from moderation_azure.emulator import (
    OFFICIAL_IMAGE_EXAMPLE,
    OFFICIAL_TEXT_EXAMPLE,
    AzureEmulator,
    make_png,
)
from moderation_core import Content, Decision, Label, Moderator
from moderation_core.testing import serve

from .helpers import API_KEY, emulator, table


@pytest.fixture
def emu() -> AzureEmulator:
    return emulator(retry_after=0)


@pytest.fixture
def endpoint(emu: AzureEmulator) -> Iterator[str]:
    with serve(emu) as url:
        yield url


def client(endpoint: str, key: str = API_KEY, **options: Any) -> ContentSafetyClient:
    # No retries: an error must reach the test as the emulator answered it.
    return ContentSafetyClient(
        endpoint, AzureKeyCredential(key), retry_total=0, **{"api_version": "2024-09-01", **options}
    )


def severities(result: Any) -> dict[str, int]:
    return {item.category: item.severity for item in result.categories_analysis}


def test_the_official_text_example(endpoint: str) -> None:
    with client(endpoint) as sdk:
        result = sdk.analyze_text(
            AnalyzeTextOptions(
                text="This is text example",
                categories=[
                    TextCategory.HATE,
                    TextCategory.SELF_HARM,
                    TextCategory.SEXUAL,
                    TextCategory.VIOLENCE,
                ],
                blocklist_names=["TestBlocklist"],
                halt_on_blocklist_hit=False,
                output_type=AnalyzeTextOutputType.FOUR_SEVERITY_LEVELS,
            )
        )
    assert result.as_dict() == OFFICIAL_TEXT_EXAMPLE


def test_the_official_image_example(endpoint: str) -> None:
    with client(endpoint) as sdk:
        result = sdk.analyze_image(
            AnalyzeImageOptions(image=ImageData(content=base64.b64decode("Y29udGVudDE=")))
        )
    assert result.as_dict() == OFFICIAL_IMAGE_EXAMPLE


def test_the_sdks_default_api_version_is_served_too(endpoint: str) -> None:
    # The SDK 1.0 sends 2023-10-01 unless told otherwise; both GA versions answer.
    with ContentSafetyClient(endpoint, AzureKeyCredential(API_KEY), retry_total=0) as sdk:
        result = sdk.analyze_text(AnalyzeTextOptions(text="kill them"))
    assert severities(result)["Violence"] == 6


def test_every_category_on_both_scales(endpoint: str) -> None:
    with client(endpoint) as sdk:
        four = sdk.analyze_text(AnalyzeTextOptions(text="vermin, nude, hurt myself, punch"))
        eight = sdk.analyze_text(
            AnalyzeTextOptions(
                text="vermin, nude, hurt myself, punch",
                output_type=AnalyzeTextOutputType.EIGHT_SEVERITY_LEVELS,
            )
        )
    assert severities(four) == {"Hate": 4, "SelfHarm": 4, "Sexual": 4, "Violence": 2}
    assert severities(eight) == {"Hate": 5, "SelfHarm": 4, "Sexual": 5, "Violence": 3}


def test_blocklist_matches_and_halting(endpoint: str) -> None:
    text = "kill them, blocked-term"
    with client(endpoint) as sdk:
        matched = sdk.analyze_text(AnalyzeTextOptions(text=text, blocklist_names=["TestBlocklist"]))
        halted = sdk.analyze_text(
            AnalyzeTextOptions(
                text=text, blocklist_names=["TestBlocklist"], halt_on_blocklist_hit=True
            )
        )
    (match,) = matched.blocklists_match or []
    assert (match.blocklist_name, match.blocklist_item_text) == ("TestBlocklist", "blocked-term")
    assert severities(matched)["Violence"] == 6
    assert halted.categories_analysis == []
    assert [m.blocklist_item_id for m in halted.blocklists_match or []] == [match.blocklist_item_id]


def test_an_image_from_the_emulators_image_host(endpoint: str) -> None:
    with client(endpoint) as sdk:
        result = sdk.analyze_image(AnalyzeImageOptions(image=ImageData(content=make_png("gore"))))
    assert severities(result)["Violence"] == 6


def test_our_provider_and_the_sdk_read_the_same_answers_alike(endpoint: str) -> None:
    texts = ["hello", "you idiot", "those people are vermin", "sexy"]
    with client(endpoint) as sdk:
        tops = [
            max(severities(sdk.analyze_text(AnalyzeTextOptions(text=t))).values()) for t in texts
        ]
    with Moderator.from_config({"providers": {"azure": table(endpoint=endpoint)}}) as mod:
        verdicts = mod.check_many(texts)
        image = mod.check(Content.image(f"{endpoint}/pictures/nsfw.png"))
    assert tops == [0, 2, 4, 2]
    assert [v.decision for v in verdicts] == [
        Decision.PASS,
        Decision.REVIEW,
        Decision.BLOCK,
        Decision.REVIEW,
    ]
    assert [v.score for v in verdicts] == [round(t * 100 / 6) for t in tops]
    assert (image.decision, image.label) == (Decision.BLOCK, Label.PORN)


def test_a_wrong_key_is_a_client_authentication_error(endpoint: str) -> None:
    with client(endpoint, key="f" * 32) as sdk, pytest.raises(ClientAuthenticationError) as caught:
        sdk.analyze_text(AnalyzeTextOptions(text="hello"))
    assert caught.value.status_code == 401
    assert "Access denied" in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("rate_limit", 429, "TooManyRequests"),
        ("internal", 500, "InternalError"),
        ("busy", 503, "ServerBusy"),
        ("invalid", 400, "InvalidRequestBody"),
    ],
)
def test_each_documented_error_reaches_the_sdk_with_its_code(
    endpoint: str, emu: AzureEmulator, fault: str, status: int, code: str
) -> None:
    emu.inject(fault)
    with client(endpoint) as sdk, pytest.raises(HttpResponseError) as caught:
        sdk.analyze_text(AnalyzeTextOptions(text="hello"))
    assert caught.value.status_code == status
    assert caught.value.error is not None
    assert caught.value.error.code == code
    response = caught.value.response
    assert isinstance(response, HttpResponse)
    assert response.headers["x-ms-error-code"] == code


def test_the_sdk_retries_a_429_after_its_retry_after(endpoint: str, emu: AzureEmulator) -> None:
    emu.inject("rate_limit")
    with ContentSafetyClient(
        endpoint, AzureKeyCredential(API_KEY), retry_total=1, retry_backoff_factor=0
    ) as sdk:
        result = sdk.analyze_text(AnalyzeTextOptions(text="hello"))
    assert severities(result)["Hate"] == 0
    assert emu.requests == 2


def test_the_service_limits_reach_the_sdk(endpoint: str) -> None:
    with client(endpoint) as sdk:
        with pytest.raises(HttpResponseError) as too_long:
            sdk.analyze_text(AnalyzeTextOptions(text="a" * 10_001))
        with pytest.raises(HttpResponseError) as eight_for_image:
            sdk.analyze_image(
                AnalyzeImageOptions(
                    image=ImageData(content=make_png("x")), output_type="EightSeverityLevels"
                )
            )
        with pytest.raises(HttpResponseError) as tiny:
            sdk.analyze_image(AnalyzeImageOptions(image=ImageData(content=make_png("x", size=10))))
        with pytest.raises(HttpResponseError) as unknown_list:
            sdk.analyze_text(AnalyzeTextOptions(text="x", blocklist_names=["Nope"]))
        assert sdk.analyze_text(AnalyzeTextOptions(text="😀" * 10_000)) is not None
    assert too_long.value.status_code == eight_for_image.value.status_code == 400
    assert tiny.value.error is not None
    assert tiny.value.error.code == "InvalidRequestBody"
    assert unknown_list.value.status_code == 404


def test_a_missing_api_version_is_not_found(endpoint: str) -> None:
    with (
        client(endpoint, api_version="1999-01-01") as sdk,
        pytest.raises(HttpResponseError) as caught,
    ):
        sdk.analyze_text(AnalyzeTextOptions(text="hello"))
    assert caught.value.status_code == 404
