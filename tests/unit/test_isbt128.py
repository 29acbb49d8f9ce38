from __future__ import annotations

import pytest

from infra.errors import InvalidIdentifier
from models.isbt128 import (
    abo_rh_code,
    make_din,
    mod37_2,
    parse_abo_rh,
    parse_din,
    parse_product_code,
)


def test_worked_example_from_the_standard() -> None:
    assert mod37_2("G123498654321") == "H"
    din = parse_din("G123498654321H")
    assert (din.facility, din.year, din.sequence, din.check) == ("G1234", "98", "654321", "H")
    assert din.check_flag == 77


def test_check_is_not_the_off_by_one_variant() -> None:
    # (37 - p) mod 37 would give a different character for the worked example.
    p = 0
    for ch in "G123498654321":
        p = ((p + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*".index(ch)) * 2) % 37
    wrong = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"[(37 - p) % 37]
    assert wrong != mod37_2("G123498654321")


@pytest.mark.parametrize("text", ["G123498654321", "g123498654321h", "=G12349865432177"])
def test_accepts_with_or_without_check_and_barcode_form(text: str) -> None:
    assert parse_din(text).code == "G123498654321"


def test_wrong_check_character_is_explained() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_din("G123498654321X")
    assert info.value.fields["reason"] == "din_check"
    assert "'H'" in info.value.message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("G12349865432", "din_length"),
        ("O123498654321", "din_format"),
        ("GX23498654321", "din_format"),
    ],
)
def test_malformed_dins(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_din(text)
    assert info.value.fields["reason"] == reason


def test_make_din_round_trips() -> None:
    for seq in (0, 1, 999999, 123456):
        full = make_din("C4501", 2026, seq)
        assert parse_din(full, require_check=True).full == full


def test_abo_rh_codes() -> None:
    assert parse_abo_rh("51") == "O+"
    assert parse_abo_rh("=%2800") == "AB-"
    assert parse_abo_rh("a+") == "A+"
    assert abo_rh_code("B-") == "17"
    with pytest.raises(InvalidIdentifier):
        parse_abo_rh("99")


def test_product_code() -> None:
    code = parse_product_code("=<E0336V00")
    assert (code.description, code.collection_type, code.division) == ("E0336", "V", "00")
    assert code.is_blood_component
    with pytest.raises(InvalidIdentifier):
        parse_product_code("E033")
