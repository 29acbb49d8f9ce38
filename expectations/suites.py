"""The quality suites, as code: one per warehouse table, and five across tables.

Every allowed set and range comes from the event contracts (models/events.py) and the domain
rules in the settings (models/rules.py), so a changed threshold changes the suite. Severity:
``critical`` fails the run (exit code 4): a unit that may harm a patient or cannot be traced;
``warning`` is a broken or doubtful record; ``info`` is worth a look.
"""

from __future__ import annotations

from typing import Any

from expectations.checks import Check, Severity, Suite
from infra.settings import Settings
from models.events import (
    EVENT_TYPES,
    ComponentType,
    DiscardCause,
    DonationKind,
    DonorGroup,
    EquipmentKind,
    ReactionCategory,
    Sex,
    SiteKind,
    TestMethod,
)
from models.isbt128 import ABO_RH_GROUPS

DIN_PATTERN = r"^[A-NP-Z1-9][0-9]{12}$"  # facility (5) + year (2) + sequence (6), no check char
COMPONENT_CODE_PATTERN = r"^[EF][0-9]{4}[A-Z0-9][A-Z0-9]{2}$"  # ISBT 128 blood component code
PSEUDONYM_PATTERN = r"^ps_[0-9a-f]{32}$"
FACILITY_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,31}$"

_NOT_IN_SET = (
    "{table} record {event_id} has {column} “{value}”, which is not an allowed value.",
    "{table_zh}记录{event_id}的{column}为“{value}”，不是允许的取值。",
)
_OUT_OF_RANGE = (
    "{table} record {event_id} has {column} {value}, outside {low} to {high}.",
    "{table_zh}记录{event_id}的{column}为{value}，超出{low}～{high}的范围。",
)
_MALFORMED = (
    "{table} record {event_id} has a malformed {column} “{value}”.",
    "{table_zh}记录{event_id}的{column}“{value}”格式错误。",
)
_MISSING = (
    "{table} record {event_id} has no {column}.",
    "{table_zh}记录{event_id}缺少{column}。",
)
TABLE_ZH: dict[str, str] = {
    "events": "事件",
    "donor_registrations": "献血者登记",
    "donor_deferrals": "献血者暂缓",
    "donations": "采血",
    "test_results": "检测结果",
    "unit_releases": "放行",
    "unit_quarantines": "隔离",
    "components": "成分制备",
    "unit_storage": "入库",
    "temperature_readings": "温度记录",
    "shipments": "发运",
    "receipts": "接收",
    "crossmatches": "交叉配血",
    "unit_issues": "发血",
    "unit_returns": "退回",
    "transfusions": "输血",
    "transfusion_reactions": "输血反应",
    "discards": "报废",
    "recalls": "召回",
}


