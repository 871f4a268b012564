"""Child process for the benchmarks: a provider's emulator behind the request recorder.

python bench/_emulator.py PROVIDER_TYPE PORT [--threads|--no-threads] [key=value ...]
"""

from __future__ import annotations

import sys

from _common import Recorder

from moderation_core import default_plugin_manager
from moderation_core._plugins import provider_registry
from moderation_core._serve import serve_emulator


def main() -> None:
    provider_type, port, threads, *pairs = sys.argv[1:]
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
