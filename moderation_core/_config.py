"""Config: a TOML file or a dict of the same shape, checked before anything runs.

Every mistake is a ConfigError that names the file (or ``<dict>``), the table and the
key, in words, so the user knows what to fix; all the problems found are reported at
once. A value that came from the environment (``${VAR}``) or looks like a credential
is never quoted in a message: the message names the key and the variable instead.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import attrs
import cattrs
import cattrs.cols
import httpx
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

from ._errors import ConfigError
from ._model import Secret

__all__ = [
    "CacheSettings",
    "Config",
    "ConfigProblems",
    "EnvValue",
    "ModerationSettings",
    "ServeSettings",
    "check_http_url",
    "config_error",
    "load_config",
    "looks_like_credential_key",
    "make_config_converter",
    "shown",
    "structure_config",
]

T = TypeVar("T")

FailMode = Literal["raise", "allow", "review", "block"]
LongText = Literal["split", "reject"]
Prefilter = Literal["off", "local"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A hostile dict could nest deeper than Python recurses; no real config nests past a few.
_MAX_DEPTH = 32
_TOP_TABLES = ("moderation", "providers", "policy", "serve", "store", "worker")


class ConfigProblems(ConfigError):
    """A ConfigError for several problems at once; ``problems`` holds one line each,
    every line naming the file, the table and the key."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self._problems = tuple(problems)

    @property
    def problems(self) -> tuple[str, ...]:
        return self._problems


def config_error(problems: Sequence[str]) -> ConfigError:
    """One ConfigError for the problems found: ConfigProblems when there are several."""
    return ConfigProblems(problems) if len(problems) > 1 else ConfigError(problems[0])


class EnvValue(str):
    """A config string that came (wholly or partly) from ``${VAR}``: its repr names the
    reference as written, so a message or repr quoting it never shows the value."""

    reference: str

    def __new__(cls, value: str, reference: str) -> EnvValue:
        made = super().__new__(cls, value)
        made.reference = reference
        return made

    def __repr__(self) -> str:
        return f"<{self.reference} from the environment>"


# -- words for values ------------------------------------------------------------------

_CREDENTIAL_PARTS = ("secret", "token", "password", "passwd", "pwd", "key", "sig", "signature")
_CREDENTIAL_SPLIT = re.compile(r"[^a-z0-9]+")
# Keys that name how a credential is used, and hold a public choice: "SHA256", "acs3".
_SETTING_WORDS = frozenset({"method", "methods", "scheme", "algorithm", "version", "type"})
_SETTING_KEYS = frozenset({"signature"})  # a signing scheme selector; signatures are computed


def looks_like_credential_key(key: object) -> bool:
    """True for key names that hold credentials: ``secret_key``, ``webhook_token``,
    ``client_secret``, ``api_key``, ``usersig``, ``password``..."""
    if not isinstance(key, str):
        return False
    words = [w for w in _CREDENTIAL_SPLIT.split(key.lower()) if w]
    if not words or key.lower() in _SETTING_KEYS or words[-1] in _SETTING_WORDS:
        return False  # a choice about credentials (signature_method), not one
    return any(word.endswith(_CREDENTIAL_PARTS) for word in words)


