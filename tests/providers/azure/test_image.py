"""Images: the flow GETs the image (a sans-IO request the core sends like any other)
and sends it as base64, bounded at 4 MB; whatever is missing, too large or not an
image is InvalidContent, a failing image host a ProviderUnavailable."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from moderation_azure import MAX_IMAGE_BYTES, fetch_image, image_format
from moderation_azure.emulator import AzureEmulator, make_png
from moderation_core import (
    AllProvidersFailed,
    Content,
    Decision,
    InvalidContent,
    Label,
    ProviderUnavailable,
    Verdict,
)
from moderation_core.testing import RecordingTransport
from tests.support.providers import failure

from .helpers import (
    API_KEY,
    HOST,
    IMAGE_PATH,
    IMAGE_URL,
    async_moderator,
    emulator,
    moderator,
    sent_json,
)

ImageHost = Callable[[httpx.Request], httpx.Response]


def with_image_host(image_host: ImageHost, emu: AzureEmulator | None = None) -> RecordingTransport:
    """Azure's host answered by the emulator, any other by ``image_host``."""
    vendor = emu or emulator()

    def route(request: httpx.Request) -> httpx.Response:
        return vendor(request) if request.url.host == HOST else image_host(request)

    return RecordingTransport(route)


def serving(data: bytes, status: int = 200, headers: dict[str, str] | None = None) -> ImageHost:
    return lambda _request: httpx.Response(status, content=data, headers=headers)


def answered(recording: RecordingTransport, index: int) -> httpx.Response:
    response = recording.exchanges[index].response
    assert response is not None
    return response


def image_error(handler: RecordingTransport, url: str = IMAGE_URL) -> InvalidContent:
    with moderator(handler) as mod, pytest.raises(InvalidContent) as caught:
        mod.check(Content.image(url))
    assert handler.paths()[-1] != IMAGE_PATH  # refused before asking Azure
    return caught.value


def test_an_image_is_fetched_and_sent_as_base64() -> None:
    recording = RecordingTransport(emulator())  # the emulator plays the image host too
    with moderator(recording) as mod:
        verdict = mod.check(Content.image("https://img.example.com/nsfw.png", id="i-1"))
    fetch, analyze = recording.requests
    assert (fetch.method, fetch.url.host, fetch.url.path) == ("GET", "img.example.com", "/nsfw.png")
    assert fetch.headers["Range"] == f"bytes=0-{MAX_IMAGE_BYTES}"
    assert fetch.headers["Accept-Encoding"] == "identity"
    assert "Ocp-Apim-Subscription-Key" not in fetch.headers  # the key goes to Azure only
    assert analyze.url.path == IMAGE_PATH
    assert analyze.headers["Ocp-Apim-Subscription-Key"] == API_KEY
    image = base64.b64decode(sent_json(analyze)["image"]["content"])
    assert image == answered(recording, 0).content
    assert sent_json(analyze)["outputType"] == "FourSeverityLevels"
    assert (verdict.decision, verdict.label, verdict.score, verdict.content_id) == (
        Decision.BLOCK,
        Label.PORN,
        100,
        "i-1",
    )


def test_images_use_four_levels_whatever_the_text_output_type() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, output_type="EightSeverityLevels", categories=["Violence"]) as mod:
        verdict = mod.check(Content.image("https://img.example.com/weapon.png"))
    body = sent_json(recording.requests[1])
    assert (body["outputType"], body["categories"]) == ("FourSeverityLevels", ["Violence"])
    assert (verdict.decision, verdict.label, verdict.score) == (Decision.BLOCK, Label.VIOLENCE, 67)


def test_an_image_of_exactly_4_mb_is_sent() -> None:
    recording = RecordingTransport(emulator())
    url = f"https://img.example.com/cat.png?bytes={MAX_IMAGE_BYTES}"
    with moderator(recording) as mod:
        verdict = mod.check(Content.image(url))
    assert verdict.decision is Decision.PASS
    assert len(base64.b64decode(sent_json(recording.requests[1])["image"]["content"])) == (
        MAX_IMAGE_BYTES
    )


