"""Issue 9: config errors in words, all at once (item 12); load-time validation of every
value that would fail later (item 26); no secret in a config repr, asdict or error
(items 4 and 27)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation_core import (
    ConfigError,
    ModerationError,
    Moderator,
    Secret,
    load_config,
    structure_config,
)
from moderation_core._config import looks_like_credential_key, make_config_converter
from moderation_huanxin import HuanxinProvider
from moderation_tencent_chat import TencentChatProvider
from tests import fake_secrets as secrets

TENCENT = {
    "type": "tencent_chat",
    "sdkappid": 1400000000,
    "identifier": "admin",
    "secret_key": secrets.TENCENT_SECRET_KEY,
    "webhook_token": secrets.TENCENT_WEBHOOK_TOKEN,
    "base_url": "http://tencent-chat.test",
}
HUANXIN = {
    "type": "huanxin",
    "org_name": "org",
    "app_name": "app",
    "client_id": secrets.HUANXIN_CLIENT_ID,
    "client_secret": secrets.HUANXIN_CLIENT_SECRET,
    "base_url": "http://huanxin.test",
}
REDIS_PASSWORD = "r3d1s-pa55w0rd-8c1e"


def _error(config: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        Moderator(config)
    return str(caught.value)


# -- item 12: errors in words, every problem at once ------------------------------------


def test_a_bad_literal_is_worded_not_dumped() -> None:
    message = _error({"moderation": {"strategy": "fastest"}})
    assert "strategy must be one of fallback, strictest, shadow (got 'fastest')" in message
    assert "typing.Literal" not in message
    assert "unknown error" not in message


def test_providers_as_a_string_is_not_read_character_by_character() -> None:
    message = _error({"moderation": {"providers": "local"}})
    assert "providers must be a list of provider names" in message
    assert "twice" not in message


def test_no_message_starts_with_top_level() -> None:
    configs: list[dict[str, Any]] = [
        {
            "moderation": {"providers": ["local", "local"]},
            "providers": {"local": {"type": "local"}},
        },
        {"moderaton": {}},
        {"moderation": {"strategy": "x"}},
    ]
    for config in configs:
        message = _error(config)
        assert "(top level)" not in message
    assert "providers lists local twice" in _error(
        {"moderation": {"providers": ["local", "local"]}, "providers": {"local": {"type": "local"}}}
    )


def test_every_problem_is_reported_at_once_with_file_table_and_key(tmp_path: Path) -> None:
    path = tmp_path / "moderation.toml"
    path.write_text(
        '[moderation]\nstrategy = "fastest"\nfail_mode = "maybe"\ndeadline = -1\n'
        'redis_url = "x"\ncolour = 1\n\n[providers.p]\ntype = "local"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 5
    assert all(line.startswith(f"{path} [moderation]: ") for line in lines)
    text = str(caught.value)
    for said in (
        "strategy must be one of",
        "fail_mode must be one of",
        "deadline must be more than 0 (got -1",
        "redis_url must be a redis://, rediss:// or unix:// URL",
        "unknown key(s) colour",
    ):
        assert said in text
    assert caught.value.problems == tuple(lines)


def test_problems_in_several_tables_are_all_reported() -> None:
    message = _error(
        {
            "moderation": {"strategy": "fastest"},
            "providers": {"a": {"rules": True}, "b": "local"},
            "policy": [],
        }
    )
    assert "<dict> [moderation]: strategy" in message
    assert "<dict> [providers.a]: needs a type" in message
    assert "<dict> [providers.b]: must be a table" in message
    assert "<dict> [policy]: must be a table" in message


def test_problems_in_every_provider_table_are_reported_together() -> None:
    """The tables load, but two providers refuse their own: both are named at once."""
    config = {
        "moderation": {"providers": ["a", "b", "c"]},
        "providers": {
            "a": {"type": "tencent_chat", "sdkappid": 1, "identifier": "x",
                  "secret_key": "s", "timeout": "soon"},
            "b": {"type": "no_such_vendor"},
            "c": {"type": "local"},
        },
    }  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        Moderator(config)
    problems = caught.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("<dict> [providers.a]: timeout")
    assert problems[1].startswith("<dict> [providers.b]: unknown provider type 'no_such_vendor'")


# -- item 26: load-time validation --------------------------------------------------------


@pytest.mark.parametrize(
    ("moderation", "says"),
    [
        ({"batch_window": math.inf}, "batch_window must be a finite number"),
        ({"batch_window": math.nan}, "batch_window must be a finite number"),
        ({"batch_window": -1.0}, "batch_window must be at least 0"),
        ({"batch_window": 5.0, "deadline": 1.0}, "batch_window must not be longer than deadline"),
        ({"deadline": math.inf}, "deadline must be a finite number"),
        ({"redis_url": "x"}, "redis_url must be a redis://, rediss:// or unix:// URL"),
        ({"redis_url": "http://localhost:6379"}, "redis_url must be a redis://"),
        ({"redis_url": "redis://"}, "redis_url must be a redis://"),
    ],
)
def test_bad_moderation_values_are_refused_at_load(moderation: dict[str, Any], says: str) -> None:
    message = _error({"moderation": moderation, "providers": {"local": {"type": "local"}}})
    assert says in message
    assert "<dict> [moderation]" in message


def test_good_redis_urls_and_a_tiny_deadline_load() -> None:
    for url in ("redis://localhost:6379/0", "rediss://:pw@h:6380", "unix:///tmp/redis.sock"):
        loaded = load_config(
            {"moderation": {"redis_url": url}, "providers": {"l": {"type": "local"}}}
        )
        assert loaded.moderation.redis_url == url
    # The default batch window fits itself under a deadline shorter than it.
    tiny = load_config({"moderation": {"deadline": 0.001}, "providers": {"l": {"type": "local"}}})
    assert tiny.moderation.batch_window <= tiny.moderation.deadline


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"base_url": "::::"}, "base_url must be an http:// or https:// URL"),
        ({"base_url": "ftp://x"}, "base_url must be an http:// or https:// URL"),
        ({"base_url": "http://"}, "base_url must be an http:// or https:// URL"),
        ({"base_url": "http://a b"}, "base_url must be an http:// or https:// URL"),
        ({"timeout": math.nan}, "timeout must be a finite number"),
        ({"timeout": math.inf}, "timeout must be a finite number"),
        ({"timeout": -1.0}, "timeout must be more than 0"),
        ({"rate_limit": math.nan}, "rate_limit must be a finite number"),
        ({"rate_limit": math.inf}, "rate_limit must be a finite number"),
        ({"rate_limit": -1.0}, "rate_limit must be"),
        ({"breaker": {"window": math.inf}}, "window must be a finite number"),
        ({"breaker": {"open_for": math.nan}}, "open_for must be a finite number"),
        ({"max_wait": math.inf}, "max_wait must be a finite number"),
    ],
)
@pytest.mark.parametrize("table", [TENCENT, HUANXIN], ids=["tencent", "huanxin"])
def test_bad_http_provider_values_are_refused_at_load(
    table: dict[str, Any], overrides: dict[str, Any], says: str
) -> None:
    message = _error({"providers": {"p": {**table, **overrides}}})
    assert says in message
    assert "<dict> [providers.p]" in message
    for secret in secrets.ALL:
        assert secret not in message


@pytest.mark.parametrize(
    ("table", "says"),
    [
        (
            {"type": "local", "lexicons": [{"path": "a\x00b.txt", "label": "AD"}]},
            "lexicons[0].path contains a NUL character",
        ),
        ({"type": "local", "allow": ["ok", "\ud800"]}, "allow[1] is not valid Unicode"),
        ({"type": "local", "allow": "assassin"}, "allow must be a list of strings"),
        ({"type": "local", 1: "x"}, "has a key that is not a string"),
    ],
)
def test_bad_local_values_are_refused_at_load(table: dict[Any, Any], says: str) -> None:
    message = _error({"providers": {"loc": table}})
    assert "<dict> [providers.loc]" in message
    assert says in message


def test_a_lone_surrogate_or_a_non_string_key_anywhere_is_refused() -> None:
    assert "is not valid Unicode" in _error({"moderation": {"strategy": "\udfff"}})
    assert "has a key that is not a string" in _error({"policy": {1: "x"}})
    assert "nests more than" in _error({"policy": _deep(200)})


def _deep(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(depth):
        node = {"x": node}
    return node


def test_env_values_with_a_lone_surrogate_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAD_BYTES", "a\udcff")  # what os.environ makes of a non-UTF-8 byte
    message = _error({"providers": {"local": {"type": "local", "allow": ["${BAD_BYTES}"]}}})
    assert "allow[0] is not valid Unicode" in message


# -- items 4 and 27: no secret in reprs, asdict or errors ---------------------------------


def test_moderator_config_repr_shows_no_secret() -> None:
    config = {
        "moderation": {
            "providers": ["t"],
            "redis_url": f"redis://user:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        },
        "providers": {"t": TENCENT, "h": HUANXIN},
    }
    loaded = load_config(config)
    shown = repr(loaded)
    for secret in (*secrets.ALL, REDIS_PASSWORD):
        assert secret not in shown
    assert "127.0.0.1:6379" in shown  # where Redis is stays visible
    assert loaded.providers["t"]["secret_key"] == Secret(secrets.TENCENT_SECRET_KEY)


def test_attrs_asdict_astuple_and_unstructure_do_not_expose_secrets() -> None:
    for provider_class, table in ((TencentChatProvider, TENCENT), (HuanxinProvider, HUANXIN)):
        provider = provider_class.from_config("p", table, "<dict> [providers.p]")
        dumped = (
            repr(attrs.asdict(provider.config)),
            repr(attrs.astuple(provider.config)),
            repr(make_config_converter().unstructure(provider.config)),
            repr(cattrs.Converter().unstructure(provider.config)),
            repr(provider.config),
        )
        for text in dumped:
            for secret in secrets.ALL:
                assert secret not in text
    assert Secret("a") == Secret("a") != Secret("b")
    with pytest.raises(AttributeError):
        Secret("a")._value = "b"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("identifier", "${LEAKY}"),
        ("region", "${LEAKY}"),
        ("audit_name", 5),
        ("base_url", "${LEAKY}"),
    ],
)
def test_a_config_error_never_quotes_an_environment_value(
    monkeypatch: pytest.MonkeyPatch, key: str, value: Any
) -> None:
    # The classic mistake: the secret key's variable put in the wrong key.
    monkeypatch.setenv("LEAKY", secrets.TENCENT_SECRET_KEY + " x")
    table = {**TENCENT, key: value, "secret_key": "${LEAKY}"}
    with pytest.raises(ConfigError) as caught:
        Moderator({"providers": {"t": table}})
    message = str(caught.value)
    assert secrets.TENCENT_SECRET_KEY not in message
    assert repr(caught.value).find(secrets.TENCENT_SECRET_KEY) == -1
    assert caught.value.__cause__ is None
    assert "[providers.t]" in message


def test_a_config_error_names_the_variable_instead_of_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAKY", "not a url " + secrets.HUANXIN_CLIENT_SECRET)
    message = _error({"providers": {"h": {**HUANXIN, "base_url": "${LEAKY}"}}})
    assert secrets.HUANXIN_CLIENT_SECRET not in message
    assert "${LEAKY}" in message
    assert "base_url" in message


@pytest.mark.parametrize("key", ["sdkappid", "timeout", "region", "identifier"])
def test_a_credential_looking_value_in_the_wrong_key_is_not_quoted(key: str) -> None:
    message = _error({"providers": {"t": {**TENCENT, key: secrets.TENCENT_SECRET_KEY}}})
    assert secrets.TENCENT_SECRET_KEY not in message
    assert key in message


def test_a_plugin_key_named_like_a_credential_is_not_quoted() -> None:
    @attrs.define(kw_only=True)
    class PluginConfig:
        api_token: int

    converter = make_config_converter()
    with pytest.raises(ConfigError) as caught:
        structure_config(converter, PluginConfig, {"api_token": "hunter2-abc"}, "<x>")
    assert "hunter2-abc" not in str(caught.value)
    assert "api_token" in str(caught.value)


# -- fuzz: loading any dict gives a config or a ConfigError ------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    [
        "strategy",
        "fail_mode",
        "providers",
        "deadline",
        "batch_window",
        "redis_url",
        "type",
        "allow",
        "lexicons",
        "base_url",
        "timeout",
        "rate_limit",
        "breaker",
        "secret_key",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    moderation=st.dictionaries(_KEYS, _VALUES, max_size=4),
    provider=st.dictionaries(_KEYS, _VALUES, max_size=5),
    kind=st.sampled_from(["local", "tencent_chat", "huanxin"]),
)
def test_fuzzed_configs_give_a_moderator_or_a_config_error(
    moderation: dict[str, Any], provider: dict[str, Any], kind: str
) -> None:
    logging.disable(logging.WARNING)
    error: ModerationError | None = None
    try:
        Moderator({"moderation": moderation, "providers": {"p": {**provider, "type": kind}}})
    except ModerationError as exc:
        error = exc
    finally:
        logging.disable(logging.NOTSET)
    assert error is None or isinstance(error, ConfigError), error


def test_a_missing_lexicon_names_the_file_the_provider_and_the_key(tmp_path: Path) -> None:
    config = tmp_path / "moderation.toml"
    config.write_text(
        '[providers.words]\ntype = "local"\n'
        'lexicons = [{ path = "nope.txt", label = "ABUSE" },\n'
        '            { path = "gone.txt", label = "AD" }]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        Moderator(config)
    assert caught.value.problems == (
        f"{config} [providers.words]: lexicons[0].path: lexicon file nope.txt does not exist "
        f"(relative paths start at {tmp_path})",
        f"{config} [providers.words]: lexicons[1].path: lexicon file gone.txt does not exist "
        f"(relative paths start at {tmp_path})",
    )


@pytest.mark.parametrize(
    ("key", "credential"),
    [
        ("secret_key", True),
        ("access_key_secret", True),
        ("webhook_token", True),
        ("usersig", True),
        ("signature_method", False),  # "SHA256": a choice, which errors may quote
        ("signature", False),  # "acs3" or "v1": a signing scheme
        ("token_type", False),
    ],
)
def test_keys_that_choose_how_to_sign_are_not_credentials(key: str, credential: bool) -> None:
    assert looks_like_credential_key(key) is credential
