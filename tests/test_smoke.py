from moderation_core import Decision, Label, Moderator


def test_default_moderator_checks_offline() -> None:
    with Moderator() as mod:
        clean, dirty = mod.check_many(["今天天气不错", "你这个傻逼"])
    assert clean.decision is Decision.PASS
    assert dirty.decision is Decision.BLOCK
    assert dirty.label is Label.ABUSE
    assert dirty.keywords == ("傻逼",)