def _looks_like_credential_value(text: str) -> bool:
    # Long, unbroken and varied: an API key, a token, a hex digest; not a word or a URL.
    if len(text) < 16 or any(c.isspace() for c in text) or "://" in text:
        return False
    counts = Counter(text)
    entropy = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    return entropy >= 3.0 and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def shown(value: object) -> str:
    """A value as a message may quote it: never a credential or an environment value."""
    if isinstance(value, Secret):
        return "a hidden value"
    if isinstance(value, EnvValue):
        return f"the value of {value.reference}"
    if isinstance(value, str):
        if _looks_like_credential_value(value):
            return "a hidden value"
        text = _without_password(value)
        return repr(text if len(text) <= 60 else text[:57] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return f"a {_kind(value)}"


def _kind(value: object) -> str:
    if isinstance(value, str | Secret):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


_URL_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")
_QUERY_PASSWORD = re.compile(r"((?:password|token|secret)=)[^&#]*", re.IGNORECASE)


def _without_password(url: str) -> str:
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", url))


def _url_repr(url: str | None) -> str:
    return "None" if url is None else repr(_without_password(url))


def _sensitive_strings(data: object, key: object = None, depth: int = 0) -> set[str]:
    """Every string in ``data`` a message must not quote."""
    found: set[str] = set()
    if depth > _MAX_DEPTH:
        return found
    if isinstance(data, Secret):
        found.add(data.get())
    elif isinstance(data, str):
        if (
            isinstance(data, EnvValue)
            or looks_like_credential_key(key)
            or _looks_like_credential_value(data)
        ):
            found.add(str(data))
    elif isinstance(data, Mapping):
        for k, v in data.items():
            found |= _sensitive_strings(v, k, depth + 1)
    elif isinstance(data, list | tuple):
        for v in data:
            found |= _sensitive_strings(v, key, depth + 1)
    return found


def _scrubbed(lines: Iterable[str], data: object) -> list[str]:
    # A last guard for messages written by validators we do not own: the longest first,
    # so a secret containing another is hidden whole. Short strings are left alone:
    # hiding "a" everywhere would hide the message, and a 5-character secret is not one.
    secrets = sorted((s for s in _sensitive_strings(data) if len(s) >= 6), key=len, reverse=True)
    out = []
    for line in lines:
        text = line
        for secret in secrets:
            text = text.replace(secret, "***")
        out.append(text)
    return out


# -- the converter -----------------------------------------------------------------------


def make_config_converter() -> cattrs.Converter:
    """A converter for config classes: unknown keys refused, scalars strict, floats
    finite, secrets wrapped, lists really lists, literals worded."""
    converter = make_converter(forbid_extra_keys=True)
    # Strict scalars: TOML has real types, so "yes" is not a bool and "5" not a number.
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(Secret, _structure_secret)
    converter.register_unstructure_hook(Secret, repr)
    converter.register_structure_hook_func(_is_literal, _structure_literal)
    converter.register_structure_hook_factory(_is_list, lambda t: _list_hook(converter, t))
    return converter


def _structure_bool(value: object, _type: type) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"must be true or false (got {shown(value)})")


def _structure_int(value: object, _type: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"must be a whole number (got {shown(value)})")


def _structure_float(value: object, _type: type) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"must be a number (got {shown(value)})")
    # TOML has inf and nan; neither is a timeout, a rate or a window.
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number (got {shown(value)})")
    return float(value)


def _structure_str(value: object, _type: type) -> str:
    if isinstance(value, Secret):  # a credential-named key of a plugin typed plain str
        return value.get()
    if isinstance(value, str):
        return value  # an EnvValue stays one, so its repr keeps hiding it
    raise ValueError(f"must be a string (got {shown(value)})")


def _structure_secret(value: object, _type: type) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise ValueError(f"must be a string (got a {_kind(value)})")


def _is_literal(kind: Any) -> bool:
    return typing.get_origin(kind) is Literal


def _structure_literal(value: object, kind: Any) -> Any:
    choices = typing.get_args(kind)
    if isinstance(value, str) and not isinstance(value, bool) and value in choices:
        return next(c for c in choices if c == value)
    names = ", ".join(str(c) for c in choices)
    raise ValueError(f"must be one of {names} (got {shown(value)})")


def _is_list(kind: Any) -> bool:
    return typing.get_origin(kind) is list


def _list_hook(converter: cattrs.Converter, kind: Any) -> Callable[[Any, Any], Any]:
    (item,) = typing.get_args(kind) or (Any,)
    what = "strings" if item is str else "tables" if attrs.has(item) else "values"
    items = cattrs.cols.list_structure_factory(kind, converter)

    def structure(value: object, _type: Any) -> list[Any]:
        # A lone string would otherwise become a list of its characters.
        if not isinstance(value, list):
            raise ValueError(f"must be a list of {what} (got a {_kind(value)})")
        return cast("list[Any]", items(value, kind))

    return structure


