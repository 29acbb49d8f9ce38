"""Domain thresholds, each defaulting to the standard's value (../shared/domain/README.md §4).

They are sections of the one settings object (``infra.settings.Settings``); override any of them
with ``BLOODTRACE_<SECTION>__<FIELD>``, for example ``BLOODTRACE_DONOR__MIN_AGE_YEARS=18``.
A figure marked (assumed) has no published source.
"""

from __future__ import annotations

from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

# Impossible values (a negative interval, a zero batch) are refused when the settings load,
# with the variable's name and what is allowed (infra.settings). 0 is allowed where it means
# "none" (no minimum interval, no tolerance); timer periods and sizes must be positive.


class StorageRule(BaseModel):
    """Storage temperature range and shelf life of one component type (WS 399-2012)."""

    min_c: float | None
    max_c: float | None
    shelf_life_hours: PositiveInt
    needs_agitation: bool = False

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min_c is not None and self.max_c is not None and self.min_c > self.max_c:
            raise ValueError(f"min_c ({self.min_c}) must not be above max_c ({self.max_c})")
        return self


def _default_storage() -> dict[str, StorageRule]:
    return {
        "whole_blood": StorageRule(min_c=2, max_c=6, shelf_life_hours=35 * 24),
        "red_cells": StorageRule(min_c=2, max_c=6, shelf_life_hours=35 * 24),
        "washed_red_cells": StorageRule(min_c=2, max_c=6, shelf_life_hours=24),
        "platelets": StorageRule(min_c=20, max_c=24, shelf_life_hours=5 * 24, needs_agitation=True),
        "plasma": StorageRule(min_c=None, max_c=-18, shelf_life_hours=365 * 24),
        "cryoprecipitate": StorageRule(min_c=None, max_c=-18, shelf_life_hours=365 * 24),
    }


class StorageRules(BaseModel):
    components: dict[str, StorageRule] = Field(default_factory=_default_storage)
    # Platelets kept without agitation last 24 h only.
    platelets_unagitated_shelf_life_hours: PositiveInt = 24


class DonorRules(BaseModel):
    """GB 18467-2011 donor selection."""

    min_age_years: PositiveInt = 18
    max_age_years: PositiveInt = 55
    max_age_repeat_donor_years: PositiveInt = 60
    whole_blood_volumes_ml: list[PositiveInt] = Field(default_factory=lambda: [200, 300, 400])
    whole_to_whole_min_days: NonNegativeInt = 182  # 6 months
    platelets_to_platelets_min_days: NonNegativeInt = 14
    platelets_max_per_year: PositiveInt = 24
    platelets_to_whole_min_days: NonNegativeInt = 28
    whole_to_platelets_min_days: NonNegativeInt = 90  # 3 months
    ml_per_unit: PositiveInt = 200  # 1 unit (单位) = 200 ml whole blood

    @model_validator(mode="after")
    def _ages(self) -> Self:
        if not self.min_age_years <= self.max_age_years <= self.max_age_repeat_donor_years:
            raise ValueError(
                "ages must satisfy min_age_years <= max_age_years <= max_age_repeat_donor_years "
                f"(got {self.min_age_years}, {self.max_age_years}, "
                f"{self.max_age_repeat_donor_years})"
            )
        return self


class ScreeningRules(BaseModel):
    """Markers a unit must test negative on, in every required round, before release."""

    serology_markers: list[str] = Field(
        default_factory=lambda: ["HBsAg", "anti-HCV", "anti-HIV", "anti-TP", "ALT"]
    )
    nat_markers: list[str] = Field(default_factory=lambda: ["HBV-DNA", "HCV-RNA", "HIV-RNA"])
    rounds_required: PositiveInt = 2
    # Serology is repeated in every required round; NAT runs on one sample, once.
    nat_rounds_required: NonNegativeInt = 1
    # Markers whose reactivity means an infection (ALT alone does not open a lookback).
    infectious_markers: list[str] = Field(
        default_factory=lambda: [
            "HBsAg",
            "anti-HCV",
            "anti-HIV",
            "anti-TP",
            "HBV-DNA",
            "HCV-RNA",
            "HIV-RNA",
        ]
    )


class HonourRules(BaseModel):
    """无偿献血奉献奖 thresholds, in counted donations."""

    bronze: PositiveInt = 20
    silver: PositiveInt = 30
    gold: PositiveInt = 40
    lifetime_after_golds: PositiveInt = 3

    @model_validator(mode="after")
    def _order(self) -> Self:
        if not self.bronze < self.silver < self.gold:
            raise ValueError(
                f"awards must satisfy bronze < silver < gold (got {self.bronze}, "
                f"{self.silver}, {self.gold})"
            )
        return self


