"""What the verdict cache and the local pre-filter save: billable vendor items per 1,000
chat messages.

A deterministic stream of 200,000 messages from 5,000 senders:

- ~40% short everyday phrases, drawn Zipf-like (s = 1.1) from 300;
- ~5% spam floods: 20 spam texts pasted by 200 bot senders, each paste with a trivial
  variation (spaces between characters, full-width letters, an emoji appended, or
  none); 8 of the 20 are insults, porn, gambling or invoice spam the local lexicons
  block;
- ~5% rotating spam: the same bots and texts with a fresh contact id or number (or a
  random tag where a text has none) in every paste, the evasion real spam bots use
  against exact-match dedupe; as many as the floods (an assumption: bot spam half
  pasted as is, half rotated). Each is unique text, so only the pre-filter can save
  its bill;
- the rest unique: random everyday words and characters, 8% of them with an insult
  (abusive game chat); three of the four insults are in the local BLOCK lexicons,
  the fourth ("sb", pinyin shorthand) is not, as a real lexicon misses some.

The bench prints the stream's make-up, what each kind costs with all three features,
and the floor: unique text the local engine does not block is billed once whatever
the layer does, so the figure is set by how much of the unique text is locally
blockable (``--rotating 0`` gives the stream without rotating spam).

Each configuration runs the whole stream through ``Moderator.check_many`` (100 messages
a call) against the Tencent Chat emulator in process (``httpx.MockTransport``), which
counts the items it was asked about: no layer features, cache, cache + normalize,
cache + normalize + local pre-filter. The emulator matches plain substrings; real
vendors read case, width, spacing and emoji variants alike, and so does the emulated
vendor here: it sees each text with those variations taken out (``--literal`` turns that
off, to show what ``normalize`` costs against a vendor that does not).

Then, for a sample of cached hits, the decision (and label) must equal an uncached
check of the same content. Target: <= 500 billable items per 1,000 messages with all
three features, and no decision differences.

    python bench/cost.py [--messages N] [--sample N] [--literal] [--rotating SHARE]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx

from moderation_core import Content, Moderator, Verdict
from moderation_tencent_chat.emulator import make_emulator

TARGET = 500  # billable items per 1,000 messages, all features on
KEY = "k" * 32
CHUNK = 100
ROTATING = 0.05  # share of messages that are rotating spam (as many as the floods)

PHRASES_ZH = [
    "好的",
    "哈哈哈",
    "谢谢",
    "早上好",
    "晚安",
    "在吗",
    "收到",
    "没问题",
    "辛苦了",
    "来了来了",
    "明天见",
    "吃饭了吗",
    "我到了",
    "等我一下",
    "好的好的",
    "牛啊",
    "加油",
    "666",
    "笑死",
    "真的假的",
]
PHRASES_EN = [
    "ok",
    "lol",
    "thanks",
    "good night",
    "see you",
    "gg",
    "nice",
    "omw",
    "brb",
    "good game",
    "where are you",
    "haha",
    "yes",
    "no",
    "sure",
    "wp",
    "let's go",
    "morning",
    "same",
    "ty",
]
EMOJI = ["😀", "😂", "👍", "🔥", "🙏", "❤️", "🎉", "😅"]
SPAM = [
    "加我微信 vip8888 领取福利",
    "代开发票 联系 QQ 12345678",
    "whatsapp +1 555 0100 cheap followers",
    "online casino bonus 100% sign up now",
    "免费领取游戏皮肤 点击 bit.ly/free-skin",
    "兼职日结 300 加微信 job2024",
    "高价回收账号 私聊",
    "cheap gold 24/7 delivery visit goldshop",
    "最新电影免费看 关注公众号",
    "follow my channel for daily giveaways",
    "低价代练 包上王者",
    "buy 1000 likes for 5 dollars",
    "稳赚不赔 带你投资",
    "click here to claim your prize",
    # blocked by the local lexicons
    "你这个傻逼 滚",
    "傻逼玩意儿 别玩了",
    "你们都是脑残 垃圾",
    "色情视频 免费看",
    "约炮 同城 私聊",
    "滚出中国 劣等民族",
]
INSULTS = ["傻逼", "煞笔", "脑残", "sb玩意"]
WORDS = "the a we you team push mid top bot wait go now back fight heal ward buy item win lose"
TAG = "abcdefghjkmnpqrstuvwxyz23456789"
HANZI = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去"


def phrases() -> list[str]:
    """300 everyday phrases: the seeds, and short combinations of them."""
    rng = random.Random(7)
    found = dict.fromkeys(PHRASES_ZH + PHRASES_EN)
    while len(found) < 300:
        pool = PHRASES_ZH if rng.random() < 0.6 else PHRASES_EN
        found[f"{rng.choice(pool)} {rng.choice(pool)}"] = None
    return list(found)


def zipf_weights(count: int, s: float = 1.1) -> list[float]:
    return [1 / (rank**s) for rank in range(1, count + 1)]


def vary(text: str, rng: random.Random) -> str:
    """A bot's paste: as is, spaced out, full-width, or with an emoji."""
    kind = rng.randrange(4)
    if kind == 1:
        return " ".join(text.replace(" ", ""))
    if kind == 2:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    if kind == 3:
        return text + rng.choice(EMOJI)
    return text