# -- structuring with every problem reported ------------------------------------------


def structure_config(converter: cattrs.Converter, cls: type[T], data: Any, where: str) -> T:
    """Structure ``data`` into the attrs class ``cls``; any failure is a ConfigError
    listing every problem, one a line, each prefixed with ``where`` (e.g.
    ``moderation.toml [providers.x]``) and naming its key."""
    problems = _raw_problems(data, ())
    if not problems and attrs.has(cls):
        problems = _table_problems(converter, cls, _protected(data))
    if not problems:
        try:
            return converter.structure(_protected(data), cls)
        except cattrs.BaseValidationError as exc:
            problems = _cattrs_problems(exc, "")
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            problems = [("", _message_of(exc))]
    raise _error([f"{where}: {_line(key, message)}" for key, message in problems], data)


def _error(lines: Sequence[str], data: object) -> ConfigError:
    return config_error(_scrubbed(lines, data))


def _line(key: str, message: str) -> str:
    if not key:
        return message
    last = re.split(r"[.\[]", key)[-1]
    if message.startswith(f"{last} "):  # "on_failure must be..." from a validator
        head = key[: len(key) - len(last)].rstrip(".")
        return f"{head}.{message}" if head else message
    if message.startswith(("must ", "is ", "contains ", "has ", "nests ", "uses ")):
        return f"{key} {message}"
    return f"{key}: {message}"


def _table_problems(
    converter: cattrs.Converter, cls: type[Any], data: Any
) -> list[tuple[str, str]]:
    """Each field structured and validated alone, so one bad key does not hide the
    next (attrs stops at the first failing validator, cattrs runs none when a field
    fails to structure). Cross-field checks run afterwards, on the whole."""
    if not isinstance(data, Mapping):
        return [("", f"must be a table (got a {_kind(data)})")]
    attrs.resolve_types(cls)
    fields = {a.name: a for a in attrs.fields(cls) if a.init}
    problems: list[tuple[str, str]] = []
    unknown = [str(k) for k in data if k not in fields]
    if unknown:
        problems.append(("", f"unknown key(s) {', '.join(unknown)}"))
    for name, field in fields.items():
        if name not in data:
            if field.default is attrs.NOTHING:
                problems.append((name, "is required"))
            continue
        problems.extend(_field_problems(converter, field, data[name]))
    return problems


def _field_problems(
    converter: cattrs.Converter, field: attrs.Attribute[Any], value: object
) -> list[tuple[str, str]]:
    if field.type is None:  # unannotated: nothing to check it against
        return []
    try:
        structured = converter.structure(value, field.type)
    except cattrs.BaseValidationError as exc:
        return _cattrs_problems(exc, field.name)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        message = field.metadata.get("expects") or _message_of(exc)
        return [(field.name, message)]
    if field.validator is None:
        return []
    try:
        field.validator(None, field, structured)
    except (TypeError, ValueError) as exc:
        return [(field.name, _message_of(exc))]
    except AttributeError:  # a validator that reads the instance: checked on the whole
        pass
    return []


_ATTRS_COMPARE = re.compile(r"^'(\w+)' must be ([<>=]+) (\S+): (.*)$", re.DOTALL)
_COMPARE_WORDS = {
    ">": "more than",
    ">=": "at least",
    "<": "less than",
    "<=": "at most",
}