class InventoryRules(BaseModel):
    """Days-of-supply levels (assumed: no published Chinese thresholds)."""

    mean_issue_window_days: PositiveInt = 7
    normal_min_days: NonNegativeFloat = 7.0
    tight_min_days: NonNegativeFloat = 5.0
    short_min_days: NonNegativeFloat = 3.0
    platelets_critical_below_days: NonNegativeFloat = 1.0
    # (assumed) platelets keep 5 days, so the red-cell levels cannot apply to them.
    platelets_normal_min_days: NonNegativeFloat = 3.0
    platelets_tight_min_days: NonNegativeFloat = 2.0
    expiring_horizon_hours: NonNegativeInt = 72
    # Facility -> city, for moving expiring units to a short facility of the same city;
    # a facility not listed is in default_city (the platform serves one city by default).
    facility_city: dict[str, str] = Field(default_factory=dict)
    default_city: str = "city"
    # Levels are re-evaluated with every batch of unit movements, and at least this often in
    # event time (units expire on the shelf without any event).
    evaluate_every_minutes: PositiveFloat = 60.0
    # ...but at most once per this many (wall-clock) seconds: under load batches come several
    # times a second, and each evaluation reads the warehouse.
    evaluate_min_seconds: NonNegativeFloat = 1.0
    # (assumed) A better level is recorded only after holding this long (event time); a worse
    # one at once. Keeps a key with little stock from alerting at every unit in and out.
    recovery_hold_hours: NonNegativeFloat = 24.0

    @model_validator(mode="after")
    def _levels(self) -> Self:
        if not self.short_min_days <= self.tight_min_days <= self.normal_min_days:
            raise ValueError(
                "levels must satisfy short_min_days <= tight_min_days <= normal_min_days "
                f"(got {self.short_min_days}, {self.tight_min_days}, {self.normal_min_days})"
            )
        platelets = (
            self.platelets_critical_below_days,
            self.platelets_tight_min_days,
            self.platelets_normal_min_days,
        )
        if not platelets[0] <= platelets[1] <= platelets[2]:
            raise ValueError(
                "levels must satisfy platelets_critical_below_days <= platelets_tight_min_days "
                f"<= platelets_normal_min_days (got {', '.join(map(str, platelets))})"
            )
        return self


class ColdChainRules(BaseModel):
    excursion_tolerance_minutes: NonNegativeFloat = 30.0
    return_max_minutes_out: NonNegativeFloat = 30.0
    sensor_silence_factor: PositiveFloat = 3.0  # silent for 3 reporting intervals = telemetry gap
    default_reading_interval_seconds: PositiveInt = 300
    # The storage rule of empty equipment (and of units of unknown type in it), by kind; a
    # transport box takes its rule from what it carries only.
    equipment_default_component: dict[str, str] = Field(
        default_factory=lambda: {
            "fridge": "red_cells",
            "freezer": "plasma",
            "platelet_agitator": "platelets",
        }
    )
    # How long departed units and ended excursions are remembered per equipment, so a unit
    # movement that arrives late is still matched against an excursion.
    history_retention_hours: NonNegativeFloat = 48.0
    # Confirmed excursions kept per equipment for late movements (by number, not age).
    ended_excursions_kept: NonNegativeInt = 20
    # How often (wall clock) silent sensors are looked for.
    silence_check_seconds: PositiveFloat = 5.0
    # A monitor whose excursions did not change (only its latest reading time moved) goes to
    # its changelog at most this often: one message per reading would double the broker load.
    monitor_flush_seconds: NonNegativeFloat = 10.0
    # Kinds that report only while in use: their silence matters only while they hold units.
    silent_only_when_holding: list[str] = Field(default_factory=lambda: ["transport_box"])


class LifecycleRules(BaseModel):
    lost_unit_after_expiry_days: NonNegativeInt = 7
    lookback_window_days: PositiveInt | None = None  # None: back to the last negative donation
    # A reactive infectious marker is confirmed (and opens a lookback) when reactive in this
    # round or later (repeat testing with other reagents and staff), or by NAT.
    lookback_confirm_round: PositiveInt = 2
    # RhD-negative recipients get RhD-negative platelets (off where anti-D cover is policy).
    rhd_negative_platelets: bool = True
    lost_unit_check_seconds: PositiveFloat = 3600.0  # how often the lost-unit timer looks


