"""What the provider sends and what it makes of the answers: the request (batching,
an image alone, headers, model), the label map, the decision with its thresholds, the
verdict's fields, and the text-moderation models' null categories."""

from __future__ import annotations

from typing import cast

import pytest

from moderation_core import Content, ContentType, Decision, InvalidContent, Label, Verdict
from moderation_core.testing import RecordingTransport
from moderation_openai import CATEGORIES, CategoryThresholds, judge, label_for
from moderation_openai._wire import ModerationResult
from tests.support.providers import answer

from .helpers import API_KEY, PATH, emulator, moderator, provider, response, result, sent_json

# -- labels ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "label"),
    [
        ("harassment", Label.ABUSE),
        ("harassment/threatening", Label.ABUSE),
        ("hate", Label.HATE),
        ("hate/threatening", Label.HATE),
        ("illicit", Label.ILLEGAL),
        ("illicit/violent", Label.ILLEGAL),
        ("self-harm", Label.SELF_HARM),
        ("self-harm/intent", Label.SELF_HARM),
        ("self-harm/instructions", Label.SELF_HARM),
        ("sexual", Label.PORN),
        ("sexual/minors", Label.PORN),
        ("violence", Label.VIOLENCE),
        ("violence/graphic", Label.VIOLENCE),
        ("sexual/suggestive", Label.OTHER),  # not documented: not guessed to be PORN
        ("spam", Label.OTHER),
    ],
)
def test_every_category_maps_to_its_label(category: str, label: Label) -> None:
    assert label_for(category) is label


def test_the_label_map_covers_every_documented_category() -> None:
    assert all(label_for(key) is not Label.OTHER for key in CATEGORIES)
    assert len(CATEGORIES) == 13


# -- the decision ----------------------------------------------------------------------


def _judge(
    raw: dict[str, object],
    thresholds: dict[str, CategoryThresholds] | None = None,
    review_at: float = 0.3,
) -> tuple[Decision, str | None]:
    item = ModerationResult(
        flagged=bool(raw["flagged"]),
        categories=cast("dict[str, bool | None]", raw["categories"]),
        category_scores=cast("dict[str, float | None]", raw["category_scores"]),
    )
    return judge(item, thresholds or {}, review_at)


def test_a_flagged_category_blocks_and_the_highest_flagged_score_names_it() -> None:
    raw = result({"harassment": 0.6, "violence": 0.9, "hate": 0.4})
    assert _judge(raw) == (Decision.BLOCK, "violence")


def test_a_flag_decides_even_when_an_unflagged_category_scores_higher() -> None:
    # sexual/minors flagged at 0.3 by the vendor; harassment 0.45 not flagged.
    raw = result({"sexual/minors": 0.3, "harassment": 0.45}, {"sexual/minors": True})
    assert _judge(raw) == (Decision.BLOCK, "sexual/minors")


def test_not_flagged_but_at_the_review_threshold_is_review() -> None:
    assert _judge(result({"harassment": 0.3})) == (Decision.REVIEW, "harassment")
    assert _judge(result({"harassment": 0.29})) == (Decision.PASS, None)


def test_review_at_from_the_config() -> None:
    assert _judge(result({"hate": 0.2}), review_at=0.2) == (Decision.REVIEW, "hate")
    assert _judge(result({"hate": 0.2}), review_at=0.25) == (Decision.PASS, None)


def test_a_category_block_at_replaces_the_vendor_flag() -> None:
    strict = {"sexual/minors": CategoryThresholds(block_at=0.1)}
    assert _judge(result({"sexual/minors": 0.15}), strict) == (Decision.BLOCK, "sexual/minors")
    lenient = {"harassment": CategoryThresholds(block_at=0.95)}
    flagged = result({"harassment": 0.8})
    assert flagged["flagged"] is True
    assert _judge(flagged, lenient) == (Decision.REVIEW, "harassment")