def _message_of(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    compared = _ATTRS_COMPARE.match(text)
    if compared:  # attrs.validators.gt/ge/...: "'timeout' must be > 0: -1"
        name, op, bound, got = compared.groups()
        return f"{name} must be {_COMPARE_WORDS.get(op, op)} {bound} (got {got})"
    return text


def _cattrs_problems(exc: cattrs.BaseValidationError, path: str) -> list[tuple[str, str]]:
    problems = []
    for problem in cattrs.transform_error(exc, path=path, format_exception=_format_exception):
        message, _, where = problem.rpartition(" @ ")
        key = where.lstrip("$.")
        if message.startswith("extra fields found"):
            names = message[message.find("(") + 1 : message.rfind(")")]
            inside = f" in {key}" if key else ""
            problems.append(("", f"unknown key(s) {names}{inside}"))
        else:
            problems.append((key, message))
    return problems


def _format_exception(exc: BaseException, type_: type | None) -> str:
    # Our hooks and validators raise ValueError with a message that says what is accepted.
    if isinstance(exc, ValueError) and str(exc):
        return _message_of(exc)
    return format_exception(exc, type_)


def _raw_problems(value: Any, path: tuple[str, ...], depth: int = 0) -> list[tuple[str, str]]:
    """What no type check sees: text that is not valid Unicode, NULs, keys that are
    not strings, nesting no config needs."""
    key = _dotted(path)
    if depth > _MAX_DEPTH:
        return [(key, f"nests more than {_MAX_DEPTH} levels deep")]
    if isinstance(value, Secret):
        value = value.get()
    if isinstance(value, str):
        if "\x00" in value:
            return [(key, "contains a NUL character")]
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return [(key, "is not valid Unicode text (it holds a lone surrogate)")]
        return []
    problems: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append((key, f"has a key that is not a string ({shown(k)})"))
                continue
            problems.extend(_raw_problems(k, (*path, "<key>"), depth + 1))
            problems.extend(_raw_problems(v, (*path, k), depth + 1))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            problems.extend(_raw_problems(v, (*path, f"[{i}]"), depth + 1))
    return problems


def _dotted(path: Iterable[str]) -> str:
    key = ""
    for part in path:
        key += part if part.startswith("[") or not key else f".{part}"
    return key


def _protected(data: Any) -> Any:
    """The table with every credential-named string held as a ``Secret``."""
    if not isinstance(data, Mapping):
        return data
    return {
        k: Secret(v) if isinstance(v, str) and looks_like_credential_key(k) else v
        for k, v in data.items()
    }


# -- shared checks -----------------------------------------------------------------------


def check_http_url(name: str, value: str | None) -> None:
    """A URL httpx can send to: http or https, a host, a valid port, no spaces."""
    if value is None:
        return
    wanted = f"{name} must be an http:// or https:// URL with a host"
    if any(c.isspace() for c in value):
        raise ValueError(f"{wanted} and no spaces (got {shown(value)})")
    try:
        url = httpx.URL(value)
        httpx.URL(value.rstrip("/") + "/v4")  # what the providers build from it
        port = url.port
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError(f"{wanted} (got {shown(value)}, which is not a URL)") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{wanted} (got {shown(value)})")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{wanted} and a port from 1 to 65535 (got {port})")


_REDIS_SCHEMES = ("redis", "rediss", "unix")


def _check_redis_url(_inst: object, _attr: object, value: str | None) -> None:
    if value is None:
        return
    wanted = "redis_url must be a redis://, rediss:// or unix:// URL"
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in _REDIS_SCHEMES:
        raise ValueError(f"{wanted} (got {shown(value)})")
    if scheme.lower() == "unix":
        if not rest.partition("?")[0]:
            raise ValueError(f"{wanted}; a unix:// URL needs a socket path")
        return
    host = rest.split("/", 1)[0].rpartition("@")[2]
    hostname, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if not hostname:
        raise ValueError(f"{wanted} with a host (e.g. redis://localhost:6379/0)")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{wanted} with a port from 1 to 65535")


_DEFAULT_BATCH_WINDOW = 0.002  # seconds


def _check_provider_names(_inst: object, _attr: object, value: list[str] | None) -> None:
    if value is not None and len(set(value)) != len(value):
        twice = sorted(name for name, n in Counter(value).items() if n > 1)
        raise ValueError(f"providers lists {', '.join(twice)} twice")


