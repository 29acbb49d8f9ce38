"""National ID numbers (GB 11643-1999, 18 characters) are never kept, logged or echoed.

Anything that looks like one, in any field, reason, raw byte string, log line or answer, is
replaced by the fixed mask :data:`NATIONAL_ID_MASK` (the whole number: no prefix is kept, since
the first 14 digits are the holder's region and birth date). "Looks like one" means 17 digits
then a digit or X, not touching another digit, whose check character is right. Runs of digits
inside a ``ps_`` pseudonym (hex of an HMAC) are pseudonyms, not IDs, and are left alone.

Also here: the bounded, masked evidence of a refused input (``raw_evidence``) and the JSON
depth check, both pure.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

NATIONAL_ID_MASK = "[national-id]"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_CANDIDATE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
# Every digit as "9", anything else as a space: a national ID needs 17 digits in a row.
_DIGITS_ONLY = bytes(0x39 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_SEVENTEEN_DIGITS = b"9" * 17
_PSEUDONYM = re.compile(r"ps_[0-9a-f]{32}")
# The longest a pseudonym reaches on either side of a candidate inside it.
_PSEUDONYM_REACH = 35


def national_id_check(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def is_national_id(text: str) -> bool:
    """True for exactly 18 characters that are a national ID number with a right check."""
    return bool(
        len(text) == 18
        and text[:17].isascii()
        and text[:17].isdigit()
        and text[17].upper() == national_id_check(text[:17])
    )


def _in_pseudonym(text: str, start: int, end: int) -> bool:
    window_start = max(0, start - _PSEUDONYM_REACH)
    for match in _PSEUDONYM.finditer(text, window_start, end + _PSEUDONYM_REACH):
        if match.start() <= start and end <= match.end():
            return True
    return False


def _spans(text: str) -> list[tuple[int, int]]:
    return [
        m.span()
        for m in _CANDIDATE.finditer(text)
        if is_national_id(m.group()) and not _in_pseudonym(text, *m.span())
    ]


def may_hold_national_id(data: bytes) -> bool:
    """A fast first look at raw bytes: False means no national ID number can be in them."""
    return _SEVENTEEN_DIGITS in data.translate(_DIGITS_ONLY)  # two C passes: hot path


def contains_national_id(text: str) -> bool:
    return bool(_spans(text))


def mask_national_ids(text: str) -> str:
    """``text`` with every national ID number replaced by :data:`NATIONAL_ID_MASK`."""
    spans = _spans(text)
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append(NATIONAL_ID_MASK)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def mask_short(text: str, limit: int = 1000) -> str:
    """Masked and cut to ``limit`` characters: for fields that echo what a sender wrote."""
    text = mask_national_ids(text)
    return text if len(text) <= limit else mask_national_ids(text[:limit]) + "..."


def mask_json(value: Any) -> Any:
    """A JSON-able value with every string (keys too) masked; for answers and log fields."""
    if isinstance(value, str):
        return mask_national_ids(value)
    if isinstance(value, dict):
        return {mask_json(k): mask_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_json(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) == 18:
        text = mask_national_ids(str(value))
        return value if text == str(value) else text
    return value


def find_national_id(value: Any, path: str = "") -> str | None:
    """The dotted path of the first value (or key) holding a national ID number, else None."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                sub_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and contains_national_id(key):
                    return where or "(a key)"
                stack.append((sub_path, sub))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", sub) for i, sub in enumerate(item))
        elif (
            isinstance(item, str | int)
            and not isinstance(item, bool)
            and contains_national_id(str(item))
        ):
            return where or "(the value)"
    return None


def deeper_than(value: Any, limit: int) -> bool:
    """True if lists/objects nest more than ``limit`` levels (no recursion: safe at any depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


@dataclass(frozen=True)
class RawEvidence:
    """What is kept of a refused input: masked text cut to a limit, plus the original's size
    and SHA-256 (so an emitter can tell which message it was)."""

    text: str
    size: int
    sha256: str


def truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never mid-character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def raw_evidence(raw: bytes, limit: int, *, shown: bytes | None = None) -> RawEvidence:
    """Size and hash of ``raw``; text of ``shown`` (default ``raw``, e.g. a redacted copy):
    masked, then cut to ``limit`` bytes, then masked again, since a cut can turn a longer run of
    digits into an 18-digit one."""
    text = (raw if shown is None else shown).decode("utf-8", errors="replace")
    text = mask_national_ids(text)
    text = mask_national_ids(truncate_utf8(text, limit))
    return RawEvidence(text, len(raw), hashlib.sha256(raw).hexdigest())
