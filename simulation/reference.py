"""The city's reference data, read from the dbt seeds (dbt/seeds/*.csv): one source of truth.

The CSVs describe one prefecture city served by one blood station: by default 安康市 (Ankang),
its ten county-level divisions with their 2020 census populations and synthetic sites,
hospitals and equipment placed in them; the fictional 安澜市 of the older presets lives in
simulation/cities/anlan/. Bigger presets copy it
deterministically: ``county_replicas`` copies of its counties (with their sites, hospitals and
equipment) under the same station, and ``stations`` copies of that whole service area, each with
its own station and DIN facility code (a DIN sequence holds at most 999 999 donations a year).
Copy (1, 1) keeps the CSV ids; other copies get a ``-S<s>C<c>`` suffix, so the copies of the
seeds can be regenerated with :func:`write_reference`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "dbt" / "seeds"
# The fictional 安澜市 of the older presets (six made-up counties): counties, sites, hospitals
# and equipment; what it lacks (the campaign calendar) comes from SEEDS_DIR.
ANLAN_DIR = Path(__file__).resolve().parent / "cities" / "anlan"

# Name prefixes for county copies and tags for station copies (Chinese: a person reads them).
_COPY_PREFIXES = "新上下前后东西南北中"
_CITY_TAGS = "甲乙丙丁戊己庚辛壬癸"


@dataclass(frozen=True)
class County:
    code: str
    name: str
    population: int
    eligible_population: int
    population_source: str = ""  # census_2020_published, ... (see dbt/seeds/_seeds.yml)
    eligible_source: str = ""


@dataclass(frozen=True)
class Site:
    site_id: str
    name: str
    kind: str  # fixed_house | mobile_vehicle | group_drive
    county_code: str
    opened_on: date


@dataclass(frozen=True)
class Hospital:
    facility_id: str
    name: str
    county_code: str
    level: str

    @property
    def tertiary(self) -> bool:
        return self.level.startswith("三级")


@dataclass(frozen=True)
class Equipment:
    equipment_id: str
    facility_id: str
    kind: str  # fridge | freezer | platelet_agitator | transport_box
    interval_seconds: int


@dataclass(frozen=True)
class Campaign:
    month_day: tuple[int, int] | None  # every year, or
    on: date | None  # one date
    name: str
    window_days: int

    @property
    def calendar_text(self) -> str:
        """As the seed writes it: MM-DD (every year) or YYYY-MM-DD."""
        if self.on is not None:
            return self.on.isoformat()
        assert self.month_day is not None
        return f"{self.month_day[0]:02d}-{self.month_day[1]:02d}"

    def date_in(self, year: int) -> date | None:
        if self.on is not None:
            return self.on if self.on.year == year else None
        assert self.month_day is not None
        month, day = self.month_day
        return date(year, month, min(day, 28 if month == 2 else day))


@dataclass
class Region:
    """One blood station and the counties, sites and hospitals it serves."""

    station_id: str
    din_facility: str
    counties: list[County]
    sites: list[Site]
    hospitals: list[Hospital]
    equipment: list[Equipment]
    central_county: str = ""
    # Counties without a fixed donation house: touring vehicles visit them in turn.
    touring_counties: list[str] = field(default_factory=list)

    def equipment_of(self, facility_id: str, kind: str) -> list[Equipment]:
        return [e for e in self.equipment if e.facility_id == facility_id and e.kind == kind]


@dataclass
class CityData:
    counties: list[County]
    sites: list[Site]
    hospitals: list[Hospital]
    equipment: list[Equipment]
    campaigns: list[Campaign]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            {k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)
        ]


def _seed(root: Path, name: str) -> Path:
    """``root/name``, or the repository's dbt seed of that name when ``root`` has none."""
    path = root / name
    return path if path.exists() else SEEDS_DIR / name


def load_city(seeds_dir: Path | None = None) -> CityData:
    """Read counties, sites, hospitals, equipment and the campaign calendar from the seeds
    (``seeds_dir``; any file it lacks comes from the repository's dbt/seeds)."""
    root = seeds_dir or SEEDS_DIR
    counties = [
        County(
            r["county_code"],
            r["county_name"],
            int(r["population"]),
            int(r["eligible_population"]),
            r.get("population_source", ""),
            r.get("eligible_source", ""),
        )
        for r in _rows(_seed(root, "counties.csv"))
    ]
    sites = [
        Site(
            r["site_id"],
            r["site_name"],
            r["site_kind"],
            r["county_code"],
            date.fromisoformat(r["opened_on"]),
        )
        for r in _rows(_seed(root, "sites.csv"))
    ]
    hospitals = [
        Hospital(r["facility_id"], r["hospital_name"], r["county_code"], r["level"])
        for r in _rows(_seed(root, "hospitals.csv"))
    ]
    equipment = [
        Equipment(
            r["equipment_id"], r["facility_id"], r["equipment_kind"], int(r["interval_seconds"])
        )
        for r in _rows(_seed(root, "equipment.csv"))
    ]
    campaigns = []
    for r in _rows(_seed(root, "campaign_calendar.csv")):
        text = r["campaign_date"]
        if len(text) == 5:  # MM-DD: every year
            month, day = (int(p) for p in text.split("-"))
            campaigns.append(
                Campaign((month, day), None, r["campaign_name"], int(r["window_days"]))
            )
        else:
            campaigns.append(
                Campaign(None, date.fromisoformat(text), r["campaign_name"], int(r["window_days"]))
            )
    return CityData(counties, sites, hospitals, equipment, campaigns)


