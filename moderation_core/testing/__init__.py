"""Tools for testing a provider plugin (docs/plugins.md, "Testing a provider"): serve
an emulator over real HTTP, a clock moved by hand, a transport that records every
exchange, parsers for an emulator's options, an emulator's plumbing (a fixed-window
rate limit, injected faults, its options checked), a chat platform's side of a
pre-send callback with its trigger endpoint, and the conformance check every provider
should pass."""

from ._conformance import (
    DEFAULT_SAMPLES,
    CheckResult,
    ConformanceReport,
    assert_conforms,
    check_provider,
)
from ._emulators import FaultQueue, FixedWindow, parse_options
from ._options import choice_option, float_option, int_option, names_option
from ._platforms import TRIGGER_PATH, CallbackPlatform, TriggerEndpoint
from ._tools import Clock, Exchange, RecordingTransport, serve

__all__ = [
    "DEFAULT_SAMPLES",
    "TRIGGER_PATH",
    "CallbackPlatform",
    "CheckResult",
    "Clock",
    "ConformanceReport",
    "Exchange",
    "FaultQueue",
    "FixedWindow",
    "RecordingTransport",
    "TriggerEndpoint",
    "assert_conforms",
    "check_provider",
    "choice_option",
    "float_option",
    "int_option",
    "names_option",
    "parse_options",
    "serve",
]
