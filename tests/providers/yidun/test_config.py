"""The ``[providers.NAME]`` table of ``type = "yidun"``: every key, every problem
reported at once, and no credential in a repr, a describe() or a ConfigError."""

from __future__ import annotations

from typing import Any

import pytest

from moderation_core import ConfigError, Moderator
from moderation_yidun import YidunConfig, YidunProvider

from .helpers import BUSINESS_ID, SECRET_ID, SECRET_KEY, config, provider, table


def read(**overrides: Any) -> YidunConfig:
    return YidunProvider.read_config("yidun", table(**overrides), "<test>")


def problems(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        Moderator(config(**overrides)).close()
    return str(caught.value)


def test_the_defaults() -> None:
    cfg = read(base_url=None)
    assert cfg.region is None
    assert cfg.backup_host is False
    assert cfg.signature_method == "MD5"
    assert cfg.version == "v5.2"
    assert cfg.batch_size == 100
    assert cfg.check_labels == []
    assert cfg.business_ids == {}
    assert cfg.rate_limit is None  # Yidun sets QPS per contract: see the docs
    assert cfg.timeout == 10.0


def test_every_key() -> None:
    cfg = read(
        base_url=None,
        region="sg-singapore",
        backup_host=True,
        signature_method="sha256",
        version="v5.3",
        batch_size=50,
        check_labels=[100, 200],
        business_ids={"Group": "g-1"},
        rate_limit=40,
        timeout=2.5,
        retries=1,
    )
    assert cfg.signature_method == "sha256"  # any case, as the Go SDK takes it
    assert (cfg.region, cfg.backup_host, cfg.version, cfg.batch_size) == (
        "sg-singapore",
        True,
        "v5.3",
        50,
    )
    assert (cfg.check_labels, cfg.business_ids) == ([100, 200], {"Group": "g-1"})
    assert provider(base_url=None, region="sg-singapore", backup_host=True).base_url == (
        "https://as-text-sg.dun.163.com"
    )


@pytest.mark.parametrize("missing", ["secret_id", "secret_key", "business_id"])
def test_credentials_are_required(missing: str) -> None:
    assert missing in problems(**{missing: None})


@pytest.mark.parametrize("empty", ["secret_id", "secret_key", "business_id"])
def test_credentials_must_not_be_empty(empty: str) -> None:
    assert empty in problems(**{empty: ""})


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"region": "mars-1"}, "region must be one of"),
        ({"region": "cn-beijing"}, "region or base_url, not both"),
        ({"base_url": None, "region": "cn-shanghai", "backup_host": True}, "one host only"),
        ({"backup_host": True}, "means nothing with base_url"),
        ({"signature_method": "CRC32"}, "signature_method must be one of MD5, SHA1, SHA256"),
        ({"signature_method": "SM3"}, "signature_method must be one of"),
        ({"batch_size": 0}, "batch_size must be 1-100"),
        ({"batch_size": 101}, "batch_size must be 1-100"),
        ({"version": "v3.1"}, "version must be a v5 API version"),
        ({"check_labels": [-1]}, "check_labels"),
        ({"check_labels": "100,200"}, "check_labels"),
        ({"business_ids": {"Group": " "}}, "business_ids"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_key_is_a_config_error_naming_it(overrides: dict[str, Any], says: str) -> None:
    assert says in problems(**overrides)


def test_every_problem_is_reported_at_once() -> None:
    error = problems(secret_key="", region="mars-1", batch_size=0)
    assert "region" in error
    assert "batch_size" in error


def test_no_credential_in_a_repr_describe_or_config_error() -> None:
    prov = provider()
    texts = [repr(prov.config), repr(prov), repr(prov.describe()), str(prov.describe())]
    texts.append(problems(secret_key=SECRET_KEY + "-but-wrong", batch_size=0, colour="x"))
    for text in texts:
        assert SECRET_KEY not in text
        assert SECRET_ID not in text
    assert prov.describe()["business_id"] == BUSINESS_ID
    assert prov.describe()["host"] == "yidun.test"


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIDUN_SECRET_KEY", SECRET_KEY)
    with Moderator(config(secret_key="${YIDUN_SECRET_KEY}")) as mod:
        assert mod.providers[0].config.secret_key.get() == SECRET_KEY
