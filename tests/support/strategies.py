"""Issue 12's strategies across an old provider (tencent_chat) and a newcomer (openai,
azure_content_safety), each answering through its own emulator behind one transport:
what a newcomer brings (``Newcomer``), the two emulators routed by host and recorded,
the config of a strategy over both, and a spy on shadow disagreements
(tests/providers/test_strategies.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from moderation_core import CheckContext, Content, Decision, Label, Verdict, hookimpl
from moderation_core.testing import RecordingTransport
from moderation_tencent_chat.emulator import DEMO_SDKAPPID, DEMO_SECRET_KEY, make_emulator

TENCENT_URL = "http://tencent-chat.test"
# How tencent_chat's emulator judges each newcomer's four texts, in their order (hello,
# an insult, a threat, an ad): the threat passes, the ad is for review.
TENCENT = (
    (Decision.PASS, Label.NORMAL),
    (Decision.BLOCK, Label.ABUSE),
    (Decision.PASS, Label.NORMAL),
    (Decision.REVIEW, Label.AD),
)

Row = tuple[str | None, Decision, Label]


@attrs.frozen
class Newcomer:
    """A new vendor beside tencent_chat: its name under [providers], the host its
    emulator answers on, the emulator (options: its own) and its table, four texts
    (hello, an insult, a threat, an ad) with its verdicts on them, the texts a request
    to it carries, and faults its emulator fails a check with (``down`` one that makes
    it unavailable)."""

    name: str
    host: str
    emulator: Callable[..., Any]
    table: Callable[..., dict[str, Any]]
    texts: tuple[str, str, str, str]
    verdicts: tuple[tuple[Decision, Label], ...]
    inputs: Callable[[httpx.Request], list[str]]
    faults: tuple[str, ...]
    down: str
    fault_options: Mapping[str, Any] = attrs.field(factory=dict)

    def failing(self, fault: str) -> Any:
        return self.emulator(fault=fault, **self.fault_options)

    def rows(self) -> list[Row]:
        return [(self.name, d, label) for d, label in self.verdicts]

    def blocked(self) -> list[str]:
        return [
            t for t, (d, _) in zip(self.texts, self.verdicts, strict=True) if d is Decision.BLOCK
        ]

    def disagreements(self) -> list[str]:
        """The texts on which its decision is not tencent_chat's."""
        pairs = zip(self.texts, self.verdicts, TENCENT, strict=True)
        return [text for text, (mine, _), (theirs, _) in pairs if mine is not theirs]


def tencent_table() -> dict[str, Any]:
    return {
        "type": "tencent_chat",
        "sdkappid": DEMO_SDKAPPID,
        "identifier": "admin",
        "secret_key": DEMO_SECRET_KEY,
        "base_url": TENCENT_URL,
    }


def tencent_rows() -> list[Row]:
    return [("tencent", d, label) for d, label in TENCENT]


class Vendors:
    """Both emulators behind one transport, chosen by host; each records its requests."""

    def __init__(self, newcomer: Newcomer, emulator: Any = None, **tencent: Any) -> None:
        self.host = newcomer.host
        self.new = RecordingTransport(emulator or newcomer.emulator())
        self.tencent = RecordingTransport(make_emulator(**tencent))

    def _vendor(self, request: httpx.Request) -> RecordingTransport:
        return self.new if request.url.host == self.host else self.tencent

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: self._vendor(request).handle_request(request))

    def async_transport(self) -> httpx.MockTransport:
        async def route(request: httpx.Request) -> httpx.Response:
            return await self._vendor(request).handle_async_request(request)

        return httpx.MockTransport(route)


def strategy_config(newcomer: Newcomer, order: Sequence[str], strategy: str) -> dict[str, Any]:
    """``order`` names ``"new"`` (the newcomer, under its own name) and ``"tencent"``."""
    names = [newcomer.name if name == "new" else name for name in order]
    return {
        "moderation": {"providers": names, "strategy": strategy},
        "providers": {newcomer.name: newcomer.table(), "tencent": tencent_table()},
    }


def summary(verdicts: Sequence[Verdict]) -> list[Row]:
    return [(v.provider, v.decision, v.label) for v in verdicts]


class Disagreements:
    """A plugin keeping every shadow disagreement: text -> (decided by, compared with)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str | None, Decision, str | None, Decision]] = {}
        self._lock = threading.Lock()

    @hookimpl
    def shadow_disagreement(
        self, content: Content, verdict: Verdict, shadow: Verdict, context: CheckContext
    ) -> None:
        with self._lock:
            self.seen[content.value] = (
                verdict.provider,
                verdict.decision,
                shadow.provider,
                shadow.decision,
            )
