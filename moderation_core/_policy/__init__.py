"""Policy: from verdicts to what the app does with a message (``evaluate``).

- ``config``: the ``[policy]`` table and each scene's compiled rules;
- ``terms``: term lists and the one function they match on (``term_key``);
- ``rules``: from one verdict or failure to an Outcome and its reason;
- ``flow``: the decision for one message, as a generator of typed requests that the
  moderator serves (``VendorCheck``, ``ContextCheck``, state operations).
"""

from moderation_core._state import Mute

from .config import Band, ContextRule, MuteRule, PolicySettings, Rules, parse_duration
from .flow import ContextCheck, Policy, PolicyFlow, PolicyRequest, VendorCheck
from .terms import term_key

__all__ = [
    "Band",
    "ContextCheck",
    "ContextRule",
    "Mute",
    "MuteRule",
    "Policy",
    "PolicyFlow",
    "PolicyRequest",
    "PolicySettings",
    "Rules",
    "VendorCheck",
    "parse_duration",
    "term_key",
]