def test_a_block_at_without_a_score_leaves_the_vendor_flag_in_charge() -> None:
    raw = result({}, {"illicit": True})
    raw["category_scores"]["illicit"] = None
    bands = {"illicit": CategoryThresholds(block_at=0.9)}
    assert _judge(raw, bands) == (Decision.BLOCK, "illicit")


def test_a_category_review_at_overrides_the_config_one() -> None:
    bands = {"violence": CategoryThresholds(review_at=0.05)}
    assert _judge(result({"violence": 0.06}), bands) == (Decision.REVIEW, "violence")
    quiet = {"hate": CategoryThresholds(review_at=0.45)}
    assert _judge(result({"hate": 0.4}), quiet) == (Decision.PASS, None)


def test_flagged_without_a_category_is_never_a_pass() -> None:
    raw = result({"hate": 0.2}, flagged=True)
    assert not any(raw["categories"].values())
    assert _judge(raw) == (Decision.BLOCK, "hate")


def test_null_illicit_flags_and_missing_scores_are_tolerated() -> None:
    raw = result({"harassment": 0.9}, {"illicit": None, "illicit/violent": None})
    del raw["category_scores"]["illicit"]
    raw["category_scores"]["illicit/violent"] = None
    assert _judge(raw) == (Decision.BLOCK, "harassment")
    assert _judge(result({}, {"illicit": None})) == (Decision.PASS, None)


# -- verdicts, through the Moderator -----------------------------------------------------


def test_a_block_verdict_carries_label_sublabel_vendor_label_score_and_request_id() -> None:
    raw = result({"violence": 0.9971134662628174, "harassment": 0.52})
    recording = answer(response(raw))
    with moderator(recording) as mod:
        verdict = mod.check("I want to kill them.")
    assert (verdict.decision, verdict.label, verdict.sublabel, verdict.vendor_label) == (
        Decision.BLOCK,
        Label.VIOLENCE,
        "violence",
        "violence",
    )
    assert verdict.score == 100  # round(99.71)
    assert verdict.request_id == "modr-test"
    assert verdict.raw == raw
    assert verdict.keywords == ()
    assert verdict.masked_text is None
    assert verdict.provider == "openai"


def test_a_pass_verdict_is_normal_and_keeps_how_close_it_came() -> None:
    with moderator(answer(response(result({"hate": 0.123})))) as mod:
        verdict = mod.check("hello")
    assert (verdict.decision, verdict.label, verdict.sublabel, verdict.vendor_label) == (
        Decision.PASS,
        Label.NORMAL,
        None,
        None,
    )
    assert verdict.score == 12


def test_score_is_round_100_times_the_deciding_category() -> None:
    with moderator(answer(response(result({"harassment": 0.345})))) as mod:
        verdict = mod.check("stupid")
    assert (verdict.decision, verdict.label, verdict.score) == (Decision.REVIEW, Label.ABUSE, 34)


# -- the requests ----------------------------------------------------------------------


def test_texts_go_as_one_string_array_with_the_model_and_the_bearer_key() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        verdicts = mod.check_many(["hello", "you idiot", "stupid"])
    (request,) = recording.requests
    assert request.method == "POST"
    assert str(request.url) == f"http://openai.test{PATH}"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert "OpenAI-Organization" not in request.headers
    assert "OpenAI-Project" not in request.headers
    assert sent_json(request) == {
        "model": "omni-moderation-latest",
        "input": ["hello", "you idiot", "stupid"],
    }
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.BLOCK, Decision.REVIEW]


def test_organization_project_and_model_are_sent_when_configured() -> None:
    recording = RecordingTransport(emulator(organization="org-1", project="proj_2"))
    with moderator(
        recording, organization="org-1", project="proj_2", model="omni-moderation-2024-09-26"
    ) as mod:
        mod.check("hello")
    (request,) = recording.requests
    assert request.headers["OpenAI-Organization"] == "org-1"
    assert request.headers["OpenAI-Project"] == "proj_2"
    assert sent_json(request)["model"] == "omni-moderation-2024-09-26"


