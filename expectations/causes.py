"""Why a unit was lost: turn the warehouse's evidence about a discarded unit into its cause.

Evidence is anything that made the unit unusable, each with the moment it did so: a reactive
screening test, a recall, a confirmed cold-chain excursion, a return after too long out of
refrigeration, an under-volume collection, expiry, or an inspection (lipemia, hemolysis, bag
leak, clot, QC failure) recorded in a quarantine reason or a discard note. Only evidence at or
before the discard counts, and the *earliest* is the cause: a unit that sat through an excursion
and later expired was lost to the cold chain, not to expiry.

Inspection causes cannot be derived from other data, so a discard recorded as one of them is its
own evidence (the inspector's record), unless something else made the unit unusable first.
Pure functions only: unit-tested without a warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from models.events import DiscardCause

# Causes a person sees on the unit; the discard record (or a quarantine) is the evidence.
OBSERVED: frozenset[str] = frozenset({"lipemia", "hemolysis", "bag_leak", "clot", "qc_failure"})
# Tie-break when two pieces of evidence date from the same moment: the graver first.
PRIORITY: tuple[str, ...] = (
    "test_reactive",
    "recall",
    "cold_chain_breach",
    "returned_out_of_control",
    "under_volume",
    "expired",
    "lipemia",
    "hemolysis",
    "bag_leak",
    "clot",
    "qc_failure",
    "other",
)
CAUSE_NAMES: dict[str, tuple[str, str]] = {
    "test_reactive": ("reactive test", "检测不合格"),
    "lipemia": ("lipemia", "脂血"),
    "hemolysis": ("hemolysis", "溶血"),
    "bag_leak": ("bag leak", "血袋渗漏破损"),
    "clot": ("clot", "凝块"),
    "under_volume": ("under-volume", "采血量不足"),
    "expired": ("expired", "过期"),
    "cold_chain_breach": ("cold-chain breach", "冷链失控"),
    "returned_out_of_control": ("returned out of control", "退回时离开冷藏超时"),
    "qc_failure": ("QC failure", "质控不合格"),
    "recall": ("recall", "召回"),
    "other": ("other", "其他"),
}
assert set(CAUSE_NAMES) == {c.value for c in DiscardCause} == set(PRIORITY)

# Words a quarantine reason or a discard note uses for an inspection finding (English, Chinese).
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lipemia", ("lipem", "lipaem", "脂血", "乳糜")),
    ("hemolysis", ("hemoly", "haemoly", "溶血")),
    ("bag_leak", ("leak", "bag damage", "damaged bag", "渗漏", "破袋", "破损", "漏袋")),
    ("clot", ("clot", "凝块", "凝集块")),
    ("under_volume", ("under-volume", "under volume", "undervolume", "low volume", "量不足")),
    ("qc_failure", ("qc fail", "quality control", "质控")),
)

Lang = Literal["en", "zh"]
_BREACHES = {
    "too_warm": ("too warm", "温度过高"),
    "too_cold": ("too cold", "温度过低"),
    "not_agitated": ("agitation stopped", "振荡停止"),
}


def cause_name(cause: str | None, lang: Lang = "en") -> str:
    if not cause:
        return "—"
    en, zh = CAUSE_NAMES.get(cause, (cause, cause))
    return zh if lang == "zh" else en


def cause_from_text(text: str) -> str | None:
    """The inspection cause a free-text reason or note names, if any."""
    lowered = text.lower()
    for cause, words in _KEYWORDS:
        if any(word in lowered for word in words):
            return cause
    return None


def nominal_volume(volume_ml: float, nominal_volumes: Sequence[int]) -> int:
    """The bag size (200/300/400 ml) a whole-blood collection was meant to fill: the nearest,
    the larger on a tie (a 250 ml collection fell short of 300, it did not overfill 200)."""
    return min(sorted(nominal_volumes), key=lambda n: (abs(n - volume_ml), -n))


def is_under_volume(volume_ml: float, nominal_volumes: Sequence[int], tolerance: float) -> bool:
    """True when a whole-blood collection fell short of its bag by more than ``tolerance``."""
    nominal = nominal_volume(volume_ml, nominal_volumes)
    return volume_ml < nominal * (1 - tolerance)


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "?"


@dataclass(frozen=True)
class Evidence:
    """One reason the unit became unusable, and since when."""

    cause: str
    since: datetime
    source: str  # the warehouse table it came from
    detail: dict[str, Any] = field(default_factory=dict)

    def describe(self, lang: Lang = "en") -> str:
        d, at = self.detail, _at(self.since)
        zh = lang == "zh"
        if self.cause == "test_reactive":
            markers = ", ".join(d.get("markers", []))
            return f"{at} {markers} 检测呈反应性" if zh else f"reactive {markers} on {at}"
        if self.cause == "recall":
            rid = d.get("recall_id", "")
            return f"{at} 被召回（{rid}）" if zh else f"recalled by {rid} on {at}"
        if self.cause == "cold_chain_breach":
            if "alert_id" in d:
                msg = d.get("message_zh" if zh else "message_en") or d.get("rule", "")
                return f"{at} 冷链告警：{msg}" if zh else f"cold-chain alert on {at}: {msg}"
            minutes = float(d.get("minutes", 0))
            eq, lo, hi = (
                d.get("equipment_id", "?"),
                d.get("min_temperature_c"),
                d.get("max_temperature_c"),
            )
            start = _at(d.get("started_at"))
            what = [_BREACHES[b][1 if zh else 0] for b in d.get("breaches", []) if b in _BREACHES]
            if zh:
                why = "、".join(what) + "；" if what else ""
                return (
                    f"{start} 起在 {eq} 中超出 {d.get('range_zh') or d.get('range', '')} 达 "
                    f"{minutes:.0f} 分钟（{why}读数 {lo}～{hi} °C）"
                )
            why = ", ".join(what) + "; " if what else ""
            return (
                f"{minutes:.0f} min outside {d.get('range', '')} in {eq} from {start} "
                f"({why}readings {lo} to {hi} °C)"
            )
        if self.cause == "returned_out_of_control":
            minutes, limit = float(d.get("minutes", 0)), float(d.get("limit", 0))
            if zh:
                return f"{at} 退回，离开冷藏 {minutes:.0f} 分钟（上限 {limit:.0f} 分钟）"
            return (
                f"returned on {at} after {minutes:.0f} min out of refrigeration (limit {limit:.0f})"
            )
        if self.cause == "expired":
            return f"已于 {at} 过期" if zh else f"expired on {at}"
        if self.cause == "under_volume" and "volume_ml" in d:
            v, n = d["volume_ml"], d.get("nominal_ml")
            return (
                f"采集量 {v} ml，低于 {n} ml 规格" if zh else f"collected {v} ml for a {n} ml bag"
            )
        text = d.get("text", "")
        name = cause_name(self.cause, lang)
        where = {
            "unit_quarantines": ("quarantine", "隔离记录"),
            "discards": ("discard", "报废记录"),
        }
        en_src, zh_src = where.get(self.source, (self.source, self.source))
        if zh:
            return f"{at} {zh_src}记载{name}" + (f"（{text}）" if text else "")
        return f"{name} recorded in the {en_src} on {at}" + (f" ({text})" if text else "")

    def to_json(self) -> dict[str, Any]:
        detail = {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.detail.items()
        }
        return {
            "cause": self.cause,
            "since": self.since.isoformat(),
            "source": self.source,
            "detail": detail,
        }


Status = Literal["agrees", "mismatch", "unsupported", "unexplained"]


@dataclass(frozen=True)
class Verdict:
    recorded: str
    derived: str | None  # None: nothing in the warehouse explains the discard
    evidence: tuple[Evidence, ...]  # what counted, earliest first

    @property
    def status(self) -> Status:
        if self.derived is None:
            return "unexplained" if self.recorded == "other" else "unsupported"
        return "agrees" if self.derived == self.recorded else "mismatch"

    @property
    def cause(self) -> str:
        """The cause wastage statistics should count: the evidence's, else what was recorded."""
        return self.derived or self.recorded

    def describe(self, lang: Lang = "en") -> str:
        if not self.evidence:
            return "无任何证据" if lang == "zh" else "no evidence"
        sep = "；" if lang == "zh" else "; "
        return sep.join(e.describe(lang) for e in self.evidence)


def derive_cause(recorded: str, discarded_at: datetime, evidence: Iterable[Evidence]) -> Verdict:
    """The cause of a discard: the earliest evidence at or before it (graver first on a tie,
    the recorded cause first among equals). An inspection cause recorded at the discard is its
    own evidence, dated at the discard."""
    counted = [e for e in evidence if e.since <= discarded_at]
    if recorded in OBSERVED and not any(e.cause == recorded for e in counted):
        counted.append(Evidence(recorded, discarded_at, "discards"))
    if not counted:
        return Verdict(recorded, None, ())

    def order(e: Evidence) -> tuple[datetime, int, int]:
        return (e.since, 0 if e.cause == recorded else 1, PRIORITY.index(e.cause))

    counted.sort(key=order)
    return Verdict(recorded, counted[0].cause, tuple(counted))
