"""Tools for testing a provider plugin (docs/plugins.md, "Testing a provider"): serve
an emulator over real HTTP, a clock moved by hand, a transport that records every
exchange, and the conformance check every provider should pass."""

from ._conformance import (
    DEFAULT_SAMPLES,
    CheckResult,
    ConformanceReport,
    assert_conforms,
    check_provider,
)
from ._tools import Clock, Exchange, RecordingTransport, serve

__all__ = [
    "DEFAULT_SAMPLES",
    "CheckResult",
    "Clock",
    "ConformanceReport",
    "Exchange",
    "RecordingTransport",
    "assert_conforms",
    "check_provider",
    "serve",
]
