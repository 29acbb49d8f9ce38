"""The demo's summary: the business figures a person reads first, from the headline mart and
the quality job's result."""

from __future__ import annotations

from cli.demo import _business_lines


def test_business_lines_name_units_growth_alerts_and_findings() -> None:
    headline = {
        "period": "2025",
        "baseline_year": 2021,
        "donations": 1410,
        "units_collected": 2431.5,
        "clinical_use_units": 2275.8,
        "discarded_units": 293.4,
        "wastage_rate_pct": 3.94,
        "donations_growth_pct": 20.0,
        "collection_growth_pct": 19.6,
        "clinical_use_growth_pct": 43.5,
        "red_cell_days_of_supply": 4.65,
        "red_cell_warning_level": "short",
        "red_cell_stock_date": "2025-12-31",
        "open_alerts": {"critical": 5, "warning": 0, "info": 1},
    }
    quality = {"result": {"findings_by_severity": {"critical": 2, "warning": 3, "info": 0}}}
    lines = dict(_business_lines(headline, quality))
    assert list(lines)[:3] == ["donations", "units collected", "clinical use"]
    assert lines["donations"].startswith("1,410") and "vs 2021 +20.0 %" in lines["donations"]
    assert "2,431.5 units (1 unit = 200 ml" in lines["units collected"]
    assert "units transfused" in lines["clinical use"] and "+43.5 %" in lines["clinical use"]
    assert "293.4 units discarded = 3.94 %" in lines["wastage"]
    assert lines["red-cell days of supply"].startswith("4.65 days (short)")
    assert lines["open alerts"] == "critical 5, warning 0, info 1"
    assert lines["quality findings"].startswith("5 (critical 2, warning 3)")


def test_missing_baseline_and_quality_are_dashes_not_errors() -> None:
    lines = dict(_business_lines({"donations": 3, "open_alerts": {}}, {}))
    assert lines["donations"] == "3   growth —"
    assert lines["open alerts"] == "none" and lines["quality findings"].startswith("—")
