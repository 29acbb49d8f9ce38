"""The quarterly meeting's workbook: the period's figures and tables as .xlsx, sheets in Chinese.

Built from the same query service as the page (api.dashboard.queries), so the workbook, the
page and the API show the same numbers. Used by GET /v1/dashboard/export.xlsx and
`bloodtrace report`.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from api.dashboard.queries import MartQueries, Period
from api.dashboard.speech import speech_sentences

# Sheet titles (Excel allows 31 characters; these are the names the meeting papers use).
SHEETS = (
    "讲话数据",
    "核心指标",
    "采供对比",
    "库存天数",
    "报废分析",
    "献血者结构",
    "县区考核",
    "活动与表彰",
    "告警",
)


def _table(sheet: Worksheet, header: list[str], rows: list[list[Any]]) -> None:
    sheet.append(header)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for column in sheet.columns:
        width = max(len(str(c.value or "")) for c in column)
        sheet.column_dimensions[column[0].column_letter].width = min(60, max(10, width * 1.6))


def build_workbook(
    q: MartQueries, period: Period, county: str | None, baseline: int | None
) -> bytes:
    """The workbook for the period (and county), as .xlsx bytes."""
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    county_name = next(
        (c["county_name"] for c in q.counties() if c["county_code"] == county), "全市"
    )
    scope = f"{period} · {county_name}" + (f" · 基准年 {baseline}" if baseline else "")

    speech = q.speech(period.year, baseline)
    sheet = book.create_sheet(SHEETS[0])
    sheet.append([f"讲话数据({scope})"])
    sheet.append([])
    _table(
        sheet, ["序号", "讲话用语"], [[i + 1, s] for i, s in enumerate(speech_sentences(speech))]
    )

    head = q.headline(period, county, baseline)
    _table(
        book.create_sheet(SHEETS[1]),
        ["指标", "数值"],
        [
            ["统计期", head["period"]],
            ["范围", county_name],
            ["献血人次", head["donations"]],
            ["采集量(单位)", head["units_collected"]],
            ["临床用血量(单位)", head["clinical_use_units"]],
            ["基准年", head["baseline_year"]],
            ["献血人次较基准年增长(%)", head["donations_growth_pct"]],
            ["采集量较基准年增长(%)", head["collection_growth_pct"]],
            ["临床用血较基准年增长(%)", head["clinical_use_growth_pct"]],
            ["报废量(单位)", head["discarded_units"]],
            ["报废率(%)", head["wastage_rate_pct"]],
            ["红细胞库存天数", head["red_cell_days_of_supply"]],
            ["红细胞预警等级", head["red_cell_warning_level"]],
            ["近期告警:严重", head["open_alerts"]["critical"]],
            ["近期告警:警告", head["open_alerts"]["warning"]],
            ["近期告警:提示", head["open_alerts"]["info"]],
        ],
    )

    supply = q.supply_demand(county)
    _table(
        book.create_sheet(SHEETS[2]),
        ["月份", "采集量(单位)", "临床用血量(单位)", "缺口(单位)"],
        [
            [m["month"], m["collected_units"], m["clinical_use_units"], m["gap_units"]]
            for m in supply["monthly"]
        ],
    )

    inventory = q.inventory(period)
    _table(
        book.create_sheet(SHEETS[3]),
        ["日期", "血型", "成分", "可用库存(单位)", "日均发血(单位)", "库存天数", "预警等级"],
        [
            [
                r["stock_date"],
                r["abo_rh"],
                r["component_type"],
                r["available_units"],
                r["mean_daily_issue"],
                r["days_of_supply"],
                r["warning_level_zh"],
            ]
            for r in inventory["now"]
        ],
    )

    wastage = q.wastage(period, county)
    sheet = book.create_sheet(SHEETS[4])
    _table(
        sheet,
        ["报废原因", "报废量(单位)", "累计占比(%)"],
        [
            [r["label_zh"] or r["cause"], r["units"], r["cumulative_pct"]]
            for r in wastage["by_cause"]
        ],
    )
    sheet.append([])
    sheet.append(["成分", "报废量(单位)"])
    for r in wastage["by_component"]:
        sheet.append([r["label_zh"] or r["component_type"], r["units"]])
    sheet.append([])
    sheet.append(["机构", "报废量(单位)"])
    for r in wastage["by_facility"]:
        sheet.append([r["facility_name"] or r["facility_id"], r["units"]])

    donors = q.donors(period, county)
    labels = {g["donor_group"]: g["label_zh"] for g in donors["group_labels"]}
    _table(
        book.create_sheet(SHEETS[5]),
        ["月份", "献血者类别", "献血人次"],
        [
            [r["month"][:7], labels.get(r["key"], r["key"]), r["donations"]]
            for r in donors["by_group"]
        ],
    )

    card = q.scorecard(period.year)
    _table(
        book.create_sheet(SHEETS[6]),
        [
            "综合排名",
            "县区",
            "常住人口",
            "献血人次",
            "千人口献血率",
            "增长(%)",
            "重复献血占比(%)",
            "适龄人群献血率(%)",
            "报废率(%)",
            "低于警戒线天数占比(%)",
            "献血点",
            "万人口献血点",
        ],
        [
            [
                r["overall_rank"],
                r["county_name"],
                r["population"],
                r["donations"],
                r["donations_per_1000"],
                r["growth_pct"],
                r["repeat_donor_share_pct"],
                r["penetration_pct"],
                r["wastage_rate_pct"],
                r["days_below_line_pct"],
                r["sites"],
                r["sites_per_10k_residents"],
            ]
            for r in card["counties"]
        ],
    )

    campaigns = q.campaigns(period.year, county)
    sheet = book.create_sheet(SHEETS[7])
    _table(
        sheet,
        ["活动", "日期", "献血人次", "上年同期", "增幅(%)"],
        [
            [
                r["campaign_name"],
                r["campaign_on"],
                r["donations"],
                r["previous_year_donations"],
                r["uplift_pct"],
            ]
            for r in campaigns["campaigns"]
        ],
    )
    sheet.append([])
    sheet.append(["奉献奖等级", "人数"])
    for r in campaigns["honours"]:
        sheet.append([r["honour_level_zh"], r["donors"]])

    alerts = q.alerts(limit=1000)
    _table(
        book.create_sheet(SHEETS[8]),
        ["发生时间(UTC)", "级别", "规则", "内容", "献血码(DIN)", "机构"],
        [
            [
                a["occurred_at"],
                a["severity"],
                a["rule"],
                a["message_zh"],
                a["din"],
                a["facility_id"],
            ]
            for a in alerts["items"]
        ],
    )

    out = BytesIO()
    book.save(out)
    return out.getvalue()
