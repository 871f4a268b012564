"""The one crosswalk from Alibaba Cloud Green's labels to the core's, and the risk levels.

Two vocabularies land here. ``TextModeration`` (2.0 / Pro) answers a comma-separated
``labels`` string of a short list (``ad``, ``profanity``, ...). ``TextModerationPlus``
answers ``Result[].Label`` from 60-odd fine-grained labels named ``<category>_<detail>``
(``political_entity``, ``pt_to_contact``, ...), versioned and service-specific
(CONTRACTS-MORE-VENDORS 4.3; the list in the PLUS guide, help.aliyun.com 2684669). The
exact labels we know are listed; a label we do not know is placed by its category
prefix when the category is one we know, else it is OTHER with ``vendor_label`` kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from moderation_core import Label

__all__ = [
    "CATEGORY_PREFIXES",
    "LABELS",
    "NO_RISK_LABEL",
    "RISK_LEVELS",
    "classify",
    "is_risk_label",
    "level_rank",
]

NO_RISK_LABEL = "nonLabel"  # TextModerationPlus: the Result of a text with no risk

# RiskLevel, lowest first. "max" is not in the API reference; gateways accept it (APISIX's
# risk_level_bar), so it ranks above high rather than being an unknown level.
RISK_LEVELS: Mapping[str, int] = {"none": 0, "low": 1, "medium": 2, "high": 3, "max": 4}

LABELS: Mapping[str, Label] = {
    NO_RISK_LABEL: Label.NORMAL,
    # TextModeration (2.0 / Pro) ``labels``, and its multilingual service's
    "ad": Label.AD,
    "profanity": Label.ABUSE,
    "contraband": Label.ILLEGAL,
    "sexual_content": Label.PORN,
    "porn": Label.PORN,  # the value both API references print as their example label
    "violence": Label.VIOLENCE,
    "political_content": Label.POLITICS,
    "nonsense": Label.OTHER,  # flooding: noise, not a harm with a policy of its own
    "spam": Label.OTHER,  # as Tencent's Spam: junk that is not necessarily advertising
    "negative_content": Label.OTHER,
    "cyberbullying": Label.ABUSE,  # attacks on a person are abuse, whatever the tone
    "C_customized": Label.OTHER,  # your own library: its name is the sublabel
    # TextModerationPlus ``Result[].Label`` (the PLUS guide's table)
    "pornographic_adult": Label.PORN,
    "sexual_terms": Label.SEXY,  # sexual-health talk: suggestive, not pornographic
    "sexual_suggestive": Label.SEXY,
    "political_figure": Label.POLITICS,
    "political_entity": Label.POLITICS,
    "political_n": Label.POLITICS,
    "political_p": Label.POLITICS,
    "political_a": Label.POLITICS,
    "violent_extremist": Label.VIOLENCE,
    "violent_incidents": Label.VIOLENCE,
    "violent_weapons": Label.VIOLENCE,
    "contraband_drug": Label.ILLEGAL,
    "contraband_gambling": Label.ILLEGAL,
    "contraband_act": Label.ILLEGAL,
    "contraband_entity": Label.ILLEGAL,
    "inappropriate_discrimination": Label.HATE,
    "inappropriate_ethics": Label.OTHER,
    "inappropriate_profanity": Label.ABUSE,
    "inappropriate_oral": Label.ABUSE,  # vulgar slang: profanity in speech
    "inappropriate_superstition": Label.OTHER,
    "inappropriate_nonsense": Label.OTHER,
    "pt_to_sites": Label.AD,  # "pt": promotion and traffic diversion
    "pt_by_recruitment": Label.AD,
    "pt_to_contact": Label.AD,
    "religion_b": Label.OTHER,
    "religion_t": Label.OTHER,
    "religion_c": Label.OTHER,
    "religion_i": Label.OTHER,
    "religion_h": Label.OTHER,
    "customized": Label.OTHER,  # a custom library hit: its name is the sublabel
}

# A Plus label outside LABELS, by its category. ``inappropriate_`` and ``religion_`` are
# not here: their members land in different places, so a new one is OTHER.
CATEGORY_PREFIXES: Mapping[str, Label] = {
    "pornographic_": Label.PORN,
    "sexual_": Label.SEXY,
    "political_": Label.POLITICS,
    "violent_": Label.VIOLENCE,
    "contraband_": Label.ILLEGAL,
    "pt_": Label.AD,
}


def classify(vendor_label: str) -> Label:
    """The Label for one vendor label, compared as sent (the vendor's are case-exact)."""
    label = LABELS.get(vendor_label)
    if label is not None:
        return label
    for prefix, by_prefix in CATEGORY_PREFIXES.items():
        if vendor_label.startswith(prefix):
            return by_prefix
    return Label.OTHER


def is_risk_label(vendor_label: str | None) -> bool:
    """False for no label at all and for the Plus "no risk" label."""
    return bool(vendor_label) and vendor_label != NO_RISK_LABEL


def level_rank(level: str) -> int | None:
    """A RiskLevel's rank (compared without case), None for a level we do not know."""
    return RISK_LEVELS.get(level.strip().lower())
