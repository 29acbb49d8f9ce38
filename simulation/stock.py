"""Blood components on a shelf: the product catalogue, units, and one facility's stock."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

from models.compatibility import check_compatibility
from simulation.people import GROUPS

# A small ISBT 128-shaped catalogue: product description code and the Chinese product name.
CATALOGUE: dict[str, tuple[str, str]] = {
    "red_cells": ("E0336", "悬浮红细胞"),
    "fresh_frozen_plasma": ("E0791", "新鲜冰冻血浆"),
    "frozen_plasma": ("E0869", "冰冻血浆"),  # what is left after cryoprecipitate is taken
    "cryoprecipitate": ("E3587", "冷沉淀凝血因子"),
    "platelets": ("E3090", "单采血小板"),
}
COLLECTION_TYPE = "V"  # volunteer homologous
COMPONENT_TYPES: tuple[str, ...] = ("red_cells", "plasma", "cryoprecipitate", "platelets")
# What each component is stored in, and which transport class carries it.
EQUIPMENT_FOR = {
    "red_cells": "fridge",
    "plasma": "freezer",
    "cryoprecipitate": "freezer",
    "platelets": "platelet_agitator",
}
TRANSPORT_CLASS = {
    "red_cells": "cold",
    "plasma": "frozen",
    "cryoprecipitate": "frozen",
    "platelets": "room",
}


# Groups a recipient of each group may receive, best first (identical, then compatible), by
# the platform's own rules (models.compatibility).
def _preferences() -> dict[tuple[str, str], tuple[str, ...]]:
    table: dict[tuple[str, str], tuple[str, ...]] = {}
    for ctype in COMPONENT_TYPES:
        for recipient in GROUPS:
            ok = [g for g in GROUPS if check_compatibility(ctype, g, recipient).compatible]
            ok.sort(key=lambda g: (g != recipient, g[:-1] != recipient[:-1], g.endswith("-")))
            table[(ctype, recipient)] = tuple(ok)
    return table


PREFERENCES = _preferences()


def product_code(kind: str, division: str = "00") -> str:
    return f"{CATALOGUE[kind][0]}{COLLECTION_TYPE}{division}"


class Unit:
    """One bag: a component of a donation (DIN + product code)."""

    __slots__ = (
        "available_from",
        "code",
        "collected_at",
        "ctype",
        "defect",
        "din",
        "equipment",
        "expires_at",
        "group",
        "in_stock",
        "stored_at",
        "volume",
    )

    def __init__(
        self,
        din: str,
        code: str,
        ctype: str,
        group: str,
        volume: int,
        collected_at: int,
        expires_at: int,
    ) -> None:
        self.din = din
        self.code = code
        self.ctype = ctype
        self.group = group
        self.volume = volume
        self.collected_at = collected_at
        self.expires_at = expires_at
        self.available_from = 0
        self.stored_at = 0
        self.equipment = ""
        self.in_stock = False
        self.defect: tuple[int, str] | None = None  # (found at, cause), e.g. hemolysis


class Stock:
    """Units on one facility's shelves, per (component, group), oldest expiry first."""

    def __init__(self) -> None:
        self.shelves: dict[tuple[str, str], list[Unit]] = {}
        self.defects: list[Unit] = []

    def add(self, unit: Unit, at: int, equipment: str) -> None:
        unit.stored_at = at
        unit.available_from = at
        unit.equipment = equipment
        unit.in_stock = True
        shelf = self.shelves.setdefault((unit.ctype, unit.group), [])
        if not shelf or shelf[-1].expires_at <= unit.expires_at:
            shelf.append(unit)
        else:
            bisect.insort(shelf, unit, key=lambda u: u.expires_at)
        if unit.defect is not None:
            self.defects.append(unit)

    def take(
        self,
        ctype: str,
        group: str,
        at: int,
        min_remaining: int,
        blocked: Callable[[Unit, int], bool] | None = None,
    ) -> Unit | None:
        """Remove and return the usable unit expiring first, if any."""
        shelf = self.shelves.get((ctype, group))
        if not shelf:
            return None
        i = 0
        while i < len(shelf):
            unit = shelf[i]
            if not unit.in_stock:
                del shelf[i]
                continue
            if unit.available_from <= at and unit.expires_at > at + min_remaining:
                if blocked is None or not blocked(unit, at):
                    del shelf[i]
                    unit.in_stock = False
                    return unit
            elif unit.available_from > at and i > 64:
                break  # the rest arrives later; do not scan a long shelf for nothing
            i += 1
        return None

    def take_soonest(
        self,
        ctype: str,
        groups: tuple[str, ...],
        at: int,
        min_remaining: int,
        blocked: Callable[[Unit, int], bool] | None = None,
        *,
        identical_slack: int = 0,
    ) -> Unit | None:
        """The first group's usable unit, unless a compatible group's (``groups[1:]``) expires
        more than ``identical_slack`` sooner: a short-dated compatible unit is used before it
        expires (an O- or B- red cell for an O+ or B+ patient) instead of waiting for a patient
        of its own rare group."""
        found: list[tuple[int, int, str]] = []
        for rank, group in enumerate(groups):
            unit = self.take(ctype, group, at, min_remaining, blocked)
            if unit is not None:
                self.put_back(unit)
                found.append((unit.expires_at, rank, group))
        if not found:
            return None
        soonest = min(found)
        identical = next((f for f in found if f[1] == 0), None)
        if identical is not None and identical[0] - soonest[0] <= identical_slack:
            soonest = identical
        return self.take(ctype, soonest[2], at, min_remaining, blocked)

    def put_back(self, unit: Unit) -> None:
        """Return a unit taken but not used (e.g. an incompatible crossmatch)."""
        unit.in_stock = True
        bisect.insort(
            self.shelves.setdefault((unit.ctype, unit.group), []), unit, key=lambda u: u.expires_at
        )

    def count(self, ctype: str, group: str, usable_after: int) -> int:
        shelf = self.shelves.get((ctype, group), [])
        return sum(1 for u in shelf if u.in_stock and u.expires_at > usable_after)

    def total(self, ctype: str, usable_after: int) -> int:
        return sum(
            1
            for (kind, _), shelf in self.shelves.items()
            if kind == ctype
            for u in shelf
            if u.in_stock and u.expires_at > usable_after
        )

    def remove(self, unit: Unit) -> None:
        unit.in_stock = False  # dropped lazily from its shelf

    def expired(self, at: int) -> list[Unit]:
        """Units whose expiry has passed by ``at`` (they are removed)."""
        out: list[Unit] = []
        for shelf in self.shelves.values():
            while shelf and (not shelf[0].in_stock or shelf[0].expires_at <= at):
                unit = shelf.pop(0)
                if unit.in_stock and unit.available_from <= at:
                    unit.in_stock = False
                    out.append(unit)
                elif unit.in_stock:
                    # Not on the shelf yet (still being processed): cannot expire here.
                    shelf.insert(0, unit)
                    break
        return out

    def found_defective(self, at: int) -> list[Unit]:
        out: list[Unit] = []
        keep: list[Unit] = []
        for unit in self.defects:
            if not unit.in_stock:
                continue
            assert unit.defect is not None
            (out if unit.defect[0] <= at else keep).append(unit)
        self.defects = keep
        for unit in out:
            unit.in_stock = False
        return out

    def in_equipment(self, equipment: str, stored_by: int) -> list[Unit]:
        """Units in a piece of equipment that were put there by ``stored_by`` (they are removed)."""
        out = [
            u
            for shelf in self.shelves.values()
            for u in shelf
            if u.in_stock and u.equipment == equipment and u.stored_at <= stored_by
        ]
        for unit in out:
            unit.in_stock = False
        return out

    def units(self) -> Iterator[Unit]:
        for shelf in self.shelves.values():
            for unit in shelf:
                if unit.in_stock:
                    yield unit
