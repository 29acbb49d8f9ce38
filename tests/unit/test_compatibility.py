"""ABO/RhD compatibility: red cells and plasma run in opposite directions."""

from __future__ import annotations

import itertools

import pytest

from infra.errors import InvalidIdentifier
from models.compatibility import check_compatibility

GROUPS = ["O+", "O-", "A+", "A-", "B+", "B-", "AB+", "AB-"]

# Recipient ABO -> donor ABO groups allowed (standard transfusion tables).
RED_CELLS = {"O": {"O"}, "A": {"A", "O"}, "B": {"B", "O"}, "AB": {"O", "A", "B", "AB"}}
PLASMA = {"O": {"O", "A", "B", "AB"}, "A": {"A", "AB"}, "B": {"B", "AB"}, "AB": {"AB"}}


def abo(group: str) -> str:
    return group[:-1]


@pytest.mark.parametrize(("donor", "recipient"), list(itertools.product(GROUPS, GROUPS)))
def test_red_cells_follow_the_antigen_rule_and_rhd(donor: str, recipient: str) -> None:
    result = check_compatibility("red_cells", donor, recipient)
    expected = abo(donor) in RED_CELLS[abo(recipient)] and not (
        donor.endswith("+") and recipient.endswith("-")
    )
    assert result.compatible is expected
    if not expected:
        assert result.problem == ("ABO" if abo(donor) not in RED_CELLS[abo(recipient)] else "RhD")
        assert result.reason_en and result.reason_zh


@pytest.mark.parametrize(("donor", "recipient"), list(itertools.product(GROUPS, GROUPS)))
def test_plasma_follows_the_antibody_rule_and_ignores_rhd(donor: str, recipient: str) -> None:
    for kind in ("plasma", "cryoprecipitate"):
        result = check_compatibility(kind, donor, recipient)
        assert result.compatible is (abo(donor) in PLASMA[abo(recipient)]), (kind, donor, recipient)


def test_the_two_rules_differ_where_they_should() -> None:
    # O red cells go to everyone; O plasma only to O recipients.
    assert check_compatibility("red_cells", "O-", "AB+").compatible
    assert not check_compatibility("plasma", "O+", "AB+").compatible
    # AB plasma goes to everyone; AB red cells only to AB recipients.
    assert check_compatibility("plasma", "AB+", "O-").compatible
    assert not check_compatibility("red_cells", "AB-", "O-").compatible
    assert check_compatibility("washed_red_cells", "O-", "B-").compatible


def test_whole_blood_must_be_abo_identical() -> None:
    assert check_compatibility("whole_blood", "A+", "A+").compatible
    assert check_compatibility("whole_blood", "A-", "A+").compatible
    assert not check_compatibility("whole_blood", "O+", "A+").compatible
    assert not check_compatibility("whole_blood", "A+", "A-").compatible


def test_platelets_use_the_plasma_rule_and_rhd_unless_policy_says_otherwise() -> None:
    assert check_compatibility("platelets", "AB+", "O+").compatible
    assert not check_compatibility("platelets", "O+", "A+").compatible
    assert not check_compatibility("platelets", "A+", "A-").compatible
    assert check_compatibility("platelets", "A+", "A-", rhd_negative_platelets=False).compatible


def test_groups_may_be_isbt_codes_and_bad_groups_are_refused() -> None:
    assert check_compatibility("red_cells", "95", "84").compatible  # O- to AB+
    with pytest.raises(InvalidIdentifier):
        check_compatibility("red_cells", "C+", "A+")
