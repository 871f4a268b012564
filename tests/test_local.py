"""The local provider: normalization tricks, rules, lexicons, allow-list, masking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation_core import ConfigError, Content, Decision, Label, Moderator, Verdict
from moderation_local import _normalize


def local(**table: Any) -> Moderator:
    return Moderator({"providers": {"local": {"type": "local", **table}}})


@pytest.fixture(scope="module")
def mod() -> Moderator:
    return Moderator()


@pytest.fixture
def words(tmp_path: Path) -> Moderator:
    """Only a user lexicon of two terms (no built-in lexicon, no rules)."""
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("# test lexicon\n违规词汇\nbadword\n\n", encoding="utf-8")
    return local(
        builtin=False,
        rules=False,
        lexicons=[{"path": str(lexicon), "label": "POLITICS", "decision": "BLOCK"}],
    )


def check(mod: Moderator, text: str) -> Verdict:
    return mod.check(text)


# -- normalization: each trick is caught, and keywords are shown as written ------------


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("这是违规词汇", "违规词汇"),  # plain
        ("违&规&词&汇", "违&规&词&汇"),  # punctuation inserted between characters
        ("违 规 词 汇!", "违 规 词 汇"),  # spaces inserted
        ("违\u200b规\u200c词\u200d汇", "违\u200b规\u200c词\u200d汇"),  # zero-width characters
        ("違規詞彙", "違規詞彙"),  # Traditional Chinese
        ("這是違＆規＊詞．彙喔", "違＆規＊詞．彙"),  # Traditional with full-width separators
        ("BADWORD", "BADWORD"),  # case folding
        ("ｂａｄｗｏｒｄ", "ｂａｄｗｏｒｄ"),  # full-width Latin
        ("b.a.d.w.o.r.d", "b.a.d.w.o.r.d"),  # dotted
        ("bädwörd", "bädwörd"),  # accents
        ("违😀规🙂词🔥汇", "违😀规🙂词🔥汇"),  # emoji between characters
        ("违\U000e0020规词汇", "违\U000e0020规词汇"),  # invisible tag characters
    ],
)
def test_normalization_tricks_are_caught(words: Moderator, text: str, keyword: str) -> None:
    verdict = check(words, text)
    assert verdict.decision is Decision.BLOCK
    assert verdict.label is Label.POLITICS
    assert verdict.keywords == (keyword,)
    start = text.index(keyword)
    expected = text[:start] + "*" * len(keyword) + text[start + len(keyword) :]
    assert verdict.masked_text == expected


@pytest.mark.parametrize(
    "text",
    [
        "今天天气不错，一起去吃饭吧",
        "Let's meet at the library at 5pm.",
        "违规的词不在这里",  # shares characters with a term, not the term
        "badwords are not a word here",  # ASCII terms must stand as whole words
        "goodword",
        "我有3个苹果和12个梨",
        "订单号 2023120112345678",
        "done.Next time we try again",
    ],
)
def test_clean_text_stays_pass(words: Moderator, mod: Moderator, text: str) -> None:
    assert check(words, text).decision is Decision.PASS
    assert check(mod, text).decision is Decision.PASS


def test_ascii_terms_do_not_match_inside_longer_words(mod: Moderator) -> None:
    assert check(mod, "an idiotic plan").decision is Decision.PASS  # "idiot" is a term
    assert check(mod, "you idiot").decision is Decision.REVIEW


# -- rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sublabel", "keyword"),
    [
        ("call 13800138000 now", "Phone", "13800138000"),
        ("电话 138-0013-8000", "Phone", "138-0013-8000"),
        ("电话 138 0013 8000 联系", "Phone", "138 0013 8000"),
        ("电话１３８００１３８０００", "Phone", "１３８００１３８０００"),
        ("幺三八零零幺三八零零零", "Phone", "幺三八零零幺三八零零零"),
        ("壹叁捌零零壹叁捌零零零", "Phone", "壹叁捌零零壹叁捌零零零"),
        ("+86 13800138000", "Phone", "86 13800138000"),
        ("see https://evil.example.com/x?a=1 ok", "URL", "https://evil.example.com/x?a=1"),
        ("go to www.shop-deals.cn today", "URL", "www.shop-deals.cn"),
        ("go to example.com now", "Domain", "example.com"),
        ("上 example。com 看看", "Domain", "example。com"),
        ("mail me: foo.bar@example.com", "Email", "foo.bar@example.com"),
        ("加我微信: abc12345", "WeChat", "微信: abc12345"),
        ("VX：wxid_abcd1", "WeChat", "VX：wxid_abcd1"),
        ("加 qq 123456789", "QQ", "qq 123456789"),
    ],
)
def test_traffic_diversion_rules(mod: Moderator, text: str, sublabel: str, keyword: str) -> None:
    verdict = check(mod, text)
    assert verdict.decision is Decision.REVIEW
    assert verdict.label is Label.AD
    assert verdict.sublabel == sublabel
    assert verdict.keywords == (keyword,)
    assert "*" * len(keyword) in (verdict.masked_text or "")


def test_rules_can_block_instead_of_review() -> None:
    verdict = local(rules_decision="block").check("call 13800138000")
    assert verdict.decision is Decision.BLOCK


def test_rules_can_be_turned_off() -> None:
    assert local(rules=False).check("call 13800138000").decision is Decision.PASS


# -- lexicons and the allow-list -------------------------------------------------------


def test_builtin_lexicon_covers_labels(mod: Moderator) -> None:
    cases = {
        "你这个傻逼": (Label.ABUSE, Decision.BLOCK),
        "约炮吗": (Label.PORN, Decision.BLOCK),
        "性感写真": (Label.SEXY, Decision.REVIEW),
        "我要杀了你": (Label.VIOLENCE, Decision.BLOCK),
        "卖冰毒": (Label.ILLEGAL, Decision.BLOCK),
        "自杀方法": (Label.SELF_HARM, Decision.BLOCK),
        "劣等民族": (Label.HATE, Decision.BLOCK),
        "游行示威": (Label.POLITICS, Decision.REVIEW),
        "兼职日结": (Label.AD, Decision.REVIEW),
        "free porn here": (Label.PORN, Decision.BLOCK),
    }
    for text, (label, decision) in cases.items():
        verdict = check(mod, text)
        assert (verdict.label, verdict.decision) == (label, decision), text


def test_builtin_lexicon_can_be_turned_off() -> None:
    assert local(builtin=False).check("你这个傻逼").decision is Decision.PASS


def test_harshest_hit_decides_and_every_keyword_is_reported(mod: Moderator) -> None:
    verdict = check(mod, "兼职日结，还卖冰毒")
    assert verdict.decision is Decision.BLOCK
    assert verdict.label is Label.ILLEGAL
    assert verdict.keywords == ("兼职日结", "冰毒")
    assert verdict.masked_text == "****，还卖**"
    assert [hit["source"] for hit in (verdict.raw or {})["hits"]] == [
        "builtin:ad.review.txt",
        "builtin:illegal.block.txt",
    ]


def test_allow_list_terms_are_never_flagged(tmp_path: Path) -> None:
    lexicon = tmp_path / "w.txt"
    lexicon.write_text("assassin\n", encoding="utf-8")
    mod = local(
        builtin=False,
        lexicons=[{"path": str(lexicon), "label": "violence"}],
        allow=["assassin's creed"],
    )
    assert mod.check("I love Assassin's Creed").decision is Decision.PASS
    assert mod.check("hire an assassin").decision is Decision.BLOCK


def test_lexicon_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "mine.txt").write_text("秘密词\n", encoding="utf-8")
    config = tmp_path / "moderation.toml"
    config.write_text(
        '[providers.local]\ntype = "local"\n'
        'lexicons = [{ path = "lists/mine.txt", label = "OTHER", decision = "REVIEW" }]\n',
        encoding="utf-8",
    )
    verdict = Moderator.from_config(config).check("这是秘密词")
    assert (verdict.decision, verdict.label) == (Decision.REVIEW, Label.OTHER)


def test_missing_lexicon_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(ConfigError, match=r"nope\.txt does not exist"):
        local(lexicons=[{"path": str(missing), "label": "ABUSE"}])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("ok\n!!!\n", "line 2: term '!!!' has no letters or digits"),
        ("ok\nbad\tterm\n", "line 2: term contains a control character"),
        ("# c\n\n" + "x" * 65 + "\n", "line 3: term is longer than 64 characters"),
    ],
)
def test_malformed_lexicon_line_names_file_and_line(
    tmp_path: Path, content: str, problem: str
) -> None:
    lexicon = tmp_path / "bad.txt"
    lexicon.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"bad.txt, {problem}"):
        local(lexicons=[{"path": str(lexicon), "label": "ABUSE"}])


def test_lexicon_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    lexicon = tmp_path / "gbk.txt"
    lexicon.write_bytes("违规".encode("gbk"))
    with pytest.raises(ConfigError, match=r"gbk\.txt is not UTF-8"):
        local(lexicons=[{"path": str(lexicon), "label": "ABUSE"}])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "x.txt", "label": "RUDE"}, "unknown label 'RUDE'"),
        ({"path": "x.txt", "label": "ABUSE", "decision": "PASS"}, "REVIEW or BLOCK"),
        ({"path": "x.txt", "label": "ABUSE", "colour": "red"}, "colour"),
    ],
)
def test_bad_lexicon_entries_are_config_errors(entry: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        local(lexicons=[entry])


def test_content_ids_come_back(mod: Moderator) -> None:
    clean, dirty = mod.check_many([Content.text("hi", id=1), Content.text("傻逼", id="x")])
    assert (clean.content_id, dirty.content_id) == (1, "x")
    assert clean.provider == dirty.provider == "local"


# -- linear-time rewrites keep their answers (issue 9, item 1) ---------------------------


@pytest.mark.parametrize(
    ("text", "sublabel", "keyword"),
    [
        (
            "write first.last+tag@mail.example.co.uk today",
            "Email",
            "first.last+tag@mail.example.co.uk",
        ),
        ("x" * 5_000 + " a@b.cn", "Email", "a@b.cn"),
        ("a" * 5_000 + "@example.com", "Email", "a" * 5_000 + "@example.com"),
        ("微信   ：  abc12345", "WeChat", "微信   ：  abc12345"),
        ("wx" + " " * 3_000 + "abc12345", "WeChat", "wx" + " " * 3_000 + "abc12345"),
        ("qq\t 123456789", "QQ", "qq\t 123456789"),
    ],
)
def test_rules_match_after_long_runs(
    mod: Moderator, text: str, sublabel: str, keyword: str
) -> None:
    verdict = check(mod, text)
    assert (verdict.sublabel, verdict.keywords) == (sublabel, (keyword,))


def test_allow_list_filters_every_hit_inside_an_allowed_span(tmp_path: Path) -> None:
    lexicon = tmp_path / "w.txt"
    lexicon.write_text("assassin\ncreed\n", encoding="utf-8")
    mod = local(
        builtin=False,
        rules=False,
        lexicons=[{"path": str(lexicon), "label": "violence"}],
        allow=["assassin's creed", "s creed of"],  # overlapping allowed spans
    )
    text = "assassin; Assassin's Creed of old; creed; " * 3
    hits = (mod.check(text).raw or {})["hits"]
    assert [(h["start"], h["keyword"]) for h in hits] == [
        (start + offset, word)
        for start in (0, 42, 84)
        for offset, word in ((0, "assassin"), (35, "creed"))
    ]


@given(st.text(max_size=60))
def test_mapped_views_map_each_character_back_to_where_it_came_from(text: str) -> None:
    key_pieces = [_normalize._KEY[ord(char)] or "" for char in text]
    key, key_origin = _normalize.mapped_key_view(text)
    assert key == "".join(key_pieces) == _normalize.key_view(text)
    assert list(key_origin) == [i for i, piece in enumerate(key_pieces) for _ in piece]
    rules_pieces = [_normalize.rules_view(char) for char in text]
    view, view_origin = _normalize.mapped_rules_view(text)
    assert view == "".join(rules_pieces)
    assert list(view_origin) == [i for i, piece in enumerate(rules_pieces) for _ in piece]
