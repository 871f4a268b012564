"""Provider API 1.0: the class contract checked at definition, one config validation
hook, no shared converter, hand-registered plugins checked, and a reference in
docs/plugins.md that names every public attribute (with each method's signature)."""

from __future__ import annotations

import ast
import inspect
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import pytest

import moderation_core
from moderation_core import (
    AllProvidersFailed,
    AuthError,
    Capabilities,
    CheckContext,
    ConfigError,
    Content,
    Decision,
    Flow,
    HttpProviderConfig,
    Moderator,
    ProtocolError,
    Provider,
    ProviderError,
    ProviderRegistry,
    ProviderUnavailable,
    RateLimited,
    Verdict,
    _provider,
    hookimpl,
    make_plugin_manager,
    raise_for_status,
    register_plugin,
    wire,
)
from moderation_core._drivers import AuthGate, provider_steps
from moderation_core._steps import BLOCKING, run_blocking
from tests.fakes import FakeConfig, FakePlugin, FakeProvider

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
REFERENCE = PLUGINS[PLUGINS.index("## Reference: Provider API 1.0") :]
# TEMPORARY old names kept while the core drivers move to the new ones (issue 10).
ALIASES: set[str] = set()  # temporary old names kept beside the new ones: none since 1.0


def section(title: str) -> str:
    start = REFERENCE.index(f"### `{title}`")
    end = REFERENCE.find("\n### ", start + 1)
    return REFERENCE[start : end if end != -1 else None]


def shown_signature(function: Callable[..., Any]) -> str:
    """``name(a: T, *, b: U = None) -> R`` as the reference writes it (no self/cls)."""
    signature = inspect.signature(function)
    parts: list[str] = []
    star = False
    for parameter in signature.parameters.values():
        if parameter.name in ("self", "cls"):
            continue
        if parameter.kind is parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = f"{parameter.name}: {parameter.annotation}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        parts.append(text)
    return f"{function.__name__}({', '.join(parts)}) -> {signature.return_annotation}"


def public_members(cls: type[Any]) -> dict[str, Any]:
    members = {n: v for n, v in vars(cls).items() if not n.startswith("_")}
    annotated = {n for n in getattr(cls, "__annotations__", {}) if not n.startswith("_")}
    return {**dict.fromkeys(annotated), **members}


@pytest.mark.parametrize("cls", [Provider, Capabilities, HttpProviderConfig])
def test_every_public_attribute_is_in_the_reference(cls: type[Any]) -> None:
    documented = section(cls.__name__)
    members = {n: v for n, v in public_members(cls).items() if n not in ALIASES}
    if attrs.has(cls):
        members.update({f.name: None for f in attrs.fields(cls)})
    assert members
    for name, value in members.items():
        function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        if inspect.isfunction(function) and name not in ("capabilities",):
            assert shown_signature(function) in documented, shown_signature(function)
        else:
            assert f"`{name}`" in documented, name


def test_instance_attributes_are_in_the_reference() -> None:
    provider = FakeProvider("fake", FakeConfig(type="fake"))
    assert {"name", "config"} <= set(vars(provider))
    assert "Instance attributes: `name`" in section("Provider")
    assert "and `config`" in section("Provider")


@pytest.mark.parametrize("name", [*_provider.__all__, *wire.__all__])
def test_every_name_of_the_provider_module_is_in_the_reference(name: str) -> None:
    assert re.search(rf"`{name}\b", REFERENCE), name


def test_the_reference_and_the_changelog_name_every_retired_name() -> None:
    changelog = (ROOT / "docs" / "changelog.md").read_text(encoding="utf-8")
    for old in ("type", "emulator", "auth_flow", "config_converter", "uses_http"):
        assert f"`Provider.{old}" in changelog, old
    assert "`moderation_core.hookspec`" in changelog
    for old in ("type", "emulator", "auth_flow", "config_converter", "uses_http"):
        assert f"`{old}`" in section("Provider"), old


# -- the class contract -------------------------------------------------------------------


@attrs.define(kw_only=True)
class PlainConfig:
    type: str


def test_a_provider_without_its_type_is_refused_where_it_is_defined() -> None:
    with pytest.raises(TypeError, match=r"NoType: provider_type must be .*abstract=True"):

        class NoType(Provider[PlainConfig]):
            config_class: ClassVar[type[Any]] = PlainConfig

            @property
            def capabilities(self) -> Capabilities:
                return Capabilities()

            def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
                raise NotImplementedError
                yield