def _known_strategy(_inst: object, _attr: object, value: str) -> None:
    from ._routing import STRATEGIES  # noqa: PLC0415 - _routing imports this module

    if value not in STRATEGIES:
        raise ValueError(f"must be one of {', '.join(STRATEGIES)} (got {shown(value)})")


@attrs.define(kw_only=True)
class CacheSettings:
    """The ``[moderation.cache]`` table; its presence turns the verdict cache on."""

    ttl: float = attrs.field(default=600.0, validator=attrs.validators.gt(0))  # seconds
    size: int = attrs.field(default=10_000, validator=attrs.validators.ge(0))  # LRU entries
    normalize: bool = False


@attrs.define(kw_only=True)
class ModerationSettings:
    """The ``[moderation]`` table."""

    providers: list[str] | None = attrs.field(
        default=None,
        validator=_check_provider_names,
        metadata={"expects": "must be a list of provider names"},
    )
    strategy: str = attrs.field(default="fallback", validator=_known_strategy)
    fail_mode: FailMode = "raise"
    long_text: LongText = "split"
    # A URL with a password: shown without it.
    redis_url: str | None = attrs.field(default=None, validator=_check_redis_url, repr=_url_repr)
    deadline: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    batch_window: float = attrs.field(
        default=_DEFAULT_BATCH_WINDOW, validator=attrs.validators.ge(0)
    )
    cache: CacheSettings | None = attrs.field(
        default=None, metadata={"expects": "must be a table (ttl, size, normalize)"}
    )
    prefilter: Prefilter = "off"

    def __attrs_post_init__(self) -> None:
        # Every check in a batch waits up to the window: one past the deadline fails them
        # all. The default window shrinks to fit a tiny deadline; a chosen one must fit.
        if self.batch_window == _DEFAULT_BATCH_WINDOW:
            self.batch_window = min(self.batch_window, self.deadline)
        if self.batch_window > self.deadline:
            raise ValueError(
                f"batch_window must not be longer than deadline ({self.batch_window:g} s > "
                f"{self.deadline:g} s)"
            )


def _check_api_keys(_inst: object, _attr: object, value: list[Secret]) -> None:
    # An empty key would let an empty Bearer token in; whitespace cannot survive a header.
    for index, key in enumerate(value):
        text = key.get()
        if not text or any(c.isspace() for c in text):
            raise ValueError(f"must hold non-empty strings without spaces (item {index} does not)")


def _check_hook_tables(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table of hook tables (got a {_kind(value)})")
    for name, table in value.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"must be a table of hook tables (hooks.{name} is a {_kind(table)})")