def unique(rng: random.Random, n: int) -> str:
    words = WORDS.split()
    parts = [
        rng.choice(words)
        if rng.random() < 0.5
        else "".join(rng.choices(HANZI, k=rng.randint(2, 5)))
        for _ in range(rng.randint(3, 9))
    ]
    parts.append(str(n))  # unique by construction
    if rng.random() < 0.08:
        parts.insert(rng.randrange(len(parts)), rng.choice(INSULTS))
    return " ".join(parts)


def rotated(text: str, rng: random.Random) -> str:
    """A paste that beats exact-match dedupe: every digit of the text's contact id or
    number drawn afresh, or, in a text without digits, a random tag appended."""
    if any(c.isdigit() for c in text):
        return "".join(str(rng.randrange(10)) if c.isdigit() else c for c in text)
    return f"{text} {''.join(rng.choices(TAG, k=4))}"


# The kinds of message in the stream, as the bench reports them.
KINDS = ("phrase", "flood", "rotating", "unique")


def stream(count: int, rotating: float = ROTATING) -> Iterator[tuple[str, str, str]]:
    """(sender, kind, text), deterministically."""
    rng = random.Random(20240611)
    common = phrases()
    weights = zipf_weights(len(common))
    humans = [f"u{n}" for n in range(4_800)]
    bots = [f"bot{n}" for n in range(200)]
    for n in range(count):
        roll = rng.random()
        if roll < 0.40:
            yield rng.choice(humans), "phrase", rng.choices(common, weights)[0]
        elif roll < 0.45:
            yield rng.choice(bots), "flood", vary(rng.choice(SPAM), rng)
        elif roll < 0.45 + rotating:
            yield rng.choice(bots), "rotating", vary(rotated(rng.choice(SPAM), rng), rng)
        else:
            yield rng.choice(humans), "unique", unique(rng, n)


# -- the emulated vendor -----------------------------------------------------------------

_EMOJI = re.compile("[\U0001f000-\U0001ffff\u2600-\u27bf\ufe0f]")


