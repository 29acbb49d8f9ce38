"""ABO/RhD compatibility of a component with a recipient (pure; no settings).

Red cells carry the ABO antigens, plasma the antibodies, so the rules run in opposite
directions:

- red cells (and washed red cells): the donor's red cells must not carry an A or B antigen the
  recipient lacks (recipient O takes O; A takes A, O; B takes B, O; AB takes any). An RhD-negative
  recipient takes RhD-negative red cells only.
- plasma and cryoprecipitate: the donor's plasma must not carry anti-A/anti-B against the
  recipient's cells (recipient AB takes AB; A takes A, AB; B takes B, AB; O takes any). RhD does
  not matter (no red cells).
- whole blood has both, so it must be ABO-identical; RhD as red cells.
- platelets are suspended in donor plasma: the plasma rule for ABO; an RhD-negative recipient
  takes RhD-negative platelets (a few red cells come along) unless ``rhd_negative_platelets`` is
  off (where anti-D cover is the local policy).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.inventory import COMPONENT_NAMES_ZH
from models.isbt128 import parse_abo_rh

_ANTIGENS = {"O": frozenset(), "A": frozenset("A"), "B": frozenset("B"), "AB": frozenset("AB")}

RED_CELL_TYPES = frozenset({"red_cells", "washed_red_cells"})
PLASMA_TYPES = frozenset({"plasma", "cryoprecipitate"})


@dataclass(frozen=True)
class Compatibility:
    compatible: bool
    rule: str  # "red_cells", "plasma", "whole_blood" or "platelets": which rule was applied
    problem: str = ""  # "" or "ABO" or "RhD"
    reason_en: str = ""
    reason_zh: str = ""


def _split(group: str) -> tuple[str, bool]:
    """('A', True) for 'A+': the ABO group and whether RhD positive."""
    normalised = parse_abo_rh(group)
    return normalised[:-1], normalised.endswith("+")


def _rule_for(component_type: str) -> str:
    if component_type in RED_CELL_TYPES:
        return "red_cells"
    if component_type in PLASMA_TYPES:
        return "plasma"
    if component_type == "platelets":
        return "platelets"
    return "whole_blood"  # whole blood, or a unit whose component type is not known


def check_compatibility(
    component_type: str,
    component_group: str,
    recipient_group: str,
    *,
    rhd_negative_platelets: bool = True,
) -> Compatibility:
    """Whether a component of ``component_group`` may be transfused to ``recipient_group``.

    Groups are spelt ``O+`` … ``AB-`` (or ISBT 128 codes); raises InvalidIdentifier otherwise.
    """
    rule = _rule_for(component_type)
    donor_abo, donor_pos = _split(component_group)
    recipient_abo, recipient_pos = _split(recipient_group)
    donor_antigens, recipient_antigens = _ANTIGENS[donor_abo], _ANTIGENS[recipient_abo]

    if rule == "red_cells":
        abo_ok = donor_antigens <= recipient_antigens
    elif rule in ("plasma", "platelets"):
        # Donor plasma holds antibodies to the antigens the donor lacks.
        abo_ok = recipient_antigens <= donor_antigens
    else:
        abo_ok = donor_abo == recipient_abo
    if not abo_ok:
        return Compatibility(
            False,
            rule,
            "ABO",
            f"{component_group} {component_type} is ABO-incompatible with a "
            f"{recipient_group} recipient ({rule.replace('_', ' ')} rule)",
            f"{component_group} {_zh(component_type)}与 {recipient_group} 受血者 ABO 血型不相容",
        )
    rhd_matters = rule in ("red_cells", "whole_blood") or (
        rule == "platelets" and rhd_negative_platelets
    )
    if rhd_matters and donor_pos and not recipient_pos:
        return Compatibility(
            False,
            rule,
            "RhD",
            f"RhD-positive {component_type} given to an RhD-negative recipient "
            f"({component_group} to {recipient_group})",
            f"RhD 阳性{_zh(component_type)}输给 RhD 阴性受血者"
            f"（{component_group} → {recipient_group}）",
        )
    return Compatibility(True, rule)


def _zh(component_type: str) -> str:
    return COMPONENT_NAMES_ZH.get(component_type, component_type)
