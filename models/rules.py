"""Domain thresholds, each defaulting to the standard's value (../shared/domain/README.md §4).

They are sections of the one settings object (``infra.settings.Settings``); override any of them
with ``BLOODTRACE_<SECTION>__<FIELD>``, for example ``BLOODTRACE_DONOR__MIN_AGE_YEARS=18``.
A figure marked (assumed) has no published source.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class StorageRule(BaseModel):
    """Storage temperature range and shelf life of one component type (WS 399-2012)."""

    min_c: float | None
    max_c: float | None
    shelf_life_hours: int
    needs_agitation: bool = False


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
    platelets_unagitated_shelf_life_hours: int = 24


class DonorRules(BaseModel):
    """GB 18467-2011 donor selection."""

    min_age_years: int = 18
    max_age_years: int = 55
    max_age_repeat_donor_years: int = 60
    whole_blood_volumes_ml: list[int] = Field(default_factory=lambda: [200, 300, 400])
    whole_to_whole_min_days: int = 182  # 6 months
    platelets_to_platelets_min_days: int = 14
    platelets_max_per_year: int = 24
    platelets_to_whole_min_days: int = 28
    whole_to_platelets_min_days: int = 90  # 3 months
    ml_per_unit: int = 200  # 1 unit (单位) = 200 ml whole blood


class ScreeningRules(BaseModel):
    """Markers a unit must test negative on, in every required round, before release."""

    serology_markers: list[str] = Field(
        default_factory=lambda: ["HBsAg", "anti-HCV", "anti-HIV", "anti-TP", "ALT"]
    )
    nat_markers: list[str] = Field(default_factory=lambda: ["HBV-DNA", "HCV-RNA", "HIV-RNA"])
    rounds_required: int = 2
    # Serology is repeated in every required round; NAT runs on one sample, once.
    nat_rounds_required: int = 1
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

    bronze: int = 20
    silver: int = 30
    gold: int = 40
    lifetime_after_golds: int = 3


class InventoryRules(BaseModel):
    """Days-of-supply levels (assumed: no published Chinese thresholds)."""

    mean_issue_window_days: int = 7
    normal_min_days: float = 7.0
    tight_min_days: float = 5.0
    short_min_days: float = 3.0
    platelets_critical_below_days: float = 1.0
    # (assumed) platelets keep 5 days, so the red-cell levels cannot apply to them.
    platelets_normal_min_days: float = 3.0
    platelets_tight_min_days: float = 2.0
    expiring_horizon_hours: int = 72
    # Facility -> city, for moving expiring units to a short facility of the same city;
    # a facility not listed is in default_city (the platform serves one city by default).
    facility_city: dict[str, str] = Field(default_factory=dict)
    default_city: str = "city"
    # Levels are re-evaluated with every batch of unit movements, and at least this often in
    # event time (units expire on the shelf without any event).
    evaluate_every_minutes: float = 60.0
    # ...but at most once per this many (wall-clock) seconds: under load batches come several
    # times a second, and each evaluation reads the warehouse.
    evaluate_min_seconds: float = 1.0
    # (assumed) A better level is recorded only after holding this long (event time); a worse
    # one at once. Keeps a key with little stock from alerting at every unit in and out.
    recovery_hold_hours: float = 24.0


class ColdChainRules(BaseModel):
    excursion_tolerance_minutes: float = 30.0
    return_max_minutes_out: float = 30.0
    sensor_silence_factor: float = 3.0  # silent for 3 reporting intervals = telemetry gap
    default_reading_interval_seconds: int = 300
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
    history_retention_hours: float = 48.0
    # Confirmed excursions kept per equipment for late movements (by number, not age).
    ended_excursions_kept: int = 20
    silence_check_seconds: float = 5.0  # how often (wall clock) silent sensors are looked for
    # A monitor whose excursions did not change (only its latest reading time moved) goes to
    # its changelog at most this often: one message per reading would double the broker load.
    monitor_flush_seconds: float = 10.0
    # Kinds that report only while in use: their silence matters only while they hold units.
    silent_only_when_holding: list[str] = Field(default_factory=lambda: ["transport_box"])


class LifecycleRules(BaseModel):
    lost_unit_after_expiry_days: int = 7
    lookback_window_days: int | None = None  # None: back to the last negative donation
    # A reactive infectious marker is confirmed (and opens a lookback) when reactive in this
    # round or later (repeat testing with other reagents and staff), or by NAT.
    lookback_confirm_round: int = 2
    # RhD-negative recipients get RhD-negative platelets (off where anti-D cover is policy).
    rhd_negative_platelets: bool = True
    lost_unit_check_seconds: float = 3600.0  # how often the lost-unit timer looks


class QualityRules(BaseModel):
    freshness_max_silence_hours: int = 48
    schedule_seconds: int = 3600
    # (assumed) a collection may miss its nominal bag volume (200/300/400 ml) by this fraction
    # before it counts as under-volume (or, above, as an implausible volume).
    volume_tolerance_fraction: float = 0.10
    apheresis_max_volume_ml: int = 650  # (assumed) plausible ceiling of one apheresis collection
    # (assumed) additive solution lets a donation's components add up to more than it collected.
    component_additive_allowance: float = 0.35
    # Alerts (rule LIKE any pattern) that confirm a cold-chain excursion, if raised.
    excursion_alert_rule_patterns: list[str] = Field(default_factory=lambda: ["%excursion%"])
    max_findings_per_check: int = 10000  # beyond this a check's findings are counted, not stored


class DbtRules(BaseModel):
    """The dbt marts (dbt/): how often the platform rebuilds them and their metric knobs."""

    schedule_seconds: int = 3600  # 0 turns the scheduled rebuild off
    threads: int = 2
    # Growth baseline year. None: supply_demand_yearly uses the first year with data, and the
    # county scorecard and the speech figures the year less baseline_years_back (the speech
    # compares 2024 with 2020).
    baseline_year: int | None = None
    baseline_years_back: int = Field(default=4, ge=1, le=50)
    local_timezone: str = "Asia/Shanghai"  # days and months are local calendar days


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
