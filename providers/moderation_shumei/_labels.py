"""The one crosswalk from Shumei's ``riskLabel1`` to the core's labels.

The Chinese text product names its primary labels in lower case (``politics``, ``ad``,
...); the international one capitalizes a shorter list (``Politics``, ``Erotic``,
``Ads``, ...). Both land here, compared without case, so one table serves both.
"""

from __future__ import annotations

from collections.abc import Mapping

from moderation_core import Decision, Label

__all__ = ["NORMAL_LABEL", "RISK_LABELS", "classify"]

NORMAL_LABEL = "normal"  # riskLabel1 on every PASS (the API doc)

# riskLabel1 -> Label. Labels outside the taxonomy (a customer blacklist hit, gibberish,
# personal data, content unfit for minors) are OTHER, with riskLabel1 kept as
# vendor_label, rather than forced into a label whose policy was written for something else.
RISK_LABELS: Mapping[str, Label] = {
    NORMAL_LABEL: Label.NORMAL,
    # Chinese text (type TEXTRISK, FRUAD, TEXTMINOR)
    "politics": Label.POLITICS,
    "violence": Label.VIOLENCE,
    "porn": Label.PORN,
    "ban": Label.ILLEGAL,
    "abuse": Label.ABUSE,
    "ad_law": Label.AD,  # advertising-law breaches (absolute claims, ...): advertising
    "ad": Label.AD,
    "blacklist": Label.OTHER,
    "meaningless": Label.OTHER,
    "privacy": Label.OTHER,
    "fraud": Label.ILLEGAL,  # online fraud is a crime, as prohibited goods are
    "minor": Label.OTHER,
    # International text
    "erotic": Label.PORN,
    "prohibit": Label.ILLEGAL,
    "ads": Label.AD,
    # "Politics", "Violence", "Abuse", "Blacklist" fold onto the rows above.
}


def classify(risk_label1: str | None, decision: Decision) -> Label:
    """The label for ``riskLabel1``. Nothing at all: NORMAL on PASS, else UNKNOWN (never
    claim a clean label the vendor did not give); an unlisted label: OTHER."""
    if not risk_label1:
        return Label.NORMAL if decision is Decision.PASS else Label.UNKNOWN
    return RISK_LABELS.get(risk_label1.strip().lower(), Label.OTHER)
