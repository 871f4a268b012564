"""Local provider throughput, end to end, against a bare automaton.

Builds a 10,000-term lexicon and 200,000 chat-like messages (mixed Chinese/ASCII, ~1%
dirty), then measures in one run:

- ``Moderator.check_many`` with the local provider (normalization, rules, Verdicts);
- a bare ahocorasick-rs automaton scanning the same messages, pre-normalized;

and prints messages/s, MB/s and their ratio (target: end to end >= 35% of bare).

    python bench/local_throughput.py [--messages N] [--terms N] [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import ahocorasick_rs

from moderation_core import Moderator
from moderation_local._normalize import key_view

TARGET = 0.35  # end to end / bare automaton

COMMON_HANZI = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过"
    "家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本"
    "见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话"
)
WORDS = [
    "hello",
    "ok",
    "lol",
    "thanks",
    "see",
    "you",
    "tomorrow",
    "meeting",
    "game",
    "play",
    "win",
    "team",
    "good",
    "night",
    "what",
    "time",
    "where",
    "are",
    "we",
    "going",
    "nice",
    "photo",
    "lunch",
    "dinner",
    "coffee",
    "later",
]


def make_terms(rng: random.Random, count: int) -> list[str]:
    terms: set[str] = set()
    while len(terms) < count:
        if rng.random() < 0.8:
            terms.add("".join(rng.choices(COMMON_HANZI, k=rng.randint(3, 5))) + "禁")
        else:
            terms.add("x" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(6, 9))))
    return sorted(terms)


def make_messages(rng: random.Random, count: int, terms: list[str]) -> list[str]:
    messages = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(2, 8)):
            if rng.random() < 0.6:
                parts.append("".join(rng.choices(COMMON_HANZI, k=rng.randint(2, 6))))
            else:
                parts.append(rng.choice(WORDS))
        if rng.random() < 0.01:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(terms))
        messages.append(" ".join(parts) + rng.choice(("", "!", "?", "。", "，好吗")))
    return messages


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--terms", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = random.Random(20261122)
    terms = make_terms(rng, args.terms)
    messages = make_messages(rng, args.messages, terms)
    megabytes = sum(len(m.encode()) for m in messages) / 1e6

    with tempfile.TemporaryDirectory() as folder:
        lexicon = Path(folder, "bench.txt")
        lexicon.write_text("\n".join(terms), encoding="utf-8")
        config = {
            "providers": {
                "local": {
                    "type": "local",
                    "lexicons": [{"path": str(lexicon), "label": "ILLEGAL", "decision": "BLOCK"}],
                }
            }
        }
        with Moderator(config) as moderator:
            verdicts = moderator.check_many(messages)
            flagged = sum(v.flagged for v in verdicts)
            e2e_best, e2e_median = best_of(args.repeat, lambda: moderator.check_many(messages))

    automaton = ahocorasick_rs.AhoCorasick([key_view(t) for t in terms])
    normalized = [key_view(m) for m in messages]
    find = automaton.find_matches_as_indexes
    bare_hits = sum(1 for m in normalized if find(m))
    bare_best, bare_median = best_of(args.repeat, lambda: [find(m) for m in normalized])

    print(f"messages: {len(messages):,}  ({megabytes:.1f} MB UTF-8), terms: {len(terms):,}")
    share = flagged / len(messages)
    print(f"flagged end to end: {flagged:,} ({share:.2%}); bare automaton hits: {bare_hits:,}")
    print(f"{'':36}{'msg/s (best)':>14}{'MB/s':>9}{'msg/s (median)':>16}")
    for name, best, median in (
        ("Moderator.check_many (local)", e2e_best, e2e_median),
        ("bare ahocorasick-rs, pre-normalized", bare_best, bare_median),
    ):
        rate, mb_rate, median_rate = len(messages) / best, megabytes / best, len(messages) / median
        print(f"{name:36}{rate:>14,.0f}{mb_rate:>9.1f}{median_rate:>16,.0f}")
    ratio = bare_best / e2e_best
    verdict = "OK" if ratio >= TARGET else "MISSED"
    print(f"end to end / bare automaton: {ratio:.1%} (target >= {TARGET:.0%}): {verdict}")


if __name__ == "__main__":
    main()
