"""National ID detection and masking, raw evidence and depth checks (pure functions)."""

from __future__ import annotations

import hashlib
import logging

import pytest
from events_factory import donor

from infra import logmask
from infra.errors import EventRejected
from models.privacy import (
    NATIONAL_ID_MASK,
    deeper_than,
    find_national_id,
    is_national_id,
    mask_json,
    mask_national_ids,
    national_id_check,
    raw_evidence,
)

ID = "110101199003077571"  # made up; right check character
ID_X = "11010519491231002X"


def test_the_gb_11643_check_character() -> None:
    assert national_id_check(ID[:17]) == "1"
    assert national_id_check(ID_X[:17]) == "X"
    assert is_national_id(ID) and is_national_id(ID_X) and is_national_id(ID_X.lower())
    assert not is_national_id(ID[:17] + "2")  # wrong check
    assert not is_national_id(ID[:17])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (ID, NATIONAL_ID_MASK),
        (f"DIN '{ID}' has 18 characters", f"DIN '{NATIONAL_ID_MASK}' has 18 characters"),
        (
            f'{{"ward":"bed {ID_X}","n":{ID}}}',
            f'{{"ward":"bed {NATIONAL_ID_MASK}","n":{NATIONAL_ID_MASK}}}',
        ),
        (f"ID{ID}x", f"ID{NATIONAL_ID_MASK}x"),  # letters around it do not hide it
        (ID[:17] + "2", ID[:17] + "2"),  # wrong check character: not an ID
        ("9" + ID, "9" + ID),  # 19 digits: not an ID
        ("13800138000 and 2026-03-01T08:30:00Z", "13800138000 and 2026-03-01T08:30:00Z"),
    ],
)
def test_masking_replaces_the_whole_number(text: str, masked: str) -> None:
    assert mask_national_ids(text) == masked


def test_a_pseudonym_is_never_taken_for_an_id() -> None:
    pseudonym = "ps_ab" + ID + "cdef012345ab"
    assert len(pseudonym) == 35
    assert mask_national_ids(f'"donor_id":"{pseudonym}"') == f'"donor_id":"{pseudonym}"'
    assert find_national_id({"donor_id": donor(1)}) is None


def test_json_values_and_keys_are_masked_and_found() -> None:
    value = {"a": [1, {ID: "x", "b": f"see {ID}"}], "n": int(ID)}
    assert ID not in repr(mask_json(value))
    assert find_national_id({"payload": {"ward": f"bed {ID}"}}) == "payload.ward"
    assert find_national_id({"n": int(ID)}) == "n"
    assert find_national_id({"ok": "fine"}) is None


def test_raw_evidence_is_cut_masked_and_describes_the_original() -> None:
    raw = (b"x" * 100 + ID.encode()) * 1000
    evidence = raw_evidence(raw, 16 * 1024)
    assert len(evidence.text.encode()) <= 16 * 1024
    assert ID[:14] not in evidence.text and NATIONAL_ID_MASK in evidence.text
    assert evidence.size == len(raw)
    assert evidence.sha256 == hashlib.sha256(raw).hexdigest()
    # A cut that leaves 18 digits of a longer run still masks them.
    cut = raw_evidence(b"x" + ID.encode() + b"12345", 19)
    assert ID not in cut.text


def test_invalid_utf8_and_binary_are_kept_as_text() -> None:
    evidence = raw_evidence(bytes(range(256)), 64)
    assert evidence.size == 256 and len(evidence.text.encode()) <= 64


def test_depth_is_measured_without_recursion() -> None:
    deep: object = 1
    for _ in range(100_000):
        deep = {"a": deep}
    assert deeper_than(deep, 16)
    assert not deeper_than({"payload": {"results": [{"marker": "ALT"}]}}, 4)
    assert deeper_than({"payload": {"results": [{"marker": ["x"]}]}}, 4)


def test_errors_never_carry_an_id() -> None:
    error = EventRejected("invalid_field", f"din: DIN '{ID}' has 18 characters " + "y" * 5000)
    assert ID not in str(error) and ID not in repr(error.to_dict())
    assert len(error.detail) < 1100


def test_log_lines_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logmask.install()
    logmask.install()  # idempotent
    try:
        raise ValueError(f"bad {ID}")
    except ValueError:
        logging.getLogger("bloodtrace.test").exception("refused %s", ID)
    record = caplog.records[-1]
    assert ID not in record.getMessage() and ID not in str(record.exc_text)
    assert NATIONAL_ID_MASK in caplog.text and ID not in caplog.text