class _Builder:
    """Collects one suite's checks; helpers fill in the sentence for common expectations."""

    def __init__(self, suite: str, table: str) -> None:
        self.suite, self.table, self.checks = suite, table, []  # type: ignore[var-annotated]

    def add(
        self,
        what: str,
        severity: Severity,
        expectation: str,
        en: str,
        zh: str,
        *,
        table: str | None = None,
        **kwargs: Any,
    ) -> None:
        table = table or self.table
        fill = {"{table}": table, "{table_zh}": TABLE_ZH.get(table, table)}
        column = kwargs.get("column", "")
        fill["{column}"] = column
        fill["{value}"] = "{" + column + "}" if column else "?"
        fill["{low}"] = str(kwargs.get("min_value", "−∞"))
        fill["{high}"] = str(kwargs.get("max_value", "∞"))
        for key, val in fill.items():
            en, zh = en.replace(key, val), zh.replace(key, val)
        self.checks.append(
            Check(f"{self.suite}.{what}", self.suite, table, severity, expectation, kwargs, en, zh)
        )

    def in_set(self, column: str, values: Any, severity: Severity = "warning", **kw: Any) -> None:
        kw.update(column=column, value_set=sorted(str(v) for v in values))
        en, zh = _NOT_IN_SET
        self.add(f"{column}_allowed", severity, "ExpectColumnValuesToBeInSet", en, zh, **kw)

    def between(
        self, column: str, low: Any, high: Any, severity: Severity = "warning", **kw: Any
    ) -> None:
        what = kw.pop("what", f"{column}_in_range")
        kw["column"] = column
        kw.update({k: v for k, v in (("min_value", low), ("max_value", high)) if v is not None})
        en, zh = _OUT_OF_RANGE
        self.add(what, severity, "ExpectColumnValuesToBeBetween", en, zh, **kw)

    def regex(self, column: str, pattern: str, severity: Severity = "warning", **kw: Any) -> None:
        what = kw.pop("what", f"{column}_format")
        kw.update(column=column, regex=pattern)
        en, zh = _MALFORMED
        self.add(what, severity, "ExpectColumnValuesToMatchRegex", en, zh, **kw)

    def present(self, column: str, severity: Severity = "warning") -> None:
        """A required text field is not empty."""
        en, zh = _MISSING
        self.add(
            f"{column}_present",
            severity,
            "ExpectColumnValueLengthsToBeBetween",
            en,
            zh,
            column=column,
            min_value=1,
        )

    def din(self) -> None:
        self.regex("din", DIN_PATTERN)

    def build(self, about: str) -> Suite:
        return Suite(self.suite, self.table, about, tuple(self.checks))