def _din_facility(base: str, station: int) -> str:
    return f"{base[0]}{int(base[1:]) + station - 1:04d}"


def build_regions(
    city: CityData,
    *,
    station_id: str,
    din_facility: str,
    stations: int = 1,
    county_replicas: int = 1,
) -> list[Region]:
    """The service areas of ``stations`` stations, each with ``county_replicas`` county copies."""
    regions = []
    for s in range(1, stations + 1):
        sid = station_id if s == 1 else f"{station_id[:-2]}{int(station_id[-2:]) + s - 1:02d}"

        def ident(value: str, s: int, c: int) -> str:
            return value if (s, c) == (1, 1) else f"{value}-S{s}C{c}"

        def name(value: str, s: int, c: int) -> str:
            prefix = "" if c == 1 else _COPY_PREFIXES[(c - 2) % len(_COPY_PREFIXES)]
            tag = "" if s == 1 else f"·{_CITY_TAGS[(s - 2) % len(_CITY_TAGS)]}市"
            return f"{prefix}{value}{tag}"

        counties: list[County] = []
        sites: list[Site] = []
        hospitals: list[Hospital] = []
        equipment: list[Equipment] = []
        for c in range(1, county_replicas + 1):
            counties += [
                County(
                    ident(x.code, s, c),
                    name(x.name, s, c),
                    x.population,
                    x.eligible_population,
                    x.population_source,
                    x.eligible_source,
                )
                for x in city.counties
            ]
            sites += [
                Site(
                    ident(x.site_id, s, c),
                    name(x.name, s, c),
                    x.kind,
                    ident(x.county_code, s, c),
                    x.opened_on,
                )
                for x in city.sites
            ]
            hospitals += [
                Hospital(
                    ident(x.facility_id, s, c),
                    name(x.name, s, c),
                    ident(x.county_code, s, c),
                    x.level,
                )
                for x in city.hospitals
            ]
            hospital_ids = {h.facility_id for h in city.hospitals}
            equipment += [
                Equipment(
                    ident(x.equipment_id, s, c),
                    ident(x.facility_id, s, c),
                    x.kind,
                    x.interval_seconds,
                )
                for x in city.equipment
                if x.facility_id in hospital_ids
            ]
        # The station's own equipment is not copied with the counties: one station per region.
        equipment = [
            Equipment(x.equipment_id.replace(station_id, sid, 1), sid, x.kind, x.interval_seconds)
            for x in city.equipment
            if x.facility_id == station_id
        ] + equipment
        region = Region(sid, _din_facility(din_facility, s), counties, sites, hospitals, equipment)
        region.central_county = max(counties, key=lambda x: x.population).code
        with_house = {x.county_code for x in sites if x.kind == "fixed_house"}
        region.touring_counties = [x.code for x in counties if x.code not in with_house]
        regions.append(region)
    return regions


def write_reference(regions: list[Region], campaigns: list[Campaign], out_dir: Path) -> None:
    """Write the (possibly copied) city as the five seed CSVs, e.g. for a bigger preset's dbt."""
    out_dir.mkdir(parents=True, exist_ok=True)

    def write(name: str, header: list[str], rows: list[list[object]]) -> None:
        with (out_dir / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)

    write(
        "counties.csv",
        [
            "county_code",
            "county_name",
            "population",
            "eligible_population",
            "population_source",
            "eligible_source",
        ],
        [
            [
                c.code,
                c.name,
                c.population,
                c.eligible_population,
                c.population_source,
                c.eligible_source,
            ]
            for r in regions
            for c in r.counties
        ],
    )
    write(
        "sites.csv",
        ["site_id", "site_name", "site_kind", "county_code", "opened_on"],
        [
            [s.site_id, s.name, s.kind, s.county_code, s.opened_on.isoformat()]
            for r in regions
            for s in r.sites
        ],
    )
    write(
        "hospitals.csv",
        ["facility_id", "hospital_name", "county_code", "level"],
        [[h.facility_id, h.name, h.county_code, h.level] for r in regions for h in r.hospitals],
    )
    write(
        "equipment.csv",
        ["equipment_id", "facility_id", "equipment_kind", "interval_seconds"],
        [
            [e.equipment_id, e.facility_id, e.kind, e.interval_seconds]
            for r in regions
            for e in r.equipment
        ],
    )
    write(
        "campaign_calendar.csv",
        ["campaign_date", "campaign_name", "window_days"],
        [[c.calendar_text, c.name, c.window_days] for c in campaigns],
    )