def test_batches_follow_batch_size_with_one_result_per_input_in_order() -> None:
    recording = RecordingTransport(emulator())
    texts = [f"message {i}" for i in range(5)] + ["you idiot"]
    with moderator(recording, batch_size=2) as mod:
        verdicts = mod.check_many(texts)
    assert [len(sent_json(r)["input"]) for r in recording.requests] == [2, 2, 2]
    sent = [text for r in recording.requests for text in sent_json(r)["input"]]
    assert sorted(sent) == sorted(texts)
    assert [v.decision for v in verdicts] == [Decision.PASS] * 5 + [Decision.BLOCK]


def test_the_default_batch_is_conservative() -> None:
    caps = provider().capabilities
    assert caps.batch_size == 8
    assert caps.batch_types == frozenset({ContentType.TEXT})
    assert caps.content_types == frozenset({ContentType.TEXT, ContentType.IMAGE})
    assert caps.max_text_bytes == 8000


def test_an_image_goes_alone_as_one_multimodal_item() -> None:
    recording = RecordingTransport(emulator())
    contents: list[Content | str] = [
        "hello",
        Content.image("https://cdn.example.com/gore.png", id="img"),
        "stupid",
    ]
    with moderator(recording) as mod:
        hello, image, stupid = mod.check_many(contents)
    bodies = [sent_json(r) for r in recording.requests]
    image_bodies = [b for b in bodies if isinstance(b["input"][0], dict)]
    assert image_bodies == [
        {
            "model": "omni-moderation-latest",
            "input": [
                {"type": "image_url", "image_url": {"url": "https://cdn.example.com/gore.png"}}
            ],
        }
    ]
    assert [b["input"] for b in bodies if b not in image_bodies] == [["hello", "stupid"]]
    assert (image.decision, image.label, image.sublabel, image.content_id) == (
        Decision.BLOCK,
        Label.VIOLENCE,
        "violence",
        "img",
    )
    assert (hello.decision, stupid.decision) == (Decision.PASS, Decision.REVIEW)


def test_a_text_moderation_model_takes_no_images() -> None:
    caps = provider(model="text-moderation-latest").capabilities
    assert caps.content_types == frozenset({ContentType.TEXT})
    with (
        moderator(emulator(), model="text-moderation-latest") as mod,
        pytest.raises(InvalidContent),
    ):
        mod.check(Content.image("https://cdn.example.com/a.png"))


def test_a_text_moderation_model_answers_with_null_illicit_categories() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, model="text-moderation-latest") as mod:
        verdict = mod.check("how to shoplift, you idiot")
    raw = recording.exchanges[0].response
    assert raw is not None
    item = raw.json()["results"][0]
    assert item["categories"]["illicit"] is None
    assert "illicit" not in item["category_scores"]
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.ABUSE)


@pytest.mark.parametrize(
    "base_url", ["http://openai.test", "http://openai.test/", "http://openai.test/v1"]
)
def test_base_url_with_or_without_v1_reaches_v1_moderations_once(base_url: str) -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, base_url=base_url) as mod:
        mod.check("hello")
    assert recording.paths() == [PATH]


def test_the_default_host_is_api_openai_com() -> None:
    described = provider(base_url=None).describe()
    assert described["host"] == "api.openai.com"
    assert described["model"] == "omni-moderation-latest"
    assert API_KEY not in repr(described)


def test_thresholds_in_config_change_the_verdict() -> None:
    with moderator(
        emulator(), thresholds={"harassment": {"review_at": 0.5, "block_at": 0.95}}
    ) as mod:
        idiot, stupid = mod.check_many(["you idiot", "stupid"])
    assert isinstance(idiot, Verdict)
    assert (idiot.decision, idiot.score) == (Decision.REVIEW, 93)
    assert stupid.decision is Decision.PASS
