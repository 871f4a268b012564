"""Traffic-diversion rules: contact details that pull users off the platform.

Each rule reports label AD with a sublabel naming what it found. Phone numbers are
matched on the key view (separators gone, full-width digits folded) with Chinese
numerals read as digits; the others on the rules view, where dots and ``@`` survive.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CONTACT_WORDS", "PHONE", "RULES", "SUBLABELS", "has_hint"]

# Chinese numerals, upper-case (financial) numerals and the spoken 幺 for 1, as they
# appear after the key view's Traditional-to-Simplified step.
_DIGIT = "[0-9零〇一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两]"
_ONE = "[1一壹幺]"
_THREE_TO_NINE = "[3-9三四五六七八九叁肆伍陆柒捌玖]"

# A mainland mobile number: 1[3-9] and nine more digits, optionally after 86 / +86.
PHONE: Final = re.compile(
    rf"(?<!{_DIGIT})(?:(?:0?86|八六)?){_ONE}{_THREE_TO_NINE}{_DIGIT}{{9}}(?!{_DIGIT})"
)

_TLDS = (
    "com|cn|net|org|info|biz|io|co|cc|me|tv|top|xyz|vip|club|site|shop|online|link|"
    "app|wang|ink|live|pro|tk|ml|ga|gq|cf|ru|hk|tw|jp|kr|sg|uk|us|de"
)
_WECHAT_TRIGGER = (
    r"(?:微信|威信|薇信|维信|徽信|v信|(?<![a-z])(?:vx|wx|weixin|wechat|wechatid)|加v|加微)"
)
_QQ_TRIGGER = r"(?:(?<![a-z])qq|扣扣|企鹅|q号)"
# Possessive: two greedy whitespace runs around an optional colon would otherwise
# retry every split of a long whitespace run (quadratic from one trigger word).
_GAP = r"(?:号|id)?\s*+[:：]?\s*+"

# Every alternative costs O(1) at a position where it cannot start, and the work
# after a start is bounded or covers a run no other start of that alternative covers
# again, so a scan is linear in the text (tests/test_linear_time.py). An e-mail
# address starts where its run of local-part characters starts: without that
# lookbehind, ``"a" * n`` with no ``@`` after it was rescanned from each of its n
# starts (128 KB took 30 s). The possessive runs never give characters back, as no
# token after them could take one.
RULES: Final = re.compile(
    "|".join(
        (
            r"(?P<Email>(?<![a-z0-9._%+-])[a-z0-9._%+-]++@[a-z0-9-]++(?:\.[a-z0-9-]++)*"
            r"\.[a-z]{2,})",
            r"(?P<URL>(?:https?://|www\.)[^\s<>\"'，。、）)】]+)",
            rf"(?P<Domain>(?<![a-z0-9@._/-])(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+"
            rf"(?:{_TLDS})(?![a-z0-9])(?:/[^\s，。]*)?)",
            rf"(?P<WeChat>{_WECHAT_TRIGGER}{_GAP}[a-z][a-z0-9_-]{{5,19}})",
            rf"(?P<QQ>{_QQ_TRIGGER}{_GAP}[1-9][0-9]{{4,11}})",
        )
    )
)

SUBLABELS: Final = ("Email", "URL", "Domain", "WeChat", "QQ", "Phone")

# Cheap hints, searched on every message; only a message with a hint pays for the
# precise rules above on character-mapped views. Each hint is a superset of its rule,
# and each starts with one character class so the regex engine can skip ahead fast
# (one alternation of them all measured 2-4x slower).
_PHONE_HINT = re.compile(rf"{_ONE}{_THREE_TO_NINE}{_DIGIT}{{9}}")
# Words that may start a contact id or a URL; the engine puts them in its automaton.
CONTACT_WORDS: Final = (
    "微信",
    "威信",
    "薇信",
    "维信",
    "徽信",
    "v信",
    "vx",
    "wx",
    "weixin",
    "wechat",
    "加v",
    "加微",
    "qq",
    "扣扣",
    "企鹅",
    "q号",
    "www",
    "http",
)
_DOMAIN_HINT = re.compile(rf"[.。｡点點．]\s*+(?i:{_TLDS})(?![a-zA-Z])")
# Full-width Latin letters or zero-width characters can hide a domain from the hint
# above, and an at sign may start an e-mail address. Characters at or above U+20000
# are here too: the engine's fast key table does not read them.
_ODD_HINT = re.compile(
    r"[@＠\uff21-\uff3a\uff41-\uff5a\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e\u034f"
    r"\U00020000-\U0010ffff]"
)


def has_hint(text: str, key: str) -> bool:
    """Whether a rule might match ``text`` (whose key view is ``key``), beyond the
    contact words the automaton looks for."""
    return bool(_PHONE_HINT.search(key) or _DOMAIN_HINT.search(text) or _ODD_HINT.search(text))