def table_suites(settings: Settings) -> list[Suite]:
    """One suite per warehouse table: required fields and values in their sets and ranges."""
    screening, donor, quality = settings.screening, settings.donor, settings.quality
    markers = screening.serology_markers + screening.nat_markers
    suites: list[Suite] = []

    b = _Builder("events", "events")
    b.in_set("event_type", EVENT_TYPES)
    b.add(
        "event_id_unique",
        "warning",
        "ExpectColumnValuesToBeBetween",
        "Event {event_id} ({event_type}) is stored {copies} times: the same event id was used "
        "for more than one event.",
        "事件{event_id}（{event_type}）被存储了{copies}次：同一事件编号被重复使用。",
        column="copies",
        min_value=1,
        max_value=1,
    )
    b.add(
        "recorded_not_before_occurred",
        "warning",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "Event {event_id} ({event_type}) was recorded on {recorded_at}, before it occurred on "
        "{occurred_at}: a device clock is wrong.",
        "事件{event_id}（{event_type}）的记录时间{recorded_at}早于发生时间{occurred_at}：设备时钟有误。",
        column_A="recorded_at_with_skew",
        column_B="occurred_at",
        or_equal=True,
    )
    b.add(
        "din_check_character",
        "critical",
        "ExpectColumnPairValuesToBeEqual",
        "Event {event_id} carries DIN “{din_as_sent}” for unit {din}, which with its check "
        "character (ISO 7064 MOD 37-2) is “{din_expected}”: the label and the record may be "
        "different units.",
        "事件{event_id}中的献血条码“{din_as_sent}”与其记录的血液{din}不符（按ISO 7064 MOD 37-2"
        "应为“{din_expected}”）：标签与记录可能不是同一袋血。",
        column_A="din_as_sent",
        column_B="din_expected",
        ignore_row_if="either_value_is_missing",
    )
    suites.append(b.build("Every accepted event: type, unique id, clock, DIN check character."))

    b = _Builder("donor_registrations", "donor_registrations")
    b.regex("donor_id", PSEUDONYM_PATTERN, "critical", what="donor_pseudonymised")
    b.in_set("sex", [s.value for s in Sex])
    b.in_set("abo_rh", ABO_RH_GROUPS)
    b.in_set("donor_group", [g.value for g in DonorGroup])
    b.present("county_code")
    suites.append(b.build("Donor registrations: pseudonym, sex, blood group, donor group, county."))

    b = _Builder("donor_deferrals", "donor_deferrals")
    b.regex("donor_id", PSEUDONYM_PATTERN, "critical", what="donor_pseudonymised")
    b.present("reason")
    suites.append(b.build("Donor deferrals: pseudonym and reason."))

    whole_max = max(donor.whole_blood_volumes_ml) * (1 + quality.volume_tolerance_fraction)
    b = _Builder("donations", "donations")
    b.din()
    b.add(
        "one_donation_per_din",
        "critical",
        "ExpectColumnValuesToBeBetween",
        "DIN {din} is used by {din_copies} donations: one of them cannot be traced.",
        "献血条码{din}被{din_copies}次采血使用：其中至少一袋血无法追溯。",
        column="din_copies",
        min_value=1,
        max_value=1,
    )
    b.in_set("donation_kind", [k.value for k in DonationKind])
    b.between(
        "volume_ml",
        1,
        round(whole_max),
        what="whole_blood_volume_in_range",
        row_condition=("donation_kind", "==", "whole_blood"),
    )
    b.between(
        "volume_ml",
        1,
        quality.apheresis_max_volume_ml,
        what="apheresis_volume_in_range",
        row_condition=("donation_kind", "!=", "whole_blood"),
    )
    b.in_set("abo_rh", ABO_RH_GROUPS, "critical")
    b.in_set("donor_group", [g.value for g in DonorGroup])
    b.in_set("site_kind", [k.value for k in SiteKind])
    b.in_set("donor_sex", [s.value for s in Sex])
    b.between("donor_age", donor.min_age_years, donor.max_age_repeat_donor_years)
    b.add(
        "first_time_donor_age",
        "warning",
        "ExpectColumnValuesToBeBetween",
        "Donation {din} is a first-time donor aged {donor_age}, over the first-donation limit "
        f"of {donor.max_age_years}.",
        f"采血{{din}}的献血者为首次献血，年龄{{donor_age}}岁，超过首次献血上限{donor.max_age_years}岁。",
        column="donor_age",
        max_value=donor.max_age_years,
        row_condition=("first_time", "==", True),
    )
    b.between("therapeutic_units", 0, 3)
    b.regex("donor_id", PSEUDONYM_PATTERN, "critical", what="donor_pseudonymised")
    b.present("site_id")
    suites.append(b.build("Donations: DIN format and uniqueness, volumes, groups, donor ages."))

    b = _Builder("test_results", "test_results")
    b.din()
    b.in_set("marker", markers)
    b.in_set("method", [m.value for m in TestMethod])
    b.between("round", 1, screening.rounds_required + 1)  # one confirmatory retest allowed
    b.between(
        "value",
        0,
        None,
        what="alt_value_not_negative",
        row_condition=("marker", "==", "ALT"),
    )
    suites.append(b.build("Screening results: markers, methods and rounds in the screening rules."))

    b = _Builder("unit_releases", "unit_releases")
    b.din()
    suites.append(b.build("Releases: DIN format."))

    b = _Builder("unit_quarantines", "unit_quarantines")
    b.din()
    b.present("reason")
    suites.append(b.build("Quarantines: DIN format and a reason."))

    b = _Builder("components", "components")
    b.din()
    b.regex("product_code", COMPONENT_CODE_PATTERN, what="product_code_is_blood_component")
    b.in_set("component_type", [t.value for t in ComponentType])
    b.between("volume_ml", 1, 1000)
    b.add(
        "expiry_readable",
        "warning",
        "ExpectColumnValuesToNotBeNull",
        "Component {din} {product_code} has an unreadable expiry “{expires_at_text}”.",
        "成分{din} {product_code}的有效期“{expires_at_text}”无法识别。",
        column="expires_at",
    )
    b.add(
        "expires_after_production",
        "warning",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "Component {din} {product_code} expires on {expires_at}, before it was produced on "
        "{occurred_at}.",
        "成分{din} {product_code}的有效期{expires_at}早于制备时间{occurred_at}。",
        column_A="expires_at",
        column_B="occurred_at",
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )
    b.add(
        "expiry_within_shelf_life",
        "critical",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "Component {din} {product_code} ({component_type}) expires on {expires_at}, later than "
        "its shelf life allows ({latest_expiry}): it could be transfused after it has spoilt.",
        "成分{din} {product_code}（{component_type_zh}）的有效期{expires_at}超过保存期允许的"
        "{latest_expiry}：可能在失效后被输注。",
        column_A="latest_expiry",
        column_B="expires_at",
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )
    b.add(
        "group_matches_donation",
        "critical",
        "ExpectColumnPairValuesToBeEqual",
        "Component {din} {product_code} is labelled {abo_rh} but its donation was {parent_abo_rh}.",
        "成分{din} {product_code}标注血型{abo_rh}，但其采血记录血型为{parent_abo_rh}。",
        column_A="abo_rh",
        column_B="parent_abo_rh",
        ignore_row_if="either_value_is_missing",
    )
    b.add(
        "has_donation",
        "warning",
        "ExpectColumnValuesToNotBeNull",
        "Component {din} {product_code} was produced on {occurred_at} from a donation that has "
        "no collection record.",
        "成分{din} {product_code}于{occurred_at}制备，但找不到对应的采血记录。",
        column="collected_at",
    )
    suites.append(b.build("Components: codes, types, expiry within shelf life, group as donated."))

    b = _Builder("unit_storage", "unit_storage")
    b.din()
    b.present("equipment_id")
    b.present("location_id")
    suites.append(b.build("Storage: DIN format, equipment and location."))

    b = _Builder("temperature_readings", "temperature_readings")
    b.present("equipment_id")
    b.in_set("equipment_kind", [k.value for k in EquipmentKind])
    b.between("temperature_c", -90, 80)
    b.between("interval_seconds", 1, 86400)
    suites.append(b.build("Temperature readings: equipment, plausible temperatures, intervals."))

    b = _Builder("shipments", "shipments")
    b.din()
    b.regex("to_facility_id", FACILITY_PATTERN)
    suites.append(b.build("Shipments: DIN and destination."))

    b = _Builder("receipts", "receipts")
    b.din()
    b.regex("from_facility_id", FACILITY_PATTERN)
    b.between("temperature_c", -90, 80)
    suites.append(b.build("Receipts: DIN, origin and temperature on arrival."))

    b = _Builder("crossmatches", "crossmatches")
    b.din()
    b.regex("recipient_id", PSEUDONYM_PATTERN, "critical", what="recipient_pseudonymised")
    b.in_set("recipient_abo_rh", ABO_RH_GROUPS)
    suites.append(b.build("Crossmatches: DIN, recipient pseudonym and group."))

    b = _Builder("unit_issues", "unit_issues")
    b.din()
    b.present("ward")
    suites.append(b.build("Issues: DIN and ward."))

    b = _Builder("unit_returns", "unit_returns")
    b.din()
    b.between("minutes_out_of_refrigeration", 0, 100000)
    suites.append(b.build("Returns: DIN and time out of refrigeration."))

    b = _Builder("transfusions", "transfusions")
    b.din()
    b.regex("recipient_id", PSEUDONYM_PATTERN, "critical", what="recipient_pseudonymised")
    b.in_set("recipient_abo_rh", ABO_RH_GROUPS)
    b.present("ward")
    suites.append(b.build("Transfusions: DIN, recipient pseudonym and group, ward."))

    b = _Builder("transfusion_reactions", "transfusion_reactions")
    b.din()
    b.in_set("category", [c.value for c in ReactionCategory])
    b.in_set("severity", ["non_severe", "severe", "life_threatening", "death"])
    suites.append(b.build("Transfusion reactions: DIN, category and severity."))

    b = _Builder("discards", "discards")
    b.din()
    b.in_set("cause", [c.value for c in DiscardCause])
    b.between("volume_ml", 0, 1000)
    suites.append(b.build("Discards: DIN, cause and volume."))

    b = _Builder("recalls", "recalls")
    b.present("recall_id")
    b.between("n_dins", 1, None, what="names_units")
    b.present("reason")
    suites.append(b.build("Recalls: id, units named and reason."))
    return suites


