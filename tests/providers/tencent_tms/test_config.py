"""The ``[providers.NAME]`` table: keys, defaults, every problem at once, no secret shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from moderation_core import ConfigError, Moderator
from moderation_tencent_tms import DEFAULT_RATE_LIMIT, TencentTmsProvider

from .helpers import SECRET_ID, SECRET_KEY, TOKEN, table


def _problems(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        TencentTmsProvider.from_config("tms", table(**overrides), "<t>")
    return str(caught.value)


def test_defaults() -> None:
    prov = TencentTmsProvider.from_config("tms", table(base_url=None, region=None), "<t>")
    cfg = prov.config
    assert (cfg.region, cfg.root_domain, cfg.biz_type, cfg.rate_limit, cfg.timeout) == (
        "ap-singapore",
        "tencentcloudapi.com",
        None,
        DEFAULT_RATE_LIMIT,
        10.0,
    )
    assert DEFAULT_RATE_LIMIT < 1000
    assert prov.describe()["hosts"] == ["ims.tencentcloudapi.com", "tms.tencentcloudapi.com"]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"secret_id": None}, "secret_id"),
        ({"secret_key": None}, "secret_key"),
        ({"secret_key": ""}, "secret_key is empty"),
        ({"region": "Singapore"}, "region"),
        ({"root_domain": "http://x"}, "root_domain"),
        ({"biz_type": "a b"}, "biz_type"),
        ({"root_domain": "intl.tencentcloudapi.com"}, "not both"),
        ({"colour": "red"}, "colour"),
        ({"rate_limit": -1}, "rate_limit"),
    ],
)
def test_problems(overrides: dict[str, Any], words: str) -> None:
    assert words in _problems(**overrides)


def test_every_problem_at_once_and_no_secret_in_them() -> None:
    text = _problems(region="x", biz_type="!", secret_key=SECRET_KEY + "!")
    assert "region" in text
    assert "biz_type" in text
    assert SECRET_KEY not in text


def test_reprs_hide_credentials() -> None:
    prov = TencentTmsProvider.from_config("tms", table(token=TOKEN), "<t>")
    for text in (repr(prov), repr(prov.config), repr(prov.describe()), str(prov.describe())):
        for secret in (SECRET_ID, SECRET_KEY, TOKEN):
            assert secret not in text


def test_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMS_ID", SECRET_ID)
    monkeypatch.setenv("TMS_KEY", SECRET_KEY)
    cfg = {"providers": {"tms": table(secret_id="${TMS_ID}", secret_key="${TMS_KEY}")}}
    with Moderator.from_config(cfg) as mod:
        (prov,) = mod.providers
    assert prov.config.secret_key.get() == SECRET_KEY


def test_the_docs_page_states_the_code_s_defaults() -> None:
    page = (
        Path(__file__).resolve().parents[3] / "docs" / "providers" / "tencent_tms.md"
    ).read_text(encoding="utf-8")
    default = f"{DEFAULT_RATE_LIMIT:g}"
    assert f"# rate_limit = {default} " in page
    assert f"default {default}" in page
    assert "default `ap-singapore`" in page
