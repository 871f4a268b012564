"""The ``local`` provider: no account, no network, answers from lexicons and rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from moderation_core import (
    Capabilities,
    CheckContext,
    ConfigError,
    Content,
    ContentType,
    Decision,
    Flow,
    ItemResult,
    Label,
    Provider,
    Verdict,
)
from moderation_core._config import config_error
from moderation_core._masking import mask_spans

from ._engine import Engine, Hit, Lexicon, builtin_lexicons, read_lexicon

__all__ = ["LexiconConfig", "LocalConfig", "LocalProvider"]

_FLAG_DECISIONS = {"REVIEW": Decision.REVIEW, "BLOCK": Decision.BLOCK}


def _label(value: str) -> Label:
    try:
        return Label[value.upper()]
    except KeyError:
        names = ", ".join(label.name for label in Label)
        raise ValueError(f"unknown label {value!r}; use one of {names}") from None


def _decision(value: str) -> Decision:
    try:
        return _FLAG_DECISIONS[value.upper()]
    except KeyError:
        raise ValueError(f"decision must be REVIEW or BLOCK, got {value!r}") from None


def _check(parse: Any, value: str) -> None:
    parse(value)  # raises ValueError with a message naming the accepted values


@attrs.define(kw_only=True)
class LexiconConfig:
    """One ``lexicons = [{ path = ..., label = ..., decision = ... }]`` entry."""

    path: str
    label: str = attrs.field(validator=lambda _i, _a, value: _check(_label, value))
    decision: str = attrs.field(
        default="BLOCK", validator=lambda _i, _a, value: _check(_decision, value)
    )
    sublabel: str | None = None


@attrs.define(kw_only=True)
class LocalConfig:
    """``[providers.NAME]`` with ``type = "local"``."""

    type: str
    builtin: bool = True
    rules: bool = True
    rules_decision: str = attrs.field(
        default="REVIEW", validator=lambda _i, _a, value: _check(_decision, value)
    )
    lexicons: list[LexiconConfig] = attrs.field(factory=list)
    allow: list[str] = attrs.field(factory=list)


class LocalProvider(Provider[LocalConfig]):
    """Lexicons (built-in and yours), an allow-list, and contact/URL rules, matched
    after normalization; runs in-process."""

    provider_type: ClassVar[str] = "local"
    config_class: ClassVar[type[Any]] = LocalConfig
    description: ClassVar[str] = "offline lexicons and traffic-diversion rules (no account)"

    _CAPABILITIES = Capabilities(
        content_types=frozenset({ContentType.TEXT}),
        batch_size=1 << 20,  # no IO: one flow takes any number of texts
        batch_types=frozenset({ContentType.TEXT}),
    )

    def __init__(self, name: str, config: LocalConfig, *, base_dir: Path | None = None) -> None:
        super().__init__(name, config)
        root = base_dir or Path.cwd()
        lexicons: list[Lexicon] = builtin_lexicons() if config.builtin else []
        problems: list[str] = []  # every unreadable lexicon, named by its key, at once
        for index, spec in enumerate(config.lexicons):
            path = Path(spec.path).expanduser()
            try:
                lexicons.append(
                    read_lexicon(
                        path if path.is_absolute() else root / path,
                        label=_label(spec.label),
                        decision=_decision(spec.decision),
                        sublabel=spec.sublabel,
                        name=spec.path,
                    )
                )
            except ConfigError as exc:
                relative = "" if path.is_absolute() else f" (relative paths start at {root})"
                problems.append(f"[providers.{name}] lexicons[{index}].path: {exc}{relative}")
        if problems:
            raise config_error(problems)
        try:
            self.engine = Engine(
                lexicons,
                allow=config.allow,
                rules=config.rules,
                rules_decision=_decision(config.rules_decision),
            )
        except ConfigError as exc:
            raise ConfigError(f"[providers.{name}] {exc}") from None
        self._clean = Verdict(decision=Decision.PASS, provider=name, vendor_label="NORMAL")

    @classmethod
    def from_config(
        cls, name: str, table: Mapping[str, Any], where: str, *, base_dir: Path | None = None
    ) -> LocalProvider:
        # Overridden to hand base_dir on (lexicon paths start at the config's folder) and
        # to name the config file in front of the provider's own problems.
        config = cls.read_config(name, table, where)
        try:
            return cls(name, config, base_dir=base_dir)
        except ConfigError as exc:
            table_name = f"[providers.{name}]"
            raise config_error(
                [f"{where}: {p.removeprefix(table_name).lstrip()}" for p in exc.problems]
            ) from None

    @property
    def capabilities(self) -> Capabilities:
        return self._CAPABILITIES

    @property
    def longest_keyword(self) -> int:
        """Characters in the longest normalized term: long texts split for other
        providers overlap by at least this much."""
        return self.engine.longest_term

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        return self._flow(contents)

    def _flow(self, contents: Sequence[Content]) -> Flow:
        # A generator that yields nothing: the drivers see it finish at once.
        return self.verdicts(contents)
        yield  # pragma: no cover - marks this function as a generator

    def verdicts(self, contents: Sequence[Content]) -> list[ItemResult]:
        """One verdict per content: a shared clean one for every text the engine's
        first pass clears (the core stamps content ids), a scan of the rest."""
        texts = [c.value for c in contents]
        results: list[ItemResult] = [self._clean] * len(texts)
        engine = self.engine
        for index in engine.suspects(texts):
            text = texts[index]  # the first pass done: straight to locating its hits
            results[index] = self._verdict(text, engine.locate(text), contents[index].id)
        return results

    def verdict(self, text: str, content_id: str | int | None = None) -> Verdict:
        return self._verdict(text, self.engine.scan(text), content_id)

    def _verdict(self, text: str, hits: list[Hit], content_id: str | int | None) -> Verdict:
        if not hits:
            if content_id is None:
                return self._clean
            return Verdict(
                decision=Decision.PASS,
                provider=self.name,
                vendor_label="NORMAL",
                content_id=content_id,
            )
        return self._flagged(text, hits, content_id)

    def _flagged(self, text: str, hits: list[Hit], content_id: str | int | None) -> Verdict:
        worst = max(hit.decision for hit in hits)
        primary = next(hit for hit in hits if hit.decision is worst)
        keywords = tuple(dict.fromkeys(hit.keyword for hit in hits))
        return Verdict(
            decision=worst,
            label=primary.label,
            sublabel=primary.sublabel,
            keywords=keywords,
            masked_text=mask_spans(text, ((h.start, h.end) for h in hits)),
            provider=self.name,
            vendor_label=primary.label.value,
            content_id=content_id,
            raw={
                "hits": [
                    {
                        "keyword": h.keyword,
                        "term": h.term,
                        "label": h.label.value,
                        "decision": h.decision.value,
                        "sublabel": h.sublabel,
                        "source": h.source,
                        "start": h.start,
                        "end": h.end,
                    }
                    for h in hits
                ]
            },
        )
