"""ISBT 128 identifiers: DIN with its ISO/IEC 7064 MOD 37-2 check character, product codes and
ABO/RhD codes (../shared/domain/README.md §3).

Whether a given city uses ISBT 128 or a national code is not settled, so the platform only relies
on :class:`IdentifierScheme`; :data:`ISBT128` is the default implementation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from models.errors import InvalidIdentifier

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_VALUE = {ch: i for i, ch in enumerate(_ALPHABET)}
# Facility: one of A-N, P-Z or 1-9 (never O or 0), then 4 digits; year 2 digits; sequence 6 digits.
_DIN_RE = re.compile(r"^([A-NP-Z1-9]\d{4})(\d{2})(\d{6})$")


def mod37_2(chars: str) -> str:
    """ISO/IEC 7064 MOD 37-2 check character of ``chars`` (digits and upper-case letters)."""
    p = 0
    for ch in chars:
        p = ((p + _VALUE[ch]) * 2) % 37
    return _ALPHABET[(38 - p) % 37]


@dataclass(frozen=True)
class DIN:
    facility: str
    year: str
    sequence: str
    check: str

    @property
    def code(self) -> str:
        """The 13-character DIN, without its check character."""
        return f"{self.facility}{self.year}{self.sequence}"

    @property
    def full(self) -> str:
        """The DIN followed by its check character, as printed eye-readable."""
        return self.code + self.check

    @property
    def check_flag(self) -> int:
        """The barcode flag pair that carries the check character (60 + its value)."""
        return 60 + _VALUE[self.check]


def parse_din(text: str, *, require_check: bool = False) -> DIN:
    """Parse a DIN with or without its check character; barcode ``=`` and flags are stripped.

    Raises :class:`InvalidIdentifier` with a reason a person can act on.
    """
    raw = text.strip().upper().replace(" ", "")
    if raw.startswith("="):
        raw = raw[1:]
        if len(raw) == 15 and raw[13:].isdigit():
            raw = raw[:13]  # drop the two flag characters
    if len(raw) not in (13, 14) or (require_check and len(raw) != 14):
        want = "14 characters (13 + check character)" if require_check else "13 or 14 characters"
        raise InvalidIdentifier(
            f"DIN {text!r} has {len(raw)} characters; expected {want}.",
            hint="A DIN is facility (5) + year (2) + sequence (6), then the check character.",
            reason="din_length",
        )
    code = raw[:13]
    match = _DIN_RE.match(code)
    if match is None:
        raise InvalidIdentifier(
            f"DIN {text!r} is malformed: facility must be a letter A-N/P-Z or digit 1-9 then "
            "4 digits, followed by 2 year digits and 6 sequence digits.",
            reason="din_format",
        )
    expected = mod37_2(code)
    if len(raw) == 14 and raw[13] != expected:
        raise InvalidIdentifier(
            f"DIN {text!r} has check character {raw[13]!r}, but MOD 37-2 of {code} is "
            f"{expected!r}: the number was mistyped or misread.",
            reason="din_check",
            expected=expected,
        )
    facility, year, sequence = match.groups()
    return DIN(facility=facility, year=year, sequence=sequence, check=expected)


def make_din(facility: str, year: int, sequence: int) -> str:
    """The 14-character DIN + check character for a facility code, 2-digit year and sequence."""
    code = f"{facility}{year % 100:02d}{sequence:06d}"
    return code + mod37_2(code)


ABO_RH_CODES: dict[str, str] = {
    "51": "O+",
    "95": "O-",
    "62": "A+",
    "06": "A-",
    "73": "B+",
    "17": "B-",
    "84": "AB+",
    "28": "AB-",
}
ABO_RH_GROUPS: tuple[str, ...] = ("O+", "O-", "A+", "A-", "B+", "B-", "AB+", "AB-")
_GROUP_TO_CODE = {group: code for code, group in ABO_RH_CODES.items()}


def parse_abo_rh(code: str) -> str:
    """Group (``O+``…) of an ISBT 128 data structure 002 code, or of a group already spelt."""
    text = code.strip().upper().replace("POS", "+").replace("NEG", "-")
    if text in _GROUP_TO_CODE:
        return text
    if text.startswith("=%"):
        text = text[2:4]
    if text[:2] in ABO_RH_CODES:
        return ABO_RH_CODES[text[:2]]
    raise InvalidIdentifier(
        f"ABO/RhD code {code!r} is not one of {', '.join(sorted(ABO_RH_CODES))} "
        f"nor a group ({', '.join(ABO_RH_GROUPS)}).",
        reason="abo_rh",
    )


def abo_rh_code(group: str) -> str:
    return _GROUP_TO_CODE[parse_abo_rh(group)]


_PRODUCT_RE = re.compile(r"^(?:=<)?([A-Z]\d{4})([A-Z0-9])([A-Z0-9]{2})$")


@dataclass(frozen=True)
class ProductCode:
    description: str  # αoooo: E/F = blood components
    collection_type: str
    division: str

    @property
    def code(self) -> str:
        return f"{self.description}{self.collection_type}{self.division}"

    @property
    def is_blood_component(self) -> bool:
        return self.description[0] in "EF"


def parse_product_code(text: str) -> ProductCode:
    """Parse data structure 003: ``=<`` + αoooo + collection type + 2-character division."""
    match = _PRODUCT_RE.match(text.strip().upper())
    if match is None:
        raise InvalidIdentifier(
            f"Product code {text!r} is malformed: expected a letter and 4 digits (product "
            "description), 1 collection-type character and a 2-character division, e.g. E0336V00.",
            reason="product_code",
        )
    return ProductCode(*match.groups())


class IdentifierScheme(Protocol):
    """What the platform needs of a unit identifier scheme; swap it for a national code."""

    name: str

    def normalise_unit_id(self, text: str) -> str: ...


class Isbt128Scheme:
    name = "ISBT 128"

    def normalise_unit_id(self, text: str) -> str:
        """Validate a DIN carrying its check character and return the 13-character code."""
        return parse_din(text, require_check=True).code


ISBT128 = Isbt128Scheme()