def test_every_class_problem_is_named_at_once() -> None:
    wrong = {"provider_type": "has space", "config_class": dict, "secret_query_params": ["sig"]}
    with pytest.raises(TypeError) as caught:
        type("Wrong", (FakeProvider,), wrong)
    message = str(caught.value)
    for part in ("provider_type", "config_class must be an attrs class", "secret_query_params"):
        assert part in message


def test_an_abstract_base_opts_out_and_its_subclasses_are_checked() -> None:
    class VendorBase(Provider[PlainConfig], abstract=True):
        config_class: ClassVar[type[Any]] = PlainConfig

    with pytest.raises(TypeError, match="provider_type"):

        class Forgot(VendorBase):
            pass

    class Concrete(VendorBase):
        provider_type: ClassVar[str] = "concrete"

    assert Concrete.config_class is PlainConfig


@pytest.mark.parametrize(
    ("old", "says"),
    [
        ("auth_flow", "needs_credentials() plus credentials_flow()"),
        ("emulator", "emulator is now emulator_factory"),
        ("config_converter", "config_converter is gone"),
        ("uses_http", "uses_http is gone"),
    ],
)
def test_a_name_of_the_old_api_says_what_replaced_it(old: str, says: str) -> None:
    with pytest.raises(TypeError, match=re.escape(says)):
        type("Old", (FakeProvider,), {old: None})


def test_a_plain_function_as_emulator_factory_does_not_bind() -> None:
    def make(**options: Any) -> Callable[[httpx.Request], httpx.Response]:
        return lambda _request: httpx.Response(200, json=options)

    class WithEmulator(FakeProvider):
        provider_type: ClassVar[str] = "with_emulator"
        emulator_factory = make

    # Read through an instance, where a plain function would have bound to it.
    provider: Any = WithEmulator("x", FakeConfig(type="with_emulator"))
    answer = provider.emulator_factory(a=1)(httpx.Request("GET", "http://x"))
    assert answer.json() == {"a": 1}
    assert WithEmulator.emulator_factory is make


def test_no_converter_is_shared_or_handed_out() -> None:
    assert not hasattr(Provider, "config_converter")
    fake = _provider._config_converter(FakeProvider)
    assert fake is _provider._config_converter(FakeProvider)
    assert fake is not _provider._config_converter(CheckedProvider)


def test_the_base_class_holds_no_base_url() -> None:
    assert not hasattr(Provider, "base_url")


# -- one validation hook ----------------------------------------------------------------


@attrs.define(kw_only=True)
class CheckedConfig(FakeConfig):
    low: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    high: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    name_a: str = "a"
    name_b: str = "b"

    def problems(self) -> list[str]:
        problems = super().problems()
        if self.low > self.high:
            problems.append("low must not be above high")
        if self.name_a == self.name_b:
            problems.append("name_a and name_b must differ")
        return problems

    def advice(self) -> list[str]:
        return ["high is very high"] if self.high > 100 else []


class CheckedProvider(FakeProvider):
    provider_type: ClassVar[str] = "checked"
    config_class: ClassVar[type[Any]] = CheckedConfig


def build(**table: Any) -> CheckedProvider:
    return CheckedProvider.from_config("c", {"type": "checked", **table}, "cfg.toml [providers.c]")


def test_every_cross_field_problem_is_in_one_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        build(low=5, high=1, name_a="x", name_b="x")
    assert caught.value.problems == (
        "cfg.toml [providers.c]: low must not be above high",
        "cfg.toml [providers.c]: name_a and name_b must differ",
    )


def test_every_field_problem_is_reported_before_the_cross_field_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        build(low=-1, high=-1)
    problems = caught.value.problems
    assert len(problems) == 2
    assert all(p.startswith("cfg.toml [providers.c]: ") for p in problems)
    assert any("low" in p for p in problems)
    assert any("high" in p for p in problems)


def test_a_provider_built_by_hand_from_a_bad_config_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[providers.c\]: low must not be above high"):
        CheckedProvider("c", CheckedConfig(type="checked", low=3, high=1))


