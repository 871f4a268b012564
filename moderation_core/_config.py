"""Config: a TOML file or a dict of the same shape, checked before anything runs.

Every mistake is a ConfigError that names the key, variable or type and where it was
found (the file, or ``<dict>``), so the user knows what to fix.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

from ._errors import ConfigError
from ._model import Secret

__all__ = [
    "Config",
    "ModerationSettings",
    "load_config",
    "make_config_converter",
    "structure_config",
]

T = TypeVar("T")

Strategy = Literal["fallback", "strictest", "shadow"]
FailMode = Literal["raise", "allow", "review", "block"]
LongText = Literal["split", "reject"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def make_config_converter() -> cattrs.Converter:
    """A converter for config classes: unknown keys refused, secrets wrapped."""
    converter = make_converter(forbid_extra_keys=True)
    # Strict scalars: TOML has real types, so "yes" is not a bool and "5" not a number.
    for kind, accepted in _SCALARS.items():
        converter.register_structure_hook(kind, _strict(kind, accepted))
    converter.register_structure_hook(Secret, _structure_secret)
    converter.register_unstructure_hook(Secret, repr)
    return converter


_SCALARS: dict[type, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    float: (int, float),
    str: (str,),
}


def _strict(kind: type, accepted: tuple[type, ...]) -> Any:
    def structure(value: object, _type: type) -> Any:
        if isinstance(value, accepted) and (kind is bool or not isinstance(value, bool)):
            return kind(value)
        raise ValueError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")

    return structure


def _structure_secret(value: object, _type: type) -> Secret:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return Secret(value)


def structure_config(converter: cattrs.Converter, cls: type[T], data: Any, where: str) -> T:
    """Structure ``data`` into ``cls``; any failure becomes one ConfigError listing each
    problem with its key path (``where`` is prefixed, e.g. ``moderation.toml [providers.x]``)."""
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path="", format_exception=_format_exception)
        lines = [_describe_problem(p) for p in problems]
        raise ConfigError(f"{where}: " + "; ".join(lines)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _format_exception(exc: BaseException, type_: type | None) -> str:
    # Our validators raise ValueError with a message that says what is accepted.
    if type(exc) is ValueError and str(exc):
        return str(exc)
    return format_exception(exc, type_)


def _describe_problem(problem: str) -> str:
    # cattrs says "extra fields found (a, b) @ .x"; make that read like a config message.
    message, _, path = problem.rpartition(" @ ")
    key = path.lstrip(".") or "(top level)"
    if message.startswith("extra fields found"):
        names = message[message.find("(") + 1 : message.rfind(")")]
        inside = f" in {key}" if path.lstrip(".") else ""
        return f"unknown key(s) {names}{inside}"
    return f"{key}: {message}"


def _check_provider_names(_inst: object, _attr: object, value: list[str] | None) -> None:
    if value is not None and len(set(value)) != len(value):
        raise ValueError("providers lists a name twice")


@attrs.define(kw_only=True)
class ModerationSettings:
    """The ``[moderation]`` table."""

    providers: list[str] | None = attrs.field(default=None, validator=_check_provider_names)
    strategy: Strategy = "fallback"
    fail_mode: FailMode = "raise"
    long_text: LongText = "split"
    redis_url: str | None = None
    deadline: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    batch_window: float = attrs.field(default=0.002, validator=attrs.validators.ge(0))


@attrs.define(kw_only=True)
class _TopLevel:
    moderation: ModerationSettings = attrs.field(factory=ModerationSettings)
    providers: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    policy: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Config:
    """A checked config: the ``[moderation]`` settings, each provider's table (still
    raw: its provider structures it), the provider order, where it came from, and the
    ``[policy]`` table (structured by the policy module)."""

    moderation: ModerationSettings
    providers: Mapping[str, Mapping[str, Any]]
    order: tuple[str, ...]
    source: str
    base_dir: Path
    policy: Mapping[str, Any] = attrs.field(factory=dict)  # checked by the policy module

    def where(self, *keys: str) -> str:
        return f"{self.source} [{'.'.join(keys)}]" if keys else self.source


_CONVERTER = make_config_converter()

DEFAULT_CONFIG: Mapping[str, Any] = {
    "moderation": {"providers": ["local"]},
    "providers": {"local": {"type": "local"}},
}


def load_config(source: str | os.PathLike[str] | Mapping[str, Any] | Config) -> Config:
    """Read and check a config from a TOML path or a dict."""
    if isinstance(source, Config):
        return source
    if isinstance(source, Mapping):
        raw: Mapping[str, Any] = source
        where = "<dict>"
        base_dir = Path.cwd()
    else:
        path = Path(source)
        where = str(path)
        base_dir = path.resolve().parent
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {where} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {where} cannot be read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {where} is not valid TOML: {exc}") from None
    expanded = _expand_env(raw, where, ())
    top = structure_config(_CONVERTER, _TopLevel, expanded, where)
    for name, table in top.providers.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: [providers.{name}] must be a table")
        kind = table.get("type")
        if not isinstance(kind, str) or not kind:
            raise ConfigError(f'{where}: [providers.{name}] needs a type, e.g. type = "local"')
    order = _provider_order(top, where)
    return Config(
        moderation=top.moderation,
        providers=top.providers,
        order=order,
        source=where,
        base_dir=base_dir,
        policy=top.policy,
    )


def _provider_order(top: _TopLevel, where: str) -> tuple[str, ...]:
    listed = top.moderation.providers
    if listed is None:
        if not top.providers:
            raise ConfigError(f"{where}: no providers configured; add a [providers.NAME] table")
        return tuple(top.providers)
    if not listed:
        raise ConfigError(f"{where}: moderation.providers is empty; name at least one provider")
    for name in listed:
        if name not in top.providers:
            known = ", ".join(sorted(top.providers)) or "none"
            raise ConfigError(
                f"{where}: moderation.providers names {name!r} but there is no "
                f"[providers.{name}] table (configured: {known})"
            )
    return tuple(listed)


def _expand_env(value: Any, where: str, path: tuple[str, ...]) -> Any:
    """Replace ``${VAR}`` in every string with the environment's value."""
    if isinstance(value, str):
        if "${" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            try:
                return os.environ[name]
            except KeyError:
                key = ".".join(path) or "(top level)"
                raise ConfigError(
                    f"{where}: environment variable {name} is not set (used by {key})"
                ) from None

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, Mapping):
        return {k: _expand_env(v, where, (*path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, where, (*path, str(i))) for i, v in enumerate(value)]
    return value