def test_one_byte_over_is_refused_by_the_range_answer() -> None:
    recording = RecordingTransport(emulator())
    url = f"https://img.example.com/cat.png?bytes={MAX_IMAGE_BYTES + 1}"
    error = image_error(recording, url)
    assert "over Azure's 4 MB limit" in str(error)
    assert len(recording.exchanges) == 1
    assert answered(recording, 0).status_code == 206  # only the first 4 MB + 1 came


def test_a_host_ignoring_range_is_refused_by_its_content_length() -> None:
    big = make_png("cat", pad_to=MAX_IMAGE_BYTES + 10)
    assert "over Azure's 4 MB limit" in str(image_error(with_image_host(serving(big))))


def test_a_host_hiding_its_length_is_refused_by_the_body() -> None:
    big = make_png("cat", pad_to=MAX_IMAGE_BYTES + 10)

    def chunked(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([big[:1000], big[1000:]]))  # no Content-Length

    assert "over Azure's 4 MB limit" in str(image_error(with_image_host(chunked)))


def test_a_lying_content_range_does_not_let_a_large_body_through() -> None:
    big = make_png("cat", pad_to=MAX_IMAGE_BYTES + 10)
    host = serving(big, 206, {"Content-Range": "bytes 0-99/100"})
    assert "over Azure's 4 MB limit" in str(image_error(with_image_host(host)))


def test_an_unreadable_length_is_ignored_and_the_body_decides() -> None:
    small = make_png("cat")
    host = serving(small, headers={"Content-Range": "bytes 0-1/" + "9" * 5000})
    with moderator(with_image_host(host)) as mod:
        assert mod.check(Content.image(IMAGE_URL)).decision is Decision.PASS


@pytest.mark.parametrize(
    ("host", "words"),
    [
        (serving(b"not found", 404), "could not be fetched (HTTP 404)"),
        (serving(b"", 403), "could not be fetched (HTTP 403)"),
        (serving(b"", 416), "is empty"),
        (serving(b""), "is empty"),
        (serving(b"<html>a page</html>", headers={"Content-Type": "image/png"}), "is not an image"),
        (serving(b"\x00\x00\x01\x00ico"), "is not an image"),
    ],
)
def test_what_is_not_an_image_azure_takes_is_invalid_content(host: ImageHost, words: str) -> None:
    error = image_error(with_image_host(host))
    assert words in str(error)
    assert "images.example.com" in str(error)


def test_messages_name_the_host_never_the_url() -> None:
    url = "https://blob.example.com/c/cat.png?sv=2024&sig=SECRETSIGNATURE"
    error = image_error(with_image_host(serving(b"", 404)), url)
    assert "blob.example.com" in str(error)
    assert "SECRETSIGNATURE" not in str(error)
    assert "cat.png" not in str(error)


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_a_failing_image_host_is_provider_unavailable(status: int) -> None:
    recording = with_image_host(serving(b"", status))
    with moderator(recording) as mod:
        error = failure(mod, Content.image(IMAGE_URL))
    assert isinstance(error, ProviderUnavailable)
    assert error.code == "image_host"
    assert recording.paths() == ["/cat.png"]


def test_an_unreachable_image_host_is_provider_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with moderator(with_image_host(refuse)) as mod:
        error = failure(mod, Content.image(IMAGE_URL))
    assert isinstance(error, ProviderUnavailable)
    assert "images.example.com" in str(error)