def test_advice_is_logged_naming_the_provider(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        build(high=500)
    assert "provider c: high is very high" in caplog.text


def test_the_built_in_providers_validate_through_problems() -> None:
    from moderation_huanxin import HuanxinConfig  # noqa: PLC0415 - one test's import
    from moderation_tencent_chat import TencentChatConfig  # noqa: PLC0415

    for config_class in (HuanxinConfig, TencentChatConfig):
        assert "problems" in vars(config_class)
        assert "__attrs_post_init__" not in vars(config_class)


# -- credentials -------------------------------------------------------------------------


class Minimal(Provider[PlainConfig]):
    provider_type: ClassVar[str] = "minimal"
    config_class: ClassVar[type[Any]] = PlainConfig

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        return []
        yield


def test_the_credentials_pair_is_always_present_and_idle_by_default() -> None:
    provider = Minimal("m", PlainConfig(type="minimal"))
    assert provider.needs_credentials() is False
    flow = provider.credentials_flow()
    with pytest.raises(StopIteration):
        next(flow)


class Offline(Minimal):
    """A provider with no HTTP config, whose flow does what its texts say."""

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        if contents[0].value == "send":
            yield httpx.Request("GET", "http://nowhere.invalid/")
        if contents[0].value == "fail":
            raise ProtocolError("unreadable")
        return [Verdict(decision=Decision.PASS) for _ in contents]


def test_a_provider_without_an_http_config_runs_as_a_plain_call() -> None:
    provider = Offline("o", PlainConfig(type="minimal"))
    gate = AuthGate(BLOCKING.lock())

    def steps(text: str) -> Any:
        return run_blocking(
            provider_steps(provider, [Content.text(text)], CheckContext(), gate, None)
        )

    (verdict,) = steps("hello")
    assert (verdict.decision, verdict.provider) == (Decision.PASS, "o")
    failed = steps("fail")
    assert isinstance(failed, ProtocolError)
    assert (failed.provider, failed.__traceback__) == ("o", None)
    with pytest.raises(RuntimeError, match="provider o sent a request"):
        steps("send")


# -- plugins -----------------------------------------------------------------------------


class Typo:
    @hookimpl
    def register_provider(self, registry: ProviderRegistry) -> None: ...


def test_register_plugin_refuses_a_misspelled_hook_and_leaves_it_out() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    typo = Typo()
    with pytest.raises(
        ConfigError, match=r"plugin Typo: unknown hook .register_provider. \(did you mean"
    ):
        register_plugin(pm, typo)
    assert not pm.is_registered(typo)
    register_plugin(pm, FakePlugin())


def test_register_plugin_refuses_a_hook_with_the_wrong_arguments() -> None:
    class WrongArgs:
        @hookimpl
        def register_providers(self, reg: ProviderRegistry) -> None: ...

    pm = make_plugin_manager(load_entrypoints=False)
    with pytest.raises(ConfigError, match=r"plugin WrongArgs: .*reg"):
        register_plugin(pm, WrongArgs())


def test_a_moderator_refuses_a_plugin_registered_with_a_misspelled_hook() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(FakePlugin())
    pm.register(Typo())
    with pytest.raises(ConfigError, match="register_providers"):
        Moderator({"providers": {"f": {"type": "fake"}}}, plugin_manager=pm)


def test_hookimpl_is_public_and_hookspec_is_not() -> None:
    assert "hookimpl" in moderation_core.__all__
    assert not hasattr(moderation_core, "hookspec")


# -- errors ------------------------------------------------------------------------------


def test_all_providers_failed_holds_provider_errors() -> None:
    group = AllProvidersFailed("all failed", [ProviderUnavailable("down", provider="a")])
    errors: tuple[ProviderError, ...] = group.exceptions
    assert [e.provider for e in errors] == ["a"]


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (401, {}, AuthError, None),
        (403, {}, AuthError, None),
        (429, {"Retry-After": "3"}, RateLimited, 3.0),
        (429, {"Retry-After": "soon"}, RateLimited, None),
        (429, {"Retry-After": "-4"}, RateLimited, 0.0),
        (408, {}, ProviderUnavailable, None),
        (503, {}, ProviderUnavailable, None),
        (404, {}, ProviderError, None),
    ],
)
def test_raise_for_status_raises_the_typed_error(
    status: int, headers: dict[str, str], error: type[ProviderError], retry_after: float | None
) -> None:
    response = httpx.Response(status, headers=headers, text="echo secret-value")
    with pytest.raises(error) as caught:
        raise_for_status(response)
    assert type(caught.value) is error
    assert caught.value.code == status
    assert "secret-value" not in str(caught.value)
    assert getattr(caught.value, "retry_after", None) == retry_after


@pytest.mark.parametrize("status", [200, 204, 302])
def test_raise_for_status_passes_a_success(status: int) -> None:
    raise_for_status(httpx.Response(status))


# -- the example plugin stays small ------------------------------------------------------


def test_the_example_plugin_leaves_provider_and_content_id_to_the_core() -> None:
    source = (ROOT / "examples" / "moderation_example" / "moderation_example.py").read_text()
    tree = ast.parse(source)
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "moderation_core"
        for alias in node.names
    ]
    assert len(imported) <= 14  # 18 before Provider API 1.0
    keywords = {
        k.arg for node in ast.walk(tree) if isinstance(node, ast.Call) for k in node.keywords
    }
    assert not keywords & {"provider", "content_id"}