def cross_table_suites(settings: Settings) -> list[Suite]:
    """Checks that need more than one table, each over a per-row frame built in SQL."""
    rounds = settings.screening.rounds_required
    suites: list[Suite] = []

    b = _Builder("release_screening", "unit_releases")
    b.add(
        "full_negative_screening",
        "critical",
        "ExpectColumnValuesToBeBetween",
        "Unit {din} was released on {released_at} without a negative result for {missing_text}.",
        "血液{din}于{released_at}放行，但缺少{missing_text_zh}的阴性检测结果。",
        column="missing_count",
        min_value=0,
        max_value=0,
    )
    b.add(
        "no_reactive_result",
        "critical",
        "ExpectColumnValuesToBeBetween",
        "Unit {din} was released on {released_at} although it tested reactive for {reactive_text}.",
        "血液{din}于{released_at}放行，但其{reactive_text}检测呈反应性。",
        column="reactive_count",
        min_value=0,
        max_value=0,
    )
    suites.append(
        b.build(
            f"Every released unit has a negative result for every serology marker in each of "
            f"{rounds} rounds and for every NAT marker, and no reactive one."
        )
    )

    b = _Builder("units", "events")

    def after(what: str, later: str, earlier: str, severity: Severity, en: str, zh: str) -> None:
        b.add(
            what,
            severity,
            "ExpectColumnPairValuesAToBeGreaterThanB",
            en,
            zh,
            column_A=later,
            column_B=earlier,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        )

    after(
        "tested_after_collected",
        "first_tested_at",
        "collected_at",
        "warning",
        "Unit {din} has a test result on {first_tested_at}, before it was collected on "
        "{collected_at}.",
        "血液{din}的检测时间{first_tested_at}早于采血时间{collected_at}。",
    )
    after(
        "produced_after_collected",
        "first_produced_at",
        "collected_at",
        "warning",
        "Unit {din} has a component produced on {first_produced_at}, before it was collected on "
        "{collected_at}.",
        "血液{din}的成分制备时间{first_produced_at}早于采血时间{collected_at}。",
    )
    after(
        "released_after_tested",
        "released_at",
        "last_tested_at",
        "warning",
        "Unit {din} was released on {released_at}, before its last test result on "
        "{last_tested_at}.",
        "血液{din}于{released_at}放行，早于其最后一次检测{last_tested_at}。",
    )
    after(
        "issued_after_released",
        "first_issued_at",
        "released_at",
        "critical",
        "Unit {din} was issued on {first_issued_at}, before it was released on {released_at}.",
        "血液{din}于{first_issued_at}发出，早于其放行时间{released_at}。",
    )
    after(
        "transfused_after_issued",
        "first_transfused_at",
        "first_issued_at",
        "warning",
        "Unit {din} was transfused on {first_transfused_at}, before it was issued on "
        "{first_issued_at}.",
        "血液{din}的输注时间{first_transfused_at}早于发血时间{first_issued_at}。",
    )
    b.add(
        "released_before_issue",
        "critical",
        "ExpectColumnValuesToNotBeNull",
        "Unit {din} was issued on {first_issued_at} but was never released.",
        "血液{din}于{first_issued_at}发出，但从未放行。",
        column="released_at",
        row_condition=("issued", "==", True),
    )
    b.add(
        "issued_before_transfusion",
        "warning",
        "ExpectColumnValuesToNotBeNull",
        "Unit {din} was transfused on {first_transfused_at} but no issue was recorded.",
        "血液{din}于{first_transfused_at}输注，但没有发血记录。",
        column="first_issued_at",
        row_condition=("transfused", "==", True),
    )
    b.add(
        "has_donation",
        "warning",
        "ExpectColumnValuesToNotBeNull",
        "Unit {din} has {events} events (first on {first_event_at} at {first_facility}) but no "
        "donation record.",
        "血液{din}有{events}条事件记录（最早{first_event_at}，{first_facility}），但没有采血记录。",
        column="collected_at",
    )
    b.add(
        "components_within_donation",
        "warning",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "Unit {din}'s components add up to {components_volume_ml} ml, more than its "
        "{donation_volume_ml} ml donation allows ({volume_limit_ml} ml with additive).",
        "血液{din}各成分合计{components_volume_ml} ml，超过其{donation_volume_ml} ml采血量"
        "所允许的{volume_limit_ml} ml（含保存液）。",
        column_A="volume_limit_ml",
        column_B="components_volume_ml",
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )
    suites.append(
        b.build(
            "Every unit touched in the window: collected < tested < released < issued < "
            "transfused, and components within the donation's volume."
        )
    )

    b = _Builder("disposition", "components")
    b.add(
        "final_disposition",
        "warning",
        "ExpectColumnValuesToNotBeNull",
        "Unit {din} {product_code} ({component_type}) expired on {expires_at} and has neither a "
        "transfusion nor a discard; it was last seen at {last_facility} on {last_seen_at}.",
        "血液{din} {product_code}（{component_type_zh}）已于{expires_at}过期，"
        "既无输注也无报废记录；最后出现在{last_facility}（{last_seen_at}）。",
        column="disposition",
    )
    suites.append(
        b.build(
            f"Every component reaches a final disposition (transfused or discarded) within "
            f"{settings.lifecycle.lost_unit_after_expiry_days} days of its expiry."
        )
    )

    b = _Builder("wastage", "discards")
    b.add(
        "cause_matches_evidence",
        "warning",
        "ExpectColumnPairValuesToBeEqual",
        "Unit {unit} was discarded on {discarded_at} as “{recorded_en}”, but the "
        "evidence points to {derived_en}: {evidence_en}.",
        "血液{unit}于{discarded_at}以“{recorded_zh}”报废，但证据表明原因是"
        "{derived_zh}：{evidence_zh}。",
        column_A="recorded_cause",
        column_B="derived_cause",
        ignore_row_if="either_value_is_missing",
    )
    b.add(
        "cause_has_evidence",
        "warning",
        "ExpectColumnValuesToNotBeNull",
        "Unit {unit} was discarded on {discarded_at} as “{recorded_en}”, but "
        "nothing in the records supports that cause.",
        "血液{unit}于{discarded_at}以“{recorded_zh}”报废，但记录中没有任何证据支持该原因。",
        column="derived_cause",
        row_condition=("recorded_cause", "!=", "other"),
    )
    b.add(
        "other_cause_explained",
        "info",
        "ExpectColumnValuesToNotBeNull",
        "Unit {unit} was discarded on {discarded_at} for “other” reasons and "
        "nothing in the records explains why.",
        "血液{unit}于{discarded_at}以“其他”原因报废，记录中找不到具体原因。",
        column="derived_cause",
        row_condition=("recorded_cause", "==", "other"),
    )
    suites.append(
        b.build(
            "Every discard's recorded cause agrees with the evidence: reactive tests, recalls, "
            "cold-chain excursions, returns, under-volume, expiry, inspections."
        )
    )

    b = _Builder("freshness", "events")
    hours = settings.quality.freshness_max_silence_hours
    b.add(
        "facility_reporting",
        "warning",
        "ExpectColumnValuesToBeBetween",
        "Facility {facility_id} has sent nothing since {last_event_at}, {silent_hours} hours "
        f"before {{as_of}} (limit {hours} h).",
        f"机构{{facility_id}}自{{last_event_at}}起未上报任何事件，已静默{{silent_hours}}小时"
        f"（上限{hours}小时）。",
        column="silent_hours",
        max_value=hours,
    )
    suites.append(b.build(f"Every station and hospital has sent an event within {hours} hours."))
    return suites


def all_suites(settings: Settings) -> list[Suite]:
    return table_suites(settings) + cross_table_suites(settings)
