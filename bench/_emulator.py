"""Child process for the benchmarks: a provider's emulator behind the request recorder.

python bench/_emulator.py PROVIDER_TYPE PORT [--threads|--no-threads] [--far] [key=value ...]

``--far``: a vendor far away, not on the client's CPU. Where the OS allows it, the
emulator then runs ahead of the client (and of whatever else loads the machine), so a
stall of its own does not bunch its answers, and its quota's count, into a burst the
client never sent.
"""

from __future__ import annotations

import contextlib
import os
import sys

from _common import Recorder

from moderation_core import default_plugin_manager
from moderation_core._plugins import provider_registry
from moderation_core._serve import serve_emulator

FAR_PRIORITY = -5  # os.nice for --far


def main() -> None:
    provider_type, port, threads, *pairs = sys.argv[1:]
    if "--far" in pairs:
        pairs.remove("--far")
        with contextlib.suppress(OSError):  # not permitted: run as is
            os.nice(FAR_PRIORITY)
    options = dict(pair.split("=", 1) for pair in pairs)
    factory = provider_registry(default_plugin_manager()).get(provider_type).emulator_factory
    assert factory is not None
    server = serve_emulator(
        Recorder(factory(**options)), port=int(port), threaded=threads == "--threads"
    )
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