def _check_notify_table(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table (url, secret) (got a {_kind(value)})")


def _hook_tables(value: object) -> object:
    # Credential-named keys held as Secret, as in provider tables.
    if not isinstance(value, Mapping):
        return value  # the validator words the problem
    return {str(k): _protected(v) for k, v in value.items()}


@attrs.define(kw_only=True)
class ServeSettings:
    """The ``[serve]`` table: what ``moderation serve`` needs (SERVICE.md). The
    ``[serve.hooks.NAME]`` tables stay raw here; the service's hook modules check them."""

    # Bearer keys for /v1/*; empty is allowed only on a loopback host (checked at start).
    api_keys: list[Secret] = attrs.field(
        factory=list,
        validator=_check_api_keys,
        repr=lambda keys: f"[{len(keys)} hidden]",
        metadata={"expects": "must be a list of strings"},
    )
    max_body_bytes: int = attrs.field(default=1_048_576, validator=attrs.validators.gt(0))
    max_contents: int = attrs.field(default=100, validator=attrs.validators.gt(0))
    hooks: Mapping[str, Any] = attrs.field(
        factory=dict,
        validator=_check_hook_tables,
        converter=_hook_tables,
        repr=lambda tables: f"<{', '.join(tables) or 'no'} hook tables>",
        metadata={"expects": "must be a table of hook tables"},
    )
    # [serve.notify]: the app's signed webhook (url, secret), raw like the hook tables;
    # checked by moderation_core.service._notify (the secret held as Secret).
    notify: Mapping[str, Any] = attrs.field(
        factory=dict,
        validator=_check_notify_table,
        converter=_protected,
        repr=lambda table: "<notify table>" if table else "<no notify table>",
        metadata={"expects": "must be a table (url, secret)"},
    )


def _provider_tables_repr_one(table: Mapping[str, Any]) -> str:
    return repr(_protected(table))


def _provider_tables_repr(tables: Mapping[str, Mapping[str, Any]]) -> str:
    # The tables hold credentials as Secret already; this guards against a Config built
    # by hand with plain strings.
    return repr({name: _protected(table) for name, table in tables.items()})


@attrs.frozen
class Config:
    """A checked config: the ``[moderation]`` settings, each provider's table (still
    raw: its provider structures it; credential-named keys held as ``Secret``), the
    provider order, where it came from, and the ``[policy]`` table (structured by the
    policy module)."""

    moderation: ModerationSettings
    providers: Mapping[str, Mapping[str, Any]] = attrs.field(repr=_provider_tables_repr)
    order: tuple[str, ...]
    source: str
    base_dir: Path
    policy: Mapping[str, Any] = attrs.field(factory=dict)  # checked by the policy module
    serve: ServeSettings = attrs.field(factory=ServeSettings)
    # Raw like ``policy``: ``moderation_core.store`` and ``moderation_core.worker``
    # structure and check their own tables (credential-named keys held as ``Secret``).
    store: Mapping[str, Any] = attrs.field(factory=dict, repr=_provider_tables_repr_one)
    worker: Mapping[str, Any] = attrs.field(factory=dict, repr=_provider_tables_repr_one)

    def where(self, *keys: str) -> str:
        return f"{self.source} [{'.'.join(keys)}]" if keys else self.source


_CONVERTER = make_config_converter()

DEFAULT_CONFIG: Mapping[str, Any] = {
    "moderation": {"providers": ["local"]},
    "providers": {"local": {"type": "local"}},
}


def load_config(source: str | os.PathLike[str] | Mapping[str, Any] | Config) -> Config:
    """Read and check a config from a TOML path or a dict; every problem found is in
    the one ConfigError raised."""
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
        raw = _read_toml(path, where)
    problems: list[str] = []
    raw_problems = _raw_problems(raw, ())
    for key, message in raw_problems:
        table, _, rest = _split_table(key)
        problems.append(f"{_table_where(where, table)}: {_line(rest, message)}")
    if raw_problems:
        raise _error(problems, raw)
    expanded, env_problems = _expand_env(raw)
    # The environment can hold what a file cannot (a lone surrogate from a bad byte).
    for key, message in [*env_problems, *_raw_problems(expanded, ())]:
        table, _, rest = _split_table(key)
        problems.append(f"{_table_where(where, table)}: {_line(rest, message)}")
    unknown = [str(k) for k in expanded if k not in _TOP_TABLES]
    if unknown:
        problems.append(
            f"{where}: unknown key(s) {', '.join(unknown)} (the tables are "
            f"{', '.join(_TOP_TABLES)})"
        )
    settings = ModerationSettings()
    try:
        settings = structure_config(
            _CONVERTER, ModerationSettings, expanded.get("moderation", {}), f"{where} [moderation]"
        )
    except ConfigError as exc:
        problems.extend(exc.problems)
    providers = _provider_tables(expanded.get("providers", {}), where, problems)
    serve = _serve_settings(expanded.get("serve", {}), where, problems)
    policy = expanded.get("policy", {})
    if not isinstance(policy, Mapping):
        problems.append(f"{where} [policy]: must be a table (got a {_kind(policy)})")
        policy = {}
    raw_tables: dict[str, Mapping[str, Any]] = {}
    for name in ("store", "worker"):
        section = expanded.get(name, {})
        if not isinstance(section, Mapping):
            problems.append(f"{where} [{name}]: must be a table (got a {_kind(section)})")
            section = {}
        raw_tables[name] = _protected(section)
    order = _provider_order(settings.providers, providers, where, problems)
    if problems:
        raise _error(problems, expanded)
    return Config(
        moderation=settings,
        providers=providers,
        order=order,
        source=where,
        base_dir=base_dir,
        policy=policy,
        serve=serve,
        store=raw_tables["store"],
        worker=raw_tables["worker"],
    )


def _serve_settings(value: object, where: str, problems: list[str]) -> ServeSettings:
    try:
        return structure_config(_CONVERTER, ServeSettings, value, f"{where} [serve]")
    except ConfigError as exc:
        problems.extend(exc.problems)
        return ServeSettings()


def _read_toml(path: Path, where: str) -> Mapping[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {where} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, tomllib.TOMLDecodeError):
            raise ConfigError(f"config file {where} is not valid TOML: {exc}") from None
        raise ConfigError(f"config file {where} cannot be read: {type(exc).__name__}") from None


def _split_table(key: str) -> tuple[str, str, str]:
    """``providers.x.allow[0]`` -> (``providers.x``, ``.``, ``allow[0]``)."""
    parts = re.split(r"\.(?![^\[]*\])", key)  # dots outside brackets
    depth = 2 if parts and parts[0] == "providers" and len(parts) > 1 else 1
    if parts and parts[0] not in _TOP_TABLES:
        return "", "", key
    table = ".".join(parts[:depth])
    rest = key[len(table) :].lstrip(".")
    return table, ".", rest


def _table_where(where: str, table: str) -> str:
    return f"{where} [{table}]" if table else where


def _provider_tables(
    value: object, where: str, problems: list[str]
) -> dict[str, Mapping[str, Any]]:
    if not isinstance(value, Mapping):
        problems.append(f"{where} [providers]: must be a table of provider tables")
        return {}
    tables: dict[str, Mapping[str, Any]] = {}
    for name, table in value.items():
        here = f"{where} [providers.{name}]"
        if not isinstance(table, Mapping):
            problems.append(f"{here}: must be a table (got a {_kind(table)})")
            continue
        kind = table.get("type")
        if not isinstance(kind, str) or not kind:
            problems.append(f'{here}: needs a type, e.g. type = "local"')
            continue
        tables[name] = _protected(table)
    return tables


def _provider_order(
    listed: list[str] | None,
    tables: Mapping[str, Mapping[str, Any]],
    where: str,
    problems: list[str],
) -> tuple[str, ...]:
    here = f"{where} [moderation]"
    if listed is None:
        if not tables and not problems:
            problems.append(f"{where}: no providers configured; add a [providers.NAME] table")
        return tuple(tables)
    if not listed:
        problems.append(f"{here}: providers is empty; name at least one provider")
    for name in listed:
        if name not in tables:
            known = ", ".join(sorted(tables)) or "none"
            problems.append(
                f"{here}: providers names {name!r} but there is no [providers.{name}] table "
                f"(configured: {known})"
            )
    return tuple(listed)


def _expand_env(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Replace ``${VAR}`` in every string with the environment's value; each such
    string becomes an ``EnvValue``. Unset variables are returned as problems."""
    problems: list[tuple[str, str]] = []

    def expand(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, str):
            if "${" not in value:
                return value
            missing = [m.group(1) for m in _ENV_REF.finditer(value) if m.group(1) not in os.environ]
            problems.extend(
                (_dotted(path), f"uses environment variable {name}, which is not set")
                for name in missing
            )
            if missing:
                return value
            return EnvValue(_ENV_REF.sub(lambda m: os.environ[m.group(1)], value), value)
        if isinstance(value, Mapping):
            return {k: expand(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [expand(v, (*path, f"[{i}]")) for i, v in enumerate(value)]
        return value

    return expand(raw, ()), problems
