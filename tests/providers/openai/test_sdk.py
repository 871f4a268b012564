"""The official ``openai`` SDK against the emulator over real HTTP: it gets the answers
the emulator means, errors included. This is what keeps the emulator, and so the
cassettes recorded from it, honest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types import ModerationImageURLInputParam, ModerationMultiModalInputParam

from moderation_core import Decision, Label, Moderator
from moderation_core.testing import serve
from moderation_openai.emulator import OpenAIEmulator

from .helpers import API_KEY, emulator, table


@pytest.fixture
def emu() -> OpenAIEmulator:
    return emulator(organization="org-emulator", project="proj_emulator", retry_after_ms=5)


@pytest.fixture
def base_url(emu: OpenAIEmulator) -> Iterator[str]:
    with serve(emu) as url:
        yield url


def client(base_url: str, **options: Any) -> openai.OpenAI:
    settings: dict[str, Any] = {
        "api_key": API_KEY,
        "organization": "org-emulator",
        "project": "proj_emulator",
        "base_url": f"{base_url}/v1",
        "max_retries": 0,
    }
    settings.update(options)
    return openai.OpenAI(**settings)


def test_the_official_text_example(base_url: str) -> None:
    with client(base_url) as sdk:
        answer = sdk.moderations.create(
            model="text-moderation-latest", input="I want to kill them."
        )
    assert answer.id == "modr-AB8CjOTu2jiq12hp1AQPfeqFWaORR"
    assert answer.model == "text-moderation-007"
    (item,) = answer.results
    assert item.flagged
    assert (item.categories.harassment, item.categories.violence) == (True, True)
    assert item.categories.illicit is None  # text-moderation models: nullable
    assert item.category_scores.violence == 0.9971134662628174
    assert item.category_scores.harassment_threatening == 0.5694745779037476


def test_the_official_image_and_text_example(base_url: str) -> None:
    inputs: list[ModerationMultiModalInputParam] = [
        {"type": "text", "text": "...text to classify goes here..."},
        {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}},
    ]
    with client(base_url) as sdk:
        answer = sdk.moderations.create(model="omni-moderation-latest", input=inputs)
    assert answer.id == "modr-0d9740456c391e43c445bf0f010940c7"
    (item,) = answer.results  # a multimodal input: one combined result
    assert item.categories.violence_graphic is True
    assert item.category_scores.violence == 0.9999992735124786
    assert item.category_applied_input_types.sexual == ["text", "image"]
    assert item.category_applied_input_types.harassment == ["text"]


def test_a_string_array_gets_one_result_per_string(base_url: str) -> None:
    texts = ["hello", "you idiot", "how to shoplift", "kill myself", "nude pics", "gore"]
    with client(base_url) as sdk:
        answer = sdk.moderations.create(input=texts)
    assert answer.model == "omni-moderation-latest"
    assert [r.flagged for r in answer.results] == [False, True, True, True, True, True]
    hello, idiot, shoplift, self_harm, nude, gore = answer.results
    assert idiot.categories.harassment
    assert shoplift.categories.illicit
    assert self_harm.categories.self_harm_intent
    assert nude.categories.sexual
    assert gore.categories.violence_graphic
    assert hello.category_applied_input_types.violence == ["text"]


def test_our_provider_and_the_sdk_read_the_same_answer_alike(base_url: str) -> None:
    texts = ["hello", "you idiot", "stupid"]
    with client(base_url) as sdk:
        flagged = [r.flagged for r in sdk.moderations.create(input=texts).results]
    served = table(base_url=base_url, organization="org-emulator", project="proj_emulator")
    with Moderator.from_config({"providers": {"openai": served}}) as mod:
        verdicts = mod.check_many(texts)
    assert flagged == [False, True, False]
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.BLOCK, Decision.REVIEW]
    assert verdicts[1].label is Label.ABUSE


def test_a_wrong_key_is_an_authentication_error(base_url: str) -> None:
    with (
        client(base_url, api_key="sk-not-the-key-0000000000") as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.moderations.create(input="hello")
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


def test_a_foreign_organization_is_an_authentication_error(base_url: str) -> None:
    with (
        client(base_url, organization="org-other") as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.moderations.create(input="hello")
    assert caught.value.code == "mismatched_organization"


def test_a_rate_limit_and_a_quota_are_both_rate_limit_errors_told_apart_by_code(
    base_url: str, emu: OpenAIEmulator
) -> None:
    emu.inject("rate_limit")
    with client(base_url) as sdk, pytest.raises(openai.RateLimitError) as limited:
        sdk.moderations.create(input="hello")
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after-ms"] == "5"
    emu.inject("quota")
    with client(base_url) as sdk, pytest.raises(openai.RateLimitError) as quota:
        sdk.moderations.create(input="hello")
    assert quota.value.code == "insufficient_quota"


def test_the_sdk_honours_the_emulators_retry_headers(base_url: str, emu: OpenAIEmulator) -> None:
    emu.inject("rate_limit")
    with client(base_url, max_retries=1) as sdk:
        answer = sdk.moderations.create(input="you idiot")
    assert answer.results[0].flagged
    assert emu.requests == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("500", openai.InternalServerError),
        ("502", openai.InternalServerError),
        ("503", openai.InternalServerError),
        ("region", openai.PermissionDeniedError),
        ("bad_request", openai.BadRequestError),
    ],
)
def test_faults_are_the_sdks_matching_errors(
    base_url: str, emu: OpenAIEmulator, fault: str, error: type[openai.APIStatusError]
) -> None:
    emu.inject(fault)
    with client(base_url) as sdk, pytest.raises(error):
        sdk.moderations.create(input="hello")


def test_an_unknown_model_is_not_found(base_url: str) -> None:
    with client(base_url) as sdk, pytest.raises(openai.NotFoundError) as caught:
        sdk.moderations.create(model="omni-moderation-9999", input="hello")
    assert caught.value.code == "model_not_found"


def test_an_image_on_a_text_model_is_a_bad_request(base_url: str) -> None:
    image: ModerationImageURLInputParam = {
        "type": "image_url",
        "image_url": {"url": "https://example.com/a.png"},
    }
    with client(base_url) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.moderations.create(model="text-moderation-stable", input=[image])
    assert "image" in caught.value.message


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("garbage", openai.APIResponseValidationError),
        ("no_results", openai.APIResponseValidationError),
        ("truncated", ValueError),
    ],
)
def test_broken_answers_are_not_moderations_for_the_sdk_either(
    base_url: str, emu: OpenAIEmulator, fault: str, error: type[Exception]
) -> None:
    emu.inject(fault)
    with client(base_url, _strict_response_validation=True) as sdk, pytest.raises(error):
        sdk.moderations.create(input="hello")
