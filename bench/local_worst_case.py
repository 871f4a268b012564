"""The local engine and masking on their worst known inputs (issue 9, items 1 and 25).

Each adversarial shape (a long run of one character class around the characters a
rule keys on, or keywords that all cover every position) is measured at a small and
an 8x larger size in one run. Prints MB/s (UTF-8) at the larger size and the time
ratio between the sizes, then the worst shape against the targets: linear growth
(ratio <= 16 for an 8x step; quadratic is 64) and >= 1 MB/s, so a 1 MB line answers
within a second (``"a" * 128_000 + "@"`` took ~30 s before).

    python bench/local_worst_case.py [--size BYTES] [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from moderation_core import Moderator
from moderation_core._masking import mask_keywords

STEP = 8
TARGET_RATIO = 16.0
TARGET_MB_S = 1.0


def repeat(piece: str, before: str = "", after: str = "") -> Callable[[int], str]:
    return lambda chars: before + piece * max(1, chars // len(piece)) + after


CHECK_SHAPES: dict[str, Callable[[int], str]] = {
    "a * n + @ (the issue's)": repeat("a", after="@"),
    "local-part symbols + @": repeat("a.-_%+", after="@"),
    "e-mail domain labels, no TLD": repeat("a.", before="x@"),
    "mobile-like digits": repeat("13"),
    "Chinese numerals": repeat("幺三八"),
    "WeChat trigger + spaces": repeat(" ", before="微信", after="!"),
    "CJK + @": repeat("中", after="@"),
    "full-width letters + ＠": repeat("ａ", after="＠"),
    "zero-width between letters": repeat("a\u200b"),
    "allowed term next to hits": repeat("微信群傻逼"),
    "a lexicon hit every 2 chars": repeat("傻逼"),
}
MASK_SHAPES: dict[str, Callable[[int], tuple[str, list[str]]]] = {
    "mask: one keyword, 1/3 of the text": lambda chars: ("a" * chars, ["a" * (chars // 3)]),
    "mask: 199 nested keywords": lambda chars: (
        "a" * chars,
        ["a" * (length * chars // 60_000 + 1) for length in range(1, 200)],
    ),
}


def cpu_seconds(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.process_time()
            run()
            best = min(best, time.process_time() - start)
    finally:
        gc.enable()
    return max(best, 1e-9)


def measure(
    run: Callable[[], object], run_small: Callable[[], object], megabytes: float, repeats: int
) -> tuple[float, float]:
    """(MB/s at the large size, large / small time ratio)."""
    large = cpu_seconds(run, repeats)
    return megabytes / large, large / cpu_seconds(run_small, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256_000, help="characters at the larger size")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    small_size = args.size // STEP

    results: list[tuple[str, float, float]] = []
    config = {"providers": {"local": {"type": "local", "allow": ["微信群"]}}}
    with Moderator(config) as moderator:
        for name, shape in CHECK_SHAPES.items():
            text, small = shape(args.size), shape(small_size)
            moderator.check(small)  # fill the per-character tables first
            rate, ratio = measure(
                lambda: moderator.check(text),  # noqa: B023 - called before the loop moves on
                lambda: moderator.check(small),  # noqa: B023
                len(text.encode()) / 1e6,
                args.repeat,
            )
            results.append((f"check: {name}", rate, ratio))
    for name, make in MASK_SHAPES.items():
        big, little = make(args.size // 8), make(small_size // 8)
        rate, ratio = measure(
            lambda: mask_keywords(*big),  # noqa: B023
            lambda: mask_keywords(*little),  # noqa: B023
            len(big[0].encode()) / 1e6,
            args.repeat,
        )
        results.append((name, rate, ratio))

    print(f"{'shape (larger size; ratio to the size / 8)':44}{'MB/s':>8}{'ratio':>8}")
    for name, rate, ratio in results:
        print(f"{name:44}{rate:>8.1f}{ratio:>8.1f}")
    slowest = min(results, key=lambda r: r[1])
    steepest = max(results, key=lambda r: r[2])
    print(f"worst throughput: {slowest[0]}: {slowest[1]:.1f} MB/s (target >= {TARGET_MB_S})")
    print(
        f"worst growth: {steepest[0]}: {steepest[2]:.1f}x for {STEP}x the size "
        f"(target <= {TARGET_RATIO:.0f}; quadratic is {STEP * STEP})"
    )


if __name__ == "__main__":
    main()
