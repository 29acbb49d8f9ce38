"""What a released unit's screening lacks, by the screening rules (pure functions).

Serology markers must test negative in each of rounds 1..``rounds_required`` (two rounds, with
different reagents and staff); NAT markers in ``nat_rounds_required`` rounds, whichever they are
(NAT runs once, on one sample).
"""

from __future__ import annotations

from collections.abc import Iterable

from models.rules import ScreeningRules

# (marker, round) for a serology gap; (marker, 0) for a NAT marker short of its rounds.
Gap = tuple[str, int]


def screening_gaps(negatives: Iterable[str], rules: ScreeningRules) -> list[Gap]:
    """Gaps in a unit's negative results, given as "marker#round" strings."""
    have: dict[str, set[int]] = {}
    for item in negatives:
        marker, _, rnd = item.rpartition("#")
        have.setdefault(marker, set()).add(int(rnd))
    gaps: list[Gap] = [
        (m, r)
        for m in rules.serology_markers
        for r in range(1, rules.rounds_required + 1)
        if r not in have.get(m, set())
    ]
    gaps += [(m, 0) for m in rules.nat_markers if len(have.get(m, ())) < rules.nat_rounds_required]
    return gaps


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
