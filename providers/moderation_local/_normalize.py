"""The normalizer moved into the core (``moderation_core._normalize``), where the
policy's term lists share it; this name stays only for ``tests/test_local.py`` and
``bench/local_throughput.py``, which import it from here. The engine imports the core."""

from moderation_core._normalize import (
    _KEY,  # tests/test_local.py checks the mapped views against the per-character table
    ASTRAL,
    fast_key_table,
    key_view,
    mapped_key_view,
    mapped_rules_view,
    rules_view,
)

__all__ = [
    "ASTRAL",
    "_KEY",
    "fast_key_table",
    "key_view",
    "mapped_key_view",
    "mapped_rules_view",
    "rules_view",
]