class QualityRules(BaseModel):
    freshness_max_silence_hours: PositiveInt = 48
    schedule_seconds: NonNegativeInt = 3600  # 0 turns the scheduled run off
    # (assumed) a collection may miss its nominal bag volume (200/300/400 ml) by this fraction
    # before it counts as under-volume (or, above, as an implausible volume).
    volume_tolerance_fraction: Annotated[float, Field(ge=0, le=1)] = 0.10
    # (assumed) plausible ceiling of one apheresis collection.
    apheresis_max_volume_ml: PositiveInt = 650
    # (assumed) additive solution lets a donation's components add up to more than it collected.
    component_additive_allowance: NonNegativeFloat = 0.35
    # Alerts (rule LIKE any pattern) that confirm a cold-chain excursion, if raised.
    excursion_alert_rule_patterns: list[str] = Field(default_factory=lambda: ["%excursion%"])
    # Beyond this a check's findings are counted, not stored.
    max_findings_per_check: PositiveInt = 10000


class DbtRules(BaseModel):
    """The dbt marts (dbt/): how often the platform rebuilds them and their metric knobs."""

    schedule_seconds: NonNegativeInt = 3600  # 0 turns the scheduled rebuild off
    threads: PositiveInt = 2
    # Growth baseline year. None: supply_demand_yearly uses the first year with data, and the
    # county scorecard and the speech figures the year less baseline_years_back (the speech
    # compares 2024 with 2020).
    baseline_year: PositiveInt | None = None
    baseline_years_back: int = Field(default=4, ge=1, le=50)
    local_timezone: str = "Asia/Shanghai"  # days and months are local calendar days
    # Share of the residents the events cover: 1 for a real station; a sampled simulated city
    # (the demo's 1-in-4 Ankang) sets its sample so rates per 1,000 residents are the city's.
    population_sample: float = Field(default=1.0, gt=0, le=1)

    @field_validator("local_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as Asia/Shanghai"
            ) from exc
        return value


class IngestRules(BaseModel):
    """Limits on what the edges accept (assumed: no published source)."""

    max_event_bytes: int = Field(default=64 * 1024, gt=0)
    max_future_skew_seconds: int = Field(default=600, ge=0)
    # How deep lists/objects may nest; the contract itself never goes past 4.
    max_json_depth: int = Field(default=16, ge=4, le=200)
    # A refused input is kept (dead-letter topic, rejected_events) cut to this many bytes, with
    # its full size and SHA-256: a dead-letter record must stay far below the broker's
    # message size limit (1 MB by default), whatever arrived.
    dead_letter_raw_bytes: int = Field(default=16 * 1024, ge=256, le=128 * 1024)
    # One POST /v1/events: the body's bytes and its number of events (like other event APIs:
    # batch in requests of about 1 MB).
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    max_batch_events: int = Field(default=2000, gt=0)


class SupplyRules(BaseModel):
    """Supply early warning (models/supply.py) and emergency recruitment (assumed defaults)."""

    schedule_seconds: int = 86400  # the platform recomputes the forecast daily; 0 turns it off
    horizon_days: int = Field(default=14, ge=1, le=60)
    history_days: int = Field(default=730, ge=28)  # days of history the model is fitted on
    min_history_days: int = Field(default=28, ge=14)  # less than this: no forecast
    interval: float = Field(default=0.8, gt=0, lt=1)  # width of the prediction intervals
    # A crossing is forecast (and alerted) when the projection is at least this likely to be
    # under the level's line on a day ahead.
    alert_probability: float = Field(default=0.15, gt=0, lt=1)
    discard_rate_days: int = Field(default=28, ge=1)
    # The warning line the backtest judges crossings of (a level of models.inventory).
    warning_level: str = "tight"
    refit_days: int = Field(default=7, ge=1)  # backtest: the model is refitted this often
    # Backtest: a shortage episode is at least episode_min_days under the line after at least
    # recovery_days above it (shorter dips are noise of a few units).
    episode_min_days: int = Field(default=2, ge=1)
    recovery_days: int = Field(default=3, ge=1)  # recent days whose discard rate is carried
    timezone: str = "Asia/Shanghai"  # days are local calendar days
    # Emergency recruitment: the share of called donors who come, when the warehouse has no
    # record of earlier calls (the observed rate replaces it when known).
    default_turn_up_rate: float = Field(default=0.3, gt=0, le=1)
    recruit_horizon_days: int = Field(default=7, ge=1)  # the gap to close: days ahead counted
    # Lookback notices to hospitals: a hospital that has not acknowledged within this many
    # hours is reminded, then again every reminder_every_hours.
    notice_ack_due_hours: float = Field(default=48.0, gt=0)
    notice_reminder_every_hours: float = Field(default=24.0, gt=0)
    notice_check_seconds: float = Field(default=3600.0, gt=0)