def vendor_reading(text: str) -> str:
    """How a variant-aware vendor reads a text: width and case folded, spaces and emoji
    gone (not the local engine's normalizer: its own, simpler)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _EMOJI.sub("", "".join(folded.split()))


class Billing:
    """The Tencent Chat emulator behind a counter of billable items."""

    def __init__(self, literal: bool) -> None:
        self.emulator = make_emulator(secret_key=KEY)
        self.literal = literal
        self.items = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        entries = body.get("Contents") or [body]
        self.items += len(entries)
        if not self.literal:
            for entry in entries:
                entry["Content"] = vendor_reading(entry["Content"])
            request = httpx.Request(request.method, request.url, headers=request.headers, json=body)
        return self.emulator(request)


def config(*, cache: bool, normalize: bool, prefilter: bool) -> dict[str, Any]:
    moderation: dict[str, Any] = {"providers": ["tencent"], "batch_window": 0}
    if cache:
        moderation["cache"] = {"normalize": normalize, "size": 100_000}
    if prefilter:
        moderation["prefilter"] = "local"
    tencent = {
        "type": "tencent_chat",
        "sdkappid": 1400000000,
        "identifier": "admin",
        "secret_key": KEY,
        "base_url": "http://tencent.emulated",
        "rate_limit": 0,  # the emulator in process has no quota
    }
    return {"moderation": moderation, "providers": {"tencent": tencent}}


@attrs.frozen
class Run:
    """One configuration's pass over the stream: billable items per 1,000 messages, the
    cached hits, and per kind of message how many there were, how many the local
    pre-filter blocked and how many the vendor billed."""

    per_1000: float
    hits: list[tuple[str, Verdict]]
    seconds: float
    kinds: dict[str, tuple[int, int, int]]


def run(stream_: list[tuple[str, str]], literal: bool, **features: bool) -> Run:
    billing = Billing(literal)
    hits: list[tuple[str, Verdict]] = []
    counts = {kind: [0, 0, 0] for kind in KINDS}
    started = time.perf_counter()
    with Moderator(config(**features), transport=httpx.MockTransport(billing)) as mod:
        for start in range(0, len(stream_), CHUNK):
            chunk = stream_[start : start + CHUNK]
            verdicts = mod.check_many([text for _, text in chunk])
            for (kind, text), verdict in zip(chunk, verdicts, strict=True):
                seen = counts[kind]
                seen[0] += 1
                if verdict.cached:
                    hits.append((text, verdict))
                elif verdict.prefiltered:
                    seen[1] += 1
                else:
                    seen[2] += 1  # a vendor answer: one billed item
    elapsed = time.perf_counter() - started
    billed = sum(seen[2] for seen in counts.values())
    assert billed == billing.items, (billed, billing.items)  # the bench's own check
    kinds = {kind: (seen[0], seen[1], seen[2]) for kind, seen in counts.items()}
    return Run(billing.items * 1000 / len(stream_), hits, elapsed, kinds)


def make_up(last: Run, total: int) -> None:
    """What each kind of message costs with all three features, and the floor the
    unique text sets."""
    print(
        f"\n{'kind (all three features)':<32} {'messages':>9} "
        f"{'blocked locally':>16} {'billed / 1,000':>15}"
    )
    for kind, (messages, blocked, billed) in last.kinds.items():
        share = blocked / messages if messages else 0.0
        print(f"{kind:<32} {messages:>9,} {share:>16.1%} {billed * 1000 / total:>15.1f}")
    messages = sum(last.kinds[k][0] for k in ("rotating", "unique"))
    blocked = sum(last.kinds[k][1] for k in ("rotating", "unique"))
    repeated = sum(last.kinds[k][2] for k in ("phrase", "flood"))
    # Each unique text not blocked locally is billed once: to reach the target, this
    # many of them must be blocked.
    needed = messages - (TARGET * total / 1000 - repeated)
    print(
        f"unique text (rotating + unique) is {messages / total:.1%} of the stream; the local "
        f"engine blocks {blocked / messages:.1%} of it, the target needs >= "
        f"{max(0.0, needed) / messages:.1%}"
    )


def differences(
    hits: list[tuple[str, Verdict]], sample: int, literal: bool
) -> tuple[int, int, list[str]]:
    """Cached decisions that differ from an uncached check of the same text."""
    rng = random.Random(1)
    chosen = rng.sample(hits, min(sample, len(hits)))
    with Moderator(
        config(cache=False, normalize=False, prefilter=False),
        transport=httpx.MockTransport(Billing(literal)),
    ) as fresh:
        checked = fresh.check_many([Content.text(t) for t, _ in chosen])
    differ = [
        text
        for (text, cached), uncached in zip(chosen, checked, strict=True)
        if (cached.decision, cached.label) != (uncached.decision, uncached.label)
    ]
    return len(chosen), len(differ), differ[:5]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=2_000, help="cached hits re-checked")
    parser.add_argument("--literal", action="store_true", help="a substring-matching vendor")
    parser.add_argument(
        "--rotating", type=float, default=ROTATING, help="share of rotating spam (0 to 0.55)"
    )
    args = parser.parse_args(argv)
    messages = [(kind, text) for _, kind, text in stream(args.messages, args.rotating)]
    vendor = "literal substrings" if args.literal else "reads variants alike"
    print(
        f"{len(messages):,} messages, 5,000 senders, {args.rotating:.0%} rotating spam; "
        f"emulated vendor: {vendor}"
    )
    print(f"{'features':<32} {'billable items / 1,000':>24} {'cached hits':>12} {'s':>6}")
    rows: list[tuple[str, Callable[[], Run]]] = [
        (
            "none",
            lambda: run(messages, args.literal, cache=False, normalize=False, prefilter=False),
        ),
        (
            "cache",
            lambda: run(messages, args.literal, cache=True, normalize=False, prefilter=False),
        ),
        (
            "cache + normalize",
            lambda: run(messages, args.literal, cache=True, normalize=True, prefilter=False),
        ),
        (
            "cache + normalize + pre-filter",
            lambda: run(messages, args.literal, cache=True, normalize=True, prefilter=True),
        ),
    ]
    last = Run(0.0, [], 0.0, {})
    all_hits: list[tuple[str, Verdict]] = []
    for name, measure in rows:
        last = measure()
        all_hits.extend(last.hits)
        print(f"{name:<32} {last.per_1000:>24.1f} {len(last.hits):>12,} {last.seconds:>6.1f}")
    make_up(last, len(messages))
    sampled, differ, examples = differences(all_hits, args.sample, args.literal)
    verdict = "OK" if last.per_1000 <= TARGET and differ == 0 else "MISSED"
    print(
        f"all three: {last.per_1000:.1f} billable items per 1,000 (target <= {TARGET}); "
        f"{differ} decision differences in {sampled:,} sampled cached hits (target 0): {verdict}"
    )
    for text in examples:
        print(f"  differs: {text!r}")


if __name__ == "__main__":
    main()