def test_redirects_are_followed_to_http_urls() -> None:
    png = make_png("cat")

    def host(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old.png":
            return httpx.Response(301, headers={"Location": "/moved/cat.png"})
        if request.url.path == "/moved/cat.png":
            return httpx.Response(302, headers={"Location": "https://cdn.example.com/cat.png"})
        return httpx.Response(200, content=png)

    recording = with_image_host(host)
    with moderator(recording) as mod:
        assert mod.check(Content.image("https://images.example.com/old.png")).decision is (
            Decision.PASS
        )
    assert [str(r.url) for r in recording.requests[:3]] == [
        "https://images.example.com/old.png",
        "https://images.example.com/moved/cat.png",
        "https://cdn.example.com/cat.png",
    ]


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("file:///etc/passwd", "no usable http(s) URL"),
        ("", "no usable http(s) URL"),
        ("/again.png", "redirects more than 3 times"),
    ],
)
def test_redirects_that_lead_nowhere_are_invalid_content(location: str, words: str) -> None:
    recording = with_image_host(serving(b"", 302, {"Location": location}))
    assert words in str(image_error(recording))
    assert len(recording.requests) <= 4


def test_the_fetch_gets_the_providers_timeout() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, timeout=3.5) as mod:
        mod.check(Content.image(IMAGE_URL))
    timeouts = recording.requests[0].extensions["timeout"]
    assert 0 < max(timeouts.values()) <= 3.5


def test_text_and_images_in_one_check_many() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        verdicts = mod.check_many(
            ["hello", Content.image("https://img.example.com/gore.png"), "kill them"]
        )
    assert [(v.decision, v.label) for v in verdicts] == [
        (Decision.PASS, Label.NORMAL),
        (Decision.BLOCK, Label.VIOLENCE),
        (Decision.BLOCK, Label.VIOLENCE),
    ]


def test_an_invalid_image_in_check_many_raises_its_invalid_content() -> None:
    recording = with_image_host(serving(b"", 404))
    with moderator(recording) as mod, pytest.raises(InvalidContent, match="HTTP 404"):
        mod.check_many(["hello", Content.image(IMAGE_URL)])


async def test_the_async_moderator_fetches_alike() -> None:
    recording = RecordingTransport(emulator())
    async with async_moderator(recording) as mod:
        verdict = await mod.check(Content.image("https://img.example.com/sexy.png"))
        with pytest.raises(InvalidContent, match="over Azure's 4 MB limit"):
            await mod.check(Content.image(f"{IMAGE_URL}?bytes={MAX_IMAGE_BYTES + 1}"))
        with pytest.raises(AllProvidersFailed):
            await mod.check(Content.image("https://img.example.com/cat.png?x=[[fault:busy]]"))
    assert (verdict.decision, verdict.label) == (Decision.REVIEW, Label.SEXY)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xff\xd8\xff\xe0JFIF", "JPEG"),
        (make_png("x"), "PNG"),
        (b"GIF89a....", "GIF"),
        (b"GIF87a....", "GIF"),
        (b"BM\x00\x00", "BMP"),
        (b"II*\x00....", "TIFF"),
        (b"MM\x00*....", "TIFF"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"<svg/>", None),
        (b"", None),
    ],
)
def test_image_formats_by_their_first_bytes(data: bytes, kind: str | None) -> None:
    assert image_format(data) == kind


def test_fetch_image_is_a_plain_sans_io_generator() -> None:
    flow = fetch_image("https://x.example/a.png")
    request = next(flow)
    assert (request.method, str(request.url)) == ("GET", "https://x.example/a.png")
    png = make_png("a")
    with pytest.raises(StopIteration) as done:
        flow.send(httpx.Response(200, content=png, request=request))
    assert done.value.value == png


def test_a_verdict_for_each_emulator_image_rule() -> None:
    expected = {
        "nsfw": (Decision.BLOCK, Label.PORN),
        "bikini": (Decision.REVIEW, Label.SEXY),
        "gore": (Decision.BLOCK, Label.VIOLENCE),
        "selfharm": (Decision.BLOCK, Label.SELF_HARM),
        "hate-symbol": (Decision.BLOCK, Label.HATE),
        "kitten": (Decision.PASS, Label.NORMAL),
    }
    with moderator(emulator()) as mod:
        verdicts = {
            name: mod.check(Content.image(f"https://img.example.com/{name}.png"))
            for name in expected
        }
    assert all(isinstance(v, Verdict) for v in verdicts.values())
    assert {name: (v.decision, v.label) for name, v in verdicts.items()} == expected
