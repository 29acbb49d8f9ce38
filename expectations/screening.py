"""What a released unit's screening lacks, in words (pure functions).

By the screening rules (ScreeningRules), serology markers must test negative in each of rounds
1..``rounds_required`` (two rounds, with different reagents and staff) and NAT markers in
``nat_rounds_required`` rounds, whichever they are (NAT runs once, on one sample); the
release-screening query (expectations/frames.py) finds the gaps.
"""

from __future__ import annotations

from collections.abc import Iterable

# (marker, round) for a serology gap; (marker, 0) for a NAT marker short of its rounds.
Gap = tuple[str, int]


def screening_gaps(missing_serology: Iterable[str], missing_nat: Iterable[str]) -> list[Gap]:
    """Gaps as the release-screening query returns them: serology as "marker#round", NAT as
    the marker."""
    gaps: list[Gap] = []
    for item in missing_serology:
        marker, _, rnd = item.rpartition("#")
        gaps.append((marker, int(rnd)))
    return gaps + [(m, 0) for m in missing_nat]


def gaps_text(gaps: list[Gap], lang: str) -> str:
    """``anti-HIV (round 2), HBV-DNA (NAT)`` / ``anti-HIV（第2轮）、HBV-DNA（核酸检测）``."""
    rounds: dict[str, list[int]] = {}
    for marker, rnd in gaps:
        rounds.setdefault(marker, []).append(rnd)
    parts = []
    for marker, rs in rounds.items():
        if rs == [0]:
            parts.append(f"{marker}（核酸检测）" if lang == "zh" else f"{marker} (NAT)")
        elif lang == "zh":
            parts.append(f"{marker}（第{'、'.join(str(r) for r in rs)}轮）")
        else:
            plural = "s" if len(rs) > 1 else ""
            parts.append(f"{marker} (round{plural} {', '.join(str(r) for r in rs)})")
    return ("、" if lang == "zh" else ", ").join(parts)
