"""The one crosswalk from Easemob's risk categories to the core's labels.

The check API names a category twice, as ``riskLabel`` (a code) and ``riskType`` (a
localized string whose first segment is the category); the moderation callback sends
only ``riskType``. Both surfaces read this table, so a category maps to the same
label and sublabel whichever one reported it.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from moderation_core import Decision, Label

__all__ = ["CATEGORIES", "Category", "classify"]


@attrs.frozen
class Category:
    """One Easemob category. ``risk_label`` is None for the categories the seed lists
    only as a ``riskType`` (hate speech, adult content); ``sublabel`` replaces the
    vendor's ``riskType`` as the sublabel when set."""

    label: Label
    risk_type: str
    risk_label: str | None = None
    sublabel: str | None = None


# Seed 004 lists the riskType and riskLabel values; DESIGN section 2 the labels.
CATEGORIES: tuple[Category, ...] = (
    Category(Label.NORMAL, "无风险", "NONE"),
    Category(Label.POLITICS, "涉政", "POLITICS"),
    Category(Label.HATE, "仇恨言论"),
    Category(Label.PORN, "色情", "PORN"),
    Category(Label.SEXY, "成人内容"),
    Category(Label.VIOLENCE, "暴恐", "VIOLENCE"),
    Category(Label.ILLEGAL, "违禁", "BAN"),
    Category(Label.ABUSE, "辱骂", "ABUSE"),
    Category(Label.AD, "广告", "AD"),
    Category(Label.AD, "二维码", "QR", sublabel="QRCode"),  # QR is a kind of AD
    Category(Label.UNKNOWN, "未知", "UNKNOWN"),
)
_BY_RISK_LABEL: Mapping[str, Category] = {
    c.risk_label: c for c in CATEGORIES if c.risk_label is not None
}
_BY_RISK_TYPE: Mapping[str, Category] = {c.risk_type: c for c in CATEGORIES}


def _category(risk_label: str | None, risk_type: str | None) -> Category | None:
    # The code wins; the localized name speaks for a code outside the documented list.
    if risk_label is not None:
        found = _BY_RISK_LABEL.get(risk_label.upper())
        if found is not None:
            return found
    if risk_type is not None:
        return _BY_RISK_TYPE.get(risk_type.split(":", 1)[0].strip())
    return None


def classify(
    risk_label: str | None, risk_type: str | None, decision: Decision
) -> tuple[Label, str | None]:
    """(label, sublabel) for a category as either surface reports it. Nothing at all:
    NORMAL on PASS, else UNKNOWN (never claim a clean label the vendor did not give);
    an unrecognized category: OTHER, with ``riskType`` as the sublabel."""
    risk_type = risk_type or None
    if risk_label is None and risk_type is None:
        return (Label.NORMAL if decision is Decision.PASS else Label.UNKNOWN), None
    category = _category(risk_label, risk_type)
    if category is None:
        return Label.OTHER, risk_type
    if category.label is Label.NORMAL:
        return Label.NORMAL, None  # riskType is just "无风险" ("no risk") here
    return category.label, category.sublabel or risk_type
