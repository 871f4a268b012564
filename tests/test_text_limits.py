"""``Capabilities.max_text_chars``: a vendor that counts characters (code points), not
bytes, gets long texts split by its own measure, with the overlap, whichever of its
two limits is tighter; ``long_text = "reject"`` refuses them instead."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import httpx
import pluggy
import pytest

from moderation_core import (
    AsyncModerator,
    Capabilities,
    CheckContext,
    Content,
    ContentType,
    Decision,
    Flow,
    HttpProviderConfig,
    InvalidContent,
    Label,
    Moderator,
    Provider,
    ProviderRegistry,
    Verdict,
    hookimpl,
    make_plugin_manager,
    raise_for_status,
    register_plugin,
)
from moderation_core._routing import split_text

CHAR_LIMIT = 10_000
OVERLAP = 32  # the core's least overlap (no local lexicon configured here)


@attrs.define(kw_only=True)
class CharsConfig(HttpProviderConfig):
    max_text_chars: int | None = None
    max_text_bytes: int | None = None


class CharsProvider(Provider[CharsConfig]):
    """One text per call; flags a text holding "block"."""

    provider_type: ClassVar[str] = "chars"
    config_class: ClassVar[type[Any]] = CharsConfig

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            content_types=frozenset({ContentType.TEXT}),
            max_text_bytes=self.config.max_text_bytes,
            max_text_chars=self.config.max_text_chars,
        )

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        (content,) = contents
        response = yield httpx.Request("POST", "http://chars.test/check", json=content.value)
        raise_for_status(response)
        flagged = bool(response.json()["flagged"])
        return [
            Verdict(
                decision=Decision.BLOCK if flagged else Decision.PASS,
                label=Label.ABUSE if flagged else Label.NORMAL,
                keywords=("block",) if flagged else (),
            )
        ]


class Plugin:
    @hookimpl
    def register_providers(self, registry: ProviderRegistry) -> None:
        registry.add(CharsProvider)


class Vendor:
    """Keeps every text sent; refuses one over the limit, as the vendor would."""

    def __init__(self, limit: int = CHAR_LIMIT) -> None:
        self.limit = limit
        self.texts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)
        self.texts.append(text)
        if len(text) > self.limit:
            return httpx.Response(400, json={"error": "too long"})
        return httpx.Response(200, json={"flagged": "block" in text})


@pytest.fixture
def manager() -> pluggy.PluginManager:
    pm = make_plugin_manager()
    register_plugin(pm, Plugin(), name="chars")
    return pm


def config(limits: dict[str, int], long_text: str = "split") -> dict[str, Any]:
    return {
        "moderation": {"long_text": long_text},
        "providers": {"chars": {"type": "chars", **limits}},
    }


# Code points of every UTF-8 width, so a byte count and a character count differ.
LONG = "".join(itertools.islice(itertools.cycle("aé好😀"), 25_000))
FLAGGED = LONG[:12_000] + "block" + LONG[12_005:]


def assert_chunked(texts: list[str], whole: str, limit: int) -> None:
    assert len(texts) == 3  # 25,000 characters in chunks of 10,000 sharing 32
    assert all(len(text) <= limit for text in texts)
    assert texts[0] == whole[:limit]
    rebuilt = texts[0] + "".join(text[OVERLAP:] for text in texts[1:])
    assert rebuilt == whole
    for first, second in itertools.pairwise(texts):
        assert first[-OVERLAP:] == second[:OVERLAP]


def test_capabilities_accept_by_the_character_limit() -> None:
    caps = Capabilities(max_text_chars=4)
    assert caps.accepts(Content.text("😀😀😀😀"))  # 16 bytes, 4 characters
    assert not caps.accepts(Content.text("abcde"))
    assert caps.accepts(Content.image("https://x.test/a.png"))
    both = Capabilities(max_text_bytes=8, max_text_chars=4)
    assert not both.accepts(Content.text("😀😀😀"))  # 3 characters but 12 bytes
    assert both.accepts(Content.text("abcd"))


def test_a_character_limited_provider_splits_a_long_text(manager: pluggy.PluginManager) -> None:
    vendor = Vendor()
    with Moderator(
        config({"max_text_chars": CHAR_LIMIT}),
        plugin_manager=manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        verdict = mod.check(Content.text(FLAGGED, id="long"))
    assert_chunked(vendor.texts, FLAGGED, CHAR_LIMIT)
    assert (verdict.decision, verdict.content_id) == (Decision.BLOCK, "long")
    assert verdict.masked_text == FLAGGED.replace("block", "*****")


async def test_async_splits_the_same_way(manager: pluggy.PluginManager) -> None:
    vendor = Vendor()
    async with AsyncModerator(
        config({"max_text_chars": CHAR_LIMIT}),
        plugin_manager=manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        verdict = await mod.check(LONG)
    expected = [text for _, text in split_text(LONG, None, OVERLAP, CHAR_LIMIT)]
    assert_chunked(expected, LONG, CHAR_LIMIT)
    assert sorted(vendor.texts) == sorted(expected)  # the chunks run at once, in any order
    assert verdict.decision is Decision.PASS


def test_a_text_at_the_limit_is_sent_whole(manager: pluggy.PluginManager) -> None:
    vendor = Vendor()
    with Moderator(
        config({"max_text_chars": CHAR_LIMIT}),
        plugin_manager=manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        mod.check(LONG[:CHAR_LIMIT])
    assert vendor.texts == [LONG[:CHAR_LIMIT]]


@pytest.mark.parametrize(
    ("limits", "tighter"),
    [
        # 10,000 characters of LONG are 25,000 bytes: the byte limit is tighter.
        ({"max_text_chars": CHAR_LIMIT, "max_text_bytes": 12_000}, "bytes"),
        # 10,000 characters fit in 30,000 bytes: the character limit is tighter.
        ({"max_text_chars": CHAR_LIMIT, "max_text_bytes": 30_000}, "chars"),
    ],
)
def test_the_tighter_limit_ends_each_chunk(
    manager: pluggy.PluginManager, limits: dict[str, int], tighter: str
) -> None:
    vendor = Vendor()
    with Moderator(
        config(limits), plugin_manager=manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        mod.check(LONG)
    assert all(len(text) <= CHAR_LIMIT for text in vendor.texts)
    assert all(len(text.encode()) <= limits["max_text_bytes"] for text in vendor.texts)
    if tighter == "chars":
        assert len(vendor.texts[0]) == CHAR_LIMIT
    else:
        assert len(vendor.texts[0]) < CHAR_LIMIT
        assert len(vendor.texts[0].encode()) > limits["max_text_bytes"] - 4
    rebuilt = vendor.texts[0] + "".join(text[OVERLAP:] for text in vendor.texts[1:])
    assert rebuilt == LONG


def test_split_text_by_characters_alone_keeps_the_overlap() -> None:
    chunks = split_text(LONG, None, 40, max_chars=7_000)
    assert [offset for offset, _ in chunks] == [0, 6_960, 13_920, 20_880]
    assert all(len(piece) <= 7_000 for _, piece in chunks)
    assert chunks[-1][0] + len(chunks[-1][1]) == len(LONG)
    for (a, pa), (b, _) in itertools.pairwise(chunks):
        assert b == a + len(pa) - 40


def test_reject_refuses_a_text_over_the_character_limit(manager: pluggy.PluginManager) -> None:
    vendor = Vendor()
    with Moderator(
        config({"max_text_chars": CHAR_LIMIT}, "reject"),
        plugin_manager=manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        with pytest.raises(
            InvalidContent, match="chars: 10000 characters; it has 25000 characters"
        ):
            mod.check(LONG)
        with pytest.raises(InvalidContent, match="item 1: "):
            mod.check_many(["fine", LONG])
        (fine, refused) = mod.check_many(["fine", LONG], return_exceptions=True)
        assert isinstance(fine, Verdict)
        assert isinstance(refused, InvalidContent)
        assert mod.check(LONG[:CHAR_LIMIT]).decision is Decision.PASS
    assert vendor.texts == ["fine", LONG[:CHAR_LIMIT]]


async def test_reject_refuses_it_async_too(manager: pluggy.PluginManager) -> None:
    vendor = Vendor()
    async with AsyncModerator(
        config({"max_text_chars": CHAR_LIMIT}, "reject"),
        plugin_manager=manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        with pytest.raises(InvalidContent, match="over every provider's limit"):
            await mod.check(LONG)
    assert vendor.texts == []


def test_describe_shows_the_character_limit(manager: pluggy.PluginManager) -> None:
    with Moderator(config({"max_text_chars": CHAR_LIMIT}), plugin_manager=manager) as mod:
        (provider,) = mod._providers
        assert provider.describe()["max_text_chars"] == CHAR_LIMIT
