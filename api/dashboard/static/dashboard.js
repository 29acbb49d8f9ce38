/* The leadership dashboard: plain JavaScript over the platform's JSON API, charts by ECharts.
 *
 * Every panel is drawn from one endpoint of /v1/marts, /v1/alerts or /v1/findings. When all
 * panels have drawn, <body data-ready="1"> and window.dashboardRender holds the timings (the
 * browser tests and `make bench` wait on it). Chinese by default; ?lang=en or the switch for
 * English; ?wall=1 or the button for the wall display (full screen, large type, auto-refresh).
 */
(function () {
  "use strict";

  var I18N = {
    zh: {
      title: "无偿献血与血液保障数据看板", period: "统计期", baseline: "基准年", county: "县区",
      export: "导出Excel", wall: "大屏模式", wall_off: "退出大屏", city: "全市", none: "无",
      signout: "退出登录",
      p_headline: "核心指标", p_speech: "讲话数据", p_supply: "采集与临床用血",
      p_inventory: "库存天数(血型 × 成分)", p_wastage: "血液报废", p_donors: "献血者结构",
      p_counties: "县区考核", p_alerts: "实时告警", p_findings: "质控发现",
      p_campaigns: "主题活动与表彰",
      k_donations: "献血人次", k_units: "采集量(单位)", k_use: "临床用血(单位)",
      k_growth_collect: "采集量增长", k_growth_use: "临床用血增长", k_wastage: "报废率",
      k_dos: "红细胞库存天数", k_alerts: "近7日告警", vs: "较", year_suffix: "年",
      collected: "采集量", clinical: "临床用血", gap: "缺口(用血−采集)", units: "单位",
      days: "天", level_normal: "正常", level_tight: "偏紧", level_short: "紧张",
      level_critical: "告急", warning_line: "警戒线", cumulative: "累计占比",
      by_cause: "按原因(帕累托)", by_component: "按成分", by_facility: "按机构",
      first_time: "初次献血", repeat: "重复献血", share: "占比", penetration: "适龄人群献血率(累计)", pen_short: "献血率",
      rank: "排名", county_name: "县区", per1000: "千人口献血", per10k: "万人口献血点",
      growth: "增长", repeat_share: "重复献血占比", wastage_rate: "报废率", days_below: "低于警戒线天数占比",
      sites: "献血点", hospitals: "医院", donations: "献血人次", transfused: "输注(单位)",
      time: "时间", severity: "级别", rule: "规则", message: "内容", unit: "血液", trace: "追溯",
      critical: "严重", warning: "警告", info: "提示", prev: "上一页", next: "下一页",
      campaign: "活动", previous_year: "上年同期", uplift: "增幅", honours: "无偿献血奉献奖",
      check: "检查项", loading: "加载中…", updated: "更新于", no_data: "暂无数据",
      city_scope: "全市口径(该数据无县区维度)", drill_title: "献血点与医院", kind: "类型",
      trace_title: "血液追溯", step: "环节", facility: "机构", detail: "说明", close: "关闭",
      red_cells_history: "红细胞库存天数走势", donor_groups: "献血者类别"
    },
    en: {
      title: "Blood donation and supply dashboard", period: "Period", baseline: "Baseline",
      county: "County", export: "Export Excel", wall: "Wall display", wall_off: "Exit wall",
      signout: "Sign out",
      city: "Whole city", none: "none",
      p_headline: "Headline figures", p_speech: "Speech figures", p_supply: "Collection and clinical use",
      p_inventory: "Days of supply (ABO/RhD × component)", p_wastage: "Wastage",
      p_donors: "Donor structure", p_counties: "County scorecard", p_alerts: "Live alerts",
      p_findings: "Quality findings", p_campaigns: "Campaigns and honours",
      k_donations: "Donations", k_units: "Units collected", k_use: "Clinical use (units)",
      k_growth_collect: "Collection growth", k_growth_use: "Clinical use growth",
      k_wastage: "Wastage rate", k_dos: "Red-cell days of supply", k_alerts: "Alerts, last 7 days",
      vs: "vs", year_suffix: "", collected: "Collected", clinical: "Clinical use",
      gap: "Gap (use − collection)", units: "units", days: "days", level_normal: "normal",
      level_tight: "tight", level_short: "short", level_critical: "critical",
      warning_line: "warning line", cumulative: "cumulative share", by_cause: "By cause (Pareto)",
      by_component: "By component", by_facility: "By facility", first_time: "First-time",
      repeat: "Repeat", share: "share", penetration: "Eligible residents who ever donated",
      pen_short: "Penetration",
      rank: "Rank", county_name: "County", per1000: "Donations per 1,000",
      per10k: "Sites per 10,000", growth: "Growth", repeat_share: "Repeat share",
      wastage_rate: "Wastage", days_below: "Days below line", sites: "Donation sites",
      hospitals: "Hospitals", donations: "Donations", transfused: "Transfused (units)",
      time: "Time", severity: "Severity", rule: "Rule", message: "Message", unit: "Unit",
      trace: "trace", critical: "critical", warning: "warning", info: "info", prev: "Previous",
      next: "Next", campaign: "Campaign", previous_year: "Previous year", uplift: "Uplift",
      honours: "Donation honours", check: "Check", loading: "Loading…", updated: "Updated",
      no_data: "No data", city_scope: "City-wide (no county dimension)",
      drill_title: "Sites and hospitals", kind: "Kind", trace_title: "Unit trace", step: "Step",
      facility: "Facility", detail: "Detail", close: "Close",
      red_cells_history: "Red-cell days of supply", donor_groups: "Donor groups"
    }
  };
  var LEVEL_COLORS = { normal: "#2e9d5b", tight: "#e6b422", short: "#e67e22", critical: "#d62d20" };
  var PAGE = 10;
  var REFRESH_MS = 60000;
  var params = new URLSearchParams(location.search);
  var state = {
    lang: params.get("lang") || localStorage.getItem("bt-lang") || "zh",
    wall: params.get("wall") === "1",
    period: params.get("period") || null,
    county: params.get("county") || null,
    baseline: params.get("baseline") || null,
    alertsOffset: 0,
    findingsOffset: 0,
    options: null,
    meta: null,
    data: {}
  };
  var charts = {};
  var refreshTimer = null;

  function t(key) {
    var table = I18N[state.lang] || I18N.zh;
    return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
  }
  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(v, digits) {
    if (v == null || isNaN(v)) return "—";
    return Number(v).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-US", {
      maximumFractionDigits: digits == null ? 1 : digits,
      minimumFractionDigits: 0
    });
  }
  function pct(v) { return v == null ? "—" : (v > 0 ? "+" : "") + num(v, 1) + "%"; }
  function label(list, key) {
    var hit = (list || []).filter(function (x) { return x.key === key; })[0];
    if (!hit) return key;
    return state.lang === "zh" ? hit.zh : (hit.en || hit.zh);
  }
  function levelName(level) { return level ? t("level_" + level) : "—"; }
  function countyName(code) {
    var c = (state.options.counties || []).filter(function (x) { return x.county_code === code; })[0];
    return c ? c.county_name : code;
  }

  function query(extra) {
    // Always explicit, so the server need not look the defaults up for every panel.
    var o = state.options || {};
    var q = new URLSearchParams();
    var period = state.period || o.default_period;
    var baseline = state.baseline || o.default_baseline;
    if (period) q.set("period", period);
    if (state.county) q.set("county", state.county);
    if (baseline) q.set("baseline", baseline);
    Object.keys(extra || {}).forEach(function (k) {
      if (extra[k] == null) q.delete(k); else q.set(k, extra[k]);
    });
    var s = q.toString();
    return s ? "?" + s : "";
  }
  // Not (or no longer) signed in: the sign-in page, which comes back here (api/routes/session.py).
  function signIn() {
    location.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search);
  }
  function cookie(name) {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }
  function get(path) {
    return fetch(path, { headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status === 401) { signIn(); }  // not signed in (api/auth.py)
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          var d = body && body.detail;
          throw new Error((d && d.message) || (path + ": HTTP " + r.status));
        });
      }
      return r.json();
    });
  }

  /* ---- charts -------------------------------------------------------------------------- */
  function chart(id) {
    var el = $(id);
    if (!charts[id]) charts[id] = echarts.init(el, "dark", { renderer: "canvas" });
    return charts[id];
  }
  /* Only charts with room: ECharts 6.1.0 throws on every frame once a map is sized 0x0
     (apache/echarts#21706), as a collapsed panel or a closing page would size it. */
  function resizeCharts() {
    Object.keys(charts).forEach(function (id) {
      var el = $(id);
      if (el.clientWidth > 0 && el.clientHeight > 0) charts[id].resize();
    });
  }
  /* Resolves when ECharts has drawn the option (its 'finished' event). */
  function draw(id, option) {
    return new Promise(function (resolve) {
      var c = chart(id);
      var done = false;
      var finish = function () { if (!done) { done = true; c.off("finished", finish); resolve(); } };
      c.on("finished", finish);
      option.backgroundColor = "transparent";
      option.textStyle = { fontFamily: "Noto Sans CJK SC, sans-serif" };
      c.setOption(option, true);
      setTimeout(finish, 3000); // a chart with animation off may not emit again: never hang
    });
  }
  function axisFont() { return { fontSize: state.wall ? 16 : 12 }; }
  function base(title) {
    return {
      title: { text: title, left: 0, top: 0, textStyle: { fontSize: state.wall ? 18 : 13 } },
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 20, top: 40, bottom: 30, containLabel: true },
      animation: false
    };
  }

  /* ---- panels -------------------------------------------------------------------------- */
  function kpi(key, value, sub, raw, cls) {
    return '<div class="kpi" data-figure="' + key + '" data-value="' + esc(raw == null ? "" : raw) +
      '"><div class="label">' + esc(t("k_" + key.replace(/_pct$/, ""))) + '</div><div class="value ' +
      (cls || "") + '">' + esc(value) + '</div><div class="sub">' + (sub || "") + "</div></div>";
  }
  function renderHeadline(h) {
    var base = h.baseline_year ? t("vs") + " " + h.baseline_year + t("year_suffix") : "";
    var alerts = h.open_alerts || {};
    var html = [
      kpi("donations", num(h.donations, 0), base + " " + pct(h.donations_growth_pct), h.donations),
      kpi("units", num(h.units_collected), "", h.units_collected),
      kpi("use", num(h.clinical_use_units), "", h.clinical_use_units),
      kpi("growth_collect", pct(h.collection_growth_pct), base, h.collection_growth_pct,
        h.collection_growth_pct < 0 ? "down" : "up"),
      kpi("growth_use", pct(h.clinical_use_growth_pct), base, h.clinical_use_growth_pct,
        h.clinical_use_growth_pct < 0 ? "down" : "up"),
      kpi("wastage", h.wastage_rate_pct == null ? "—" : num(h.wastage_rate_pct, 2) + "%",
        num(h.discarded_units) + " " + t("units"), h.wastage_rate_pct),
      kpi("dos", num(h.red_cell_days_of_supply, 1) + " " + t("days"),
        '<span class="badge" style="background:' + (LEVEL_COLORS[h.red_cell_warning_level] || "#555") +
        '">' + esc(levelName(h.red_cell_warning_level)) + "</span> " + esc(h.red_cell_stock_date || ""),
        h.red_cell_days_of_supply),
      kpi("alerts", num((alerts.critical || 0) + (alerts.warning || 0) + (alerts.info || 0), 0),
        ["critical", "warning", "info"].map(function (s) {
          return '<span class="badge ' + s + '" data-severity="' + s + '" data-count="' +
            (alerts[s] || 0) + '">' + esc(t(s)) + " " + (alerts[s] || 0) + "</span>";
        }).join(" "), (alerts.critical || 0) + (alerts.warning || 0) + (alerts.info || 0))
    ];
    $("kpis").innerHTML = html.join("");
    return Promise.resolve();
  }

  function renderSpeech(s) {
    var lines = (s.sentences && s.sentences[state.lang]) || [];
    $("speech").innerHTML = lines.length ? lines.map(function (line) {
      // Figures in bold: split on numbers first, then escape each piece.
      return "<li>" + line.split(/(\d[\d,.]*%?)/).map(function (part, i) {
        return i % 2 ? "<b>" + esc(part) + "</b>" : esc(part);
      }).join("") + "</li>";
    }).join("") : '<li class="empty">' + esc(t("no_data")) + "</li>";
    return Promise.resolve();
  }

  function renderSupply(d) {
    var m = d.monthly;
    var o = base("");
    o.legend = { top: 0, right: 0, data: [t("collected"), t("clinical"), t("gap")] };
    o.xAxis = { type: "category", data: m.map(function (r) { return r.month; }), axisLabel: axisFont() };
    o.yAxis = { type: "value", name: t("units"), axisLabel: axisFont() };
    o.series = [
      { name: t("collected"), type: "line", smooth: true, data: m.map(function (r) { return r.collected_units; }) },
      { name: t("clinical"), type: "line", smooth: true, data: m.map(function (r) { return r.clinical_use_units; }) },
      { name: t("gap"), type: "bar", data: m.map(function (r) { return r.gap_units; }),
        itemStyle: { color: "#e0453a", opacity: 0.6 } }
    ];
    return draw("c-supply", o);
  }

  function renderInventory(d) {
    $("inventory-note").textContent = t("city_scope") + " · " + (d.stock_date || "");
    var comps = [], groups = [];
    d.now.forEach(function (r) {
      if (comps.indexOf(r.component_type) < 0) comps.push(r.component_type);
      if (groups.indexOf(r.abo_rh) < 0) groups.push(r.abo_rh);
    });
    var cells = d.now.map(function (r) {
      return { value: [groups.indexOf(r.abo_rh), comps.indexOf(r.component_type),
        r.days_of_supply == null ? "-" : Math.round(r.days_of_supply * 10) / 10],
        level: r.warning_level, itemStyle: { color: LEVEL_COLORS[r.warning_level] || "#444" } };
    });
    var now = {
      tooltip: { formatter: function (p) {
        return esc(groups[p.value[0]]) + " · " + esc(label(state.meta.component_types, comps[p.value[1]])) +
          "<br>" + p.value[2] + " " + t("days") + " · " + esc(levelName(p.data.level));
      } },
      grid: { left: 10, right: 10, top: 30, bottom: 10, containLabel: true },
      legend: { show: false },
      title: { text: ["normal", "tight", "short", "critical"].map(function (l) {
        return levelName(l); }).join(" / "), right: 0, top: 0, textStyle: { fontSize: 12, color: "#93a4bd" } },
      xAxis: { type: "category", data: groups, axisLabel: axisFont() },
      yAxis: { type: "category", data: comps.map(function (c) { return label(state.meta.component_types, c); }),
        axisLabel: axisFont() },
      series: [{ type: "heatmap", data: cells, label: { show: true, fontSize: state.wall ? 16 : 11 } }],
      animation: false
    };
    var hist = base(t("red_cells_history"));
    var byGroup = {};
    var dates = [];
    d.history.forEach(function (r) {
      if (dates.indexOf(r.stock_date) < 0) dates.push(r.stock_date);
      (byGroup[r.abo_rh] = byGroup[r.abo_rh] || {})[r.stock_date] = r.days_of_supply;
    });
    var lines = d.levels.filter(function (l) {
      return l.component_type === d.history_component && l.level !== "critical";
    }).map(function (l) {
      return { yAxis: Number(l.min_days), name: levelName(l.level),
        lineStyle: { color: LEVEL_COLORS[l.level], type: "dashed" },
        label: { formatter: levelName(l.level) + " " + l.min_days, color: LEVEL_COLORS[l.level] } };
    });
    hist.legend = { top: 0, right: 0, type: "scroll", width: "60%" };
    hist.xAxis = { type: "category", data: dates, axisLabel: axisFont() };
    hist.yAxis = { type: "value", name: t("days"), axisLabel: axisFont() };
    hist.series = Object.keys(byGroup).sort().map(function (g, i) {
      var s = { name: g, type: "line", showSymbol: false,
        data: dates.map(function (day) { var v = byGroup[g][day]; return v == null ? null : v; }) };
      if (i === 0) s.markLine = { symbol: "none", silent: true, data: lines };
      return s;
    });
    return Promise.all([draw("c-inventory-now", now), draw("c-inventory-history", hist)]);
  }

  function renderWastage(d) {
    var causes = d.by_cause;
    var pareto = base(t("by_cause"));
    pareto.legend = { top: 0, right: 0 };
    pareto.xAxis = { type: "category", axisLabel: Object.assign({ interval: 0, rotate: 20 }, axisFont()),
      data: causes.map(function (r) { return state.lang === "zh" ? (r.label_zh || r.cause) : (r.label_en || r.cause); }) };
    pareto.yAxis = [{ type: "value", name: t("units") }, { type: "value", max: 100, name: "%" }];
    pareto.series = [
      { name: t("units"), type: "bar", data: causes.map(function (r) { return r.units; }), itemStyle: { color: "#e0453a" } },
      { name: t("cumulative"), type: "line", yAxisIndex: 1, data: causes.map(function (r) { return r.cumulative_pct; }) }
    ];
    var comp = {
      title: { text: t("by_component"), textStyle: { fontSize: 13 } }, tooltip: { trigger: "item" },
      animation: false,
      series: [{ type: "pie", radius: ["35%", "65%"], top: 20,
        label: { fontSize: state.wall ? 15 : 11 },
        data: d.by_component.map(function (r) {
          return { name: state.lang === "zh" ? (r.label_zh || r.component_type) : (r.label_en || r.component_type), value: r.units };
        }) }]
    };
    var fac = base(t("by_facility"));
    fac.xAxis = { type: "value", axisLabel: axisFont() };
    fac.yAxis = { type: "category", inverse: true, axisLabel: axisFont(),
      data: d.by_facility.map(function (r) { return r.facility_name || r.facility_id; }) };
    fac.series = [{ type: "bar", data: d.by_facility.map(function (r) { return r.units; }), itemStyle: { color: "#e67e22" } }];
    return Promise.all([draw("c-wastage-cause", pareto), draw("c-wastage-component", comp), draw("c-wastage-facility", fac)]);
  }

  function shareSeries(rows, names) {
    var months = [], totals = {}, cells = {};
    rows.forEach(function (r) {
      var m = r.month.slice(0, 7);
      if (months.indexOf(m) < 0) months.push(m);
      totals[m] = (totals[m] || 0) + r.donations;
      (cells[r.key] = cells[r.key] || {})[m] = r.donations;
    });
    return {
      months: months,
      series: Object.keys(cells).sort().map(function (k) {
        return { name: names(k), type: "line", stack: "share", areaStyle: {}, showSymbol: false,
          data: months.map(function (m) { return totals[m] ? Math.round((cells[k][m] || 0) / totals[m] * 1000) / 10 : 0; }) };
      })
    };
  }
  function renderDonors(d) {
    var charts = [];
    [["c-donor-groups", d.by_group, function (k) { return label(state.meta.donor_groups, k); }, t("donor_groups")],
     ["c-donor-types", d.by_type, function (k) { return t(k); }, t("first_time") + " / " + t("repeat")],
     ["c-donor-ages", d.by_age_band, function (k) { return k; }, state.lang === "zh" ? "年龄段" : "Age bands"]
    ].forEach(function (spec) {
      var s = shareSeries(spec[1], spec[2]);
      var o = base(spec[3] + " (%)");
      o.legend = { top: 0, right: 0, type: "scroll", width: "55%" };
      o.xAxis = { type: "category", data: s.months, boundaryGap: false, axisLabel: axisFont() };
      o.yAxis = { type: "value", max: 100, axisLabel: axisFont() };
      o.series = s.series;
      charts.push(draw(spec[0], o));
    });
    var latest = {};
    d.penetration.forEach(function (r) { latest[r.county_code] = r; });
    var rows = Object.keys(latest).map(function (k) { return latest[k]; })
      .sort(function (a, b) { return b.penetration_pct - a.penetration_pct; });
    var p = base(t("penetration") + " (%)");
    p.xAxis = { type: "category", data: rows.map(function (r) { return r.county_name; }), axisLabel: axisFont() };
    p.yAxis = { type: "value", axisLabel: axisFont() };
    p.series = [{ type: "bar", data: rows.map(function (r) { return r.penetration_pct; }), itemStyle: { color: "#4a90d9" },
      label: { show: true, position: "top", formatter: function (x) { return num(x.value, 2); } } }];
    charts.push(draw("c-penetration", p));
    return Promise.all(charts);
  }

  /* The Ankang outlines register map "安康" with features whose ids are county codes. */
  function mapFeatures() {
    var m = echarts.getMap && echarts.getMap("安康");
    if (!m || !m.geoJSON) return null;
    var byCode = {};
    m.geoJSON.features.forEach(function (f) { byCode[String(f.id)] = f.properties.name; });
    return byCode;
  }
  function renderCounties(d) {
    var rows = d.counties;
    var features = mapFeatures();
    var onMap = features && rows.length && rows.every(function (r) { return features[r.county_code]; });
    var o;
    if (onMap) {
      var values = rows.map(function (r) { return r.donations_per_1000 || 0; });
      o = {
        title: { text: t("per1000"), textStyle: { fontSize: 13 } },
        tooltip: { trigger: "item", formatter: function (p) {
          var r = p.data && p.data.row; if (!r) return esc(p.name);
          return esc(r.county_name) + "<br>" + t("rank") + " " + r.overall_rank + "<br>" + t("per1000") + " " +
            num(r.donations_per_1000, 2) + "<br>" + t("per10k") + " " + num(r.sites_per_10k_residents, 3);
        } },
        visualMap: { min: Math.min.apply(null, values), max: Math.max.apply(null, values), left: 0, bottom: 0,
          calculable: true, inRange: { color: ["#2b4b73", "#e0453a"] }, textStyle: { color: "#e8eef7" } },
        series: [{ type: "map", map: "安康", roam: false, selectedMode: "single",
          label: { show: true, color: "#fff", fontSize: state.wall ? 16 : 11 },
          data: rows.map(function (r) {
            return { name: features[r.county_code], value: r.donations_per_1000, code: r.county_code, row: r,
              selected: r.county_code === state.county };
          }) }],
        animation: false
      };
    } else {
      o = base(t("per1000"));
      o.tooltip = { trigger: "axis" };
      o.xAxis = { type: "value", axisLabel: axisFont() };
      o.yAxis = { type: "category", inverse: true, data: rows.map(function (r) { return r.county_name; }), axisLabel: axisFont() };
      o.series = [{ type: "bar", data: rows.map(function (r) {
        return { value: r.donations_per_1000, code: r.county_code,
          itemStyle: { color: r.county_code === state.county ? "#ffd54f" : "#e0453a" } };
      }), label: { show: true, position: "right", formatter: function (x) { return num(x.value, 2); } } }];
    }
    $("c-counties").dataset.mode = onMap ? "map" : "bars";
    var c = chart("c-counties");
    c.off("click");
    c.on("click", function (p) { if (p.data && p.data.code) selectCounty(p.data.code); });
    var head = "<tr><th>" + t("rank") + "</th><th>" + t("county_name") + '</th><th class="num">' + t("per1000") +
      '</th><th class="num">' + t("growth") + '</th><th class="num">' + t("repeat_share") + '</th><th class="num">' + t("pen_short") +
      '</th><th class="num">' +
      t("wastage_rate") + '</th><th class="num">' + t("days_below") + '</th><th class="num">' + t("per10k") + "</th></tr>";
    $("t-counties").innerHTML = head + rows.map(function (r) {
      return '<tr class="clickable' + (r.county_code === state.county ? " selected" : "") + '" data-county="' +
        esc(r.county_code) + '"><td title="' + esc(r.overall_note || "") + '">' +
        (r.overall_rank == null ? "—" : r.overall_rank) + "</td><td>" + esc(r.county_name) + '</td><td class="num">' +
        num(r.donations_per_1000, 2) + '</td><td class="num">' + pct(r.growth_pct) + '</td><td class="num">' +
        num(r.repeat_donor_share_pct, 1) + '%</td><td class="num">' + num(r.penetration_pct, 2) +
        '%</td><td class="num">' + num(r.wastage_rate_pct, 2) + '%</td><td class="num">' +
        (r.days_below_line_pct == null ? "—" : num(r.days_below_line_pct, 1) + "%") + '</td><td class="num">' +
        num(r.sites_per_10k_residents, 3) + "</td></tr>";
    }).join("");
    Array.prototype.forEach.call($("t-counties").querySelectorAll("tr[data-county]"), function (tr) {
      tr.addEventListener("click", function () { selectCounty(tr.dataset.county); });
    });
    return draw("c-counties", o);
  }

  function renderDrill(d) {
    if (!d) { $("drill").innerHTML = ""; return Promise.resolve(); }
    var kinds = state.meta.site_kinds;
    $("drill").innerHTML = "<h3>" + esc(countyName(d.county_code)) + " · " + t("drill_title") + "</h3>" +
      '<table class="table" id="t-sites"><tr><th>' + t("sites") + "</th><th>" + t("kind") + '</th><th class="num">' +
      t("donations") + "</th></tr>" + d.sites.map(function (s) {
        return "<tr><td>" + esc(s.site_name) + "</td><td>" + esc(label(kinds, s.site_kind)) + '</td><td class="num">' +
          num(s.donations, 0) + "</td></tr>";
      }).join("") + "</table>" +
      '<table class="table" id="t-hospitals"><tr><th>' + t("hospitals") + '</th><th class="num">' + t("transfused") +
      "</th></tr>" + d.hospitals.map(function (h) {
        return "<tr><td>" + esc(h.hospital_name) + " <small>" + esc(h.level) + '</small></td><td class="num">' +
          num(h.transfused_units) + "</td></tr>";
      }).join("") + "</table>";
    return Promise.resolve();
  }

  function sevBadges(el, counts) {
    el.innerHTML = ["critical", "warning", "info"].map(function (s) {
      return '<span class="badge ' + s + '">' + esc(t(s)) + " " + (counts[s] || 0) + "</span>";
    }).join("");
  }
  function pager(el, page, which) {
    var from = page.total ? page.offset + 1 : 0;
    var to = Math.min(page.offset + page.limit, page.total);
    el.innerHTML = '<button type="button" data-dir="-1"' + (page.offset ? "" : " disabled") + ">" + t("prev") +
      "</button><span>" + from + "–" + to + " / " + page.total + '</span><button type="button" data-dir="1"' +
      (to < page.total ? "" : " disabled") + ">" + t("next") + "</button>";
    Array.prototype.forEach.call(el.querySelectorAll("button"), function (b) {
      b.addEventListener("click", function () {
        state[which] = Math.max(0, state[which] + Number(b.dataset.dir) * PAGE);
        (which === "alertsOffset" ? loadAlerts : loadFindings)();
      });
    });
  }
  function time(s) { return s ? s.replace("T", " ").replace(/\.\d+/, "").replace("Z", "") : ""; }
  function dinLink(din) {
    return din ? '<a href="/v1/units/' + encodeURIComponent(din) + '/trace" class="trace" data-din="' +
      esc(din) + '">' + esc(din) + "</a>" : "";
  }
  function renderAlerts(page) {
    $("t-alerts").innerHTML = "<tr><th>" + t("time") + "</th><th>" + t("severity") + "</th><th>" + t("message") +
      "</th><th>" + t("unit") + "</th></tr>" + (page.items.length ? page.items.map(function (a) {
        return '<tr data-alert="' + esc(a.alert_id) + '"><td>' + esc(time(a.occurred_at)) + '</td><td><span class="badge ' +
          esc(a.severity) + '">' + esc(t(a.severity)) + "</span></td><td>" +
          esc(state.lang === "zh" ? a.message_zh : a.message_en) + "</td><td>" + dinLink(a.din) + "</td></tr>";
      }).join("") : '<tr><td colspan="4" class="empty">' + t("no_data") + "</td></tr>");
    pager($("alerts-pager"), page, "alertsOffset");
    return Promise.resolve();
  }
  function renderFindings(page) {
    sevBadges($("finding-sev"), page.by_severity || {});
    $("t-findings").innerHTML = "<tr><th>" + t("time") + "</th><th>" + t("severity") + "</th><th>" + t("message") +
      "</th><th>" + t("unit") + "</th></tr>" + (page.items.length ? page.items.map(function (f) {
        return "<tr><td>" + esc(time(f.occurred_at || f.found_at)) + '</td><td><span class="badge ' + esc(f.severity) +
          '">' + esc(t(f.severity)) + "</span></td><td>" + esc(state.lang === "zh" ? f.message_zh : f.message_en) +
          "</td><td>" + dinLink(f.din) + "</td></tr>";
      }).join("") : '<tr><td colspan="4" class="empty">' + t("no_data") + "</td></tr>");
    pager($("findings-pager"), page, "findingsOffset");
    return Promise.resolve();
  }

  function renderCampaigns(d) {
    var seen = d.campaigns.filter(function (r) { return r.donations || r.previous_year_donations; });
    var rows = (seen.length ? seen : d.campaigns).slice(0, 12).reverse();
    var o = base(t("campaign"));
    o.legend = { top: 0, right: 0 };
    o.xAxis = { type: "category", axisLabel: Object.assign({ interval: 0, rotate: 15 }, axisFont()),
      data: rows.map(function (r) { return r.campaign_name + " " + r.campaign_on.slice(0, 4); }) };
    o.yAxis = { type: "value", name: t("donations") };
    o.series = [
      { name: t("donations"), type: "bar", data: rows.map(function (r) { return r.donations; }), itemStyle: { color: "#e0453a" },
        label: { show: true, position: "top", formatter: function (x) {
          var u = rows[x.dataIndex].uplift_pct; return u == null ? "" : pct(u); } } },
      { name: t("previous_year"), type: "bar", data: rows.map(function (r) { return r.previous_year_donations; }), itemStyle: { color: "#4a6fa5" } }
    ];
    var h = base(t("honours"));
    h.xAxis = { type: "category", data: d.honours.map(function (r) {
      return state.lang === "zh" ? r.honour_level_zh : r.honour_level; }), axisLabel: axisFont() };
    h.yAxis = { type: "value", minInterval: 1 };
    h.series = [{ type: "bar", data: d.honours.map(function (r) { return r.donors; }),
      itemStyle: { color: "#ffd54f" }, label: { show: true, position: "top" } }];
    return Promise.all([draw("c-campaigns", o), draw("c-honours", h)]);
  }

  /* ---- loading ------------------------------------------------------------------------- */
  function year() { return (state.period || state.options.default_period).slice(0, 4); }
  function loadAlerts() {
    return get("/v1/alerts?limit=" + PAGE + "&offset=" + state.alertsOffset).then(renderAlerts);
  }
  function loadFindings() {
    return get("/v1/findings?limit=" + PAGE + "&offset=" + state.findingsOffset).then(renderFindings);
  }
  function failed(panel) {
    return function (err) {
      var el = $(panel);
      var msg = el.querySelector(".error") || el.appendChild(document.createElement("div"));
      msg.className = "error empty";
      msg.textContent = err.message;
      console.warn(panel, err.message);
    };
  }
  function loadAll() {
    var started = performance.now();
    document.body.dataset.ready = "0";
    $("status").textContent = t("loading");
    var y = year();
    var c = state.county;
    var jobs = [
      ["panel-headline", get("/v1/marts/headline" + query()).then(renderHeadline)],
      ["panel-speech", get("/v1/marts/speech" + query({ period: null, county: null, year: y })).then(renderSpeech)],
      ["panel-supply", get("/v1/marts/supply-demand" + query({ period: null, baseline: null })).then(renderSupply)],
      ["panel-inventory", get("/v1/marts/inventory" + query({ county: null, baseline: null })).then(renderInventory)],
      ["panel-wastage", get("/v1/marts/wastage" + query({ baseline: null })).then(renderWastage)],
      ["panel-donors", get("/v1/marts/donors" + query({ baseline: null })).then(renderDonors)],
      ["panel-counties", get("/v1/marts/counties?year=" + y).then(renderCounties)],
      ["panel-counties", c ? get("/v1/marts/counties/" + encodeURIComponent(c) + "?year=" + y).then(renderDrill) : renderDrill(null)],
      ["panel-alerts", get("/v1/alerts/summary").then(function (s) { sevBadges($("alert-sev"), s.open_by_severity); })],
      ["panel-alerts", loadAlerts()],
      ["panel-findings", loadFindings()],
      ["panel-campaigns", get("/v1/marts/campaigns?year=" + y + (c ? "&county=" + encodeURIComponent(c) : "")).then(renderCampaigns)]
    ];
    var panels = {};
    return Promise.all(jobs.map(function (j) {
      return Promise.resolve(j[1]).catch(failed(j[0])).then(function () {
        panels[j[0]] = Math.max(panels[j[0]] || 0, Math.round(performance.now() - started));
      });
    })).then(function () {
      var ms = Math.round(performance.now() - started);
      window.dashboardRender = { ms: ms, at: new Date().toISOString(), panels: panels,
        startedAt: Math.round(started), sinceNavigation: Math.round(performance.now()) };
      $("status").textContent = t("updated") + " " + new Date().toLocaleTimeString() + " · " + ms + " ms";
      document.body.dataset.ready = "1";
    });
  }

  /* ---- filters, language, wall ---------------------------------------------------------- */
  function fillFilters() {
    var o = state.options;
    var periods = [];
    o.years.slice().reverse().forEach(function (y) {
      periods.push([String(y), y + (state.lang === "zh" ? "年" : "")]);
      o.months.filter(function (m) { return m.slice(0, 4) === String(y); }).forEach(function (m) {
        periods.push([m, "  " + m]);
      });
    });
    $("f-period").innerHTML = periods.map(function (p) {
      return '<option value="' + p[0] + '"' + (p[0] === (state.period || o.default_period) ? " selected" : "") + ">" +
        esc(p[1]) + "</option>";
    }).join("");
    var baseline = state.baseline || (o.default_baseline == null ? "" : String(o.default_baseline));
    $("f-baseline").innerHTML = o.years.map(function (y) {
      return '<option value="' + y + '"' + (String(y) === baseline ? " selected" : "") + ">" + y + "</option>";
    }).join("");
    $("f-county").innerHTML = '<option value="">' + t("city") + "</option>" + o.counties.map(function (c) {
      return '<option value="' + esc(c.county_code) + '"' + (c.county_code === state.county ? " selected" : "") + ">" +
        esc(c.county_name) + "</option>";
    }).join("");
  }
  function syncUrl() {
    var q = new URLSearchParams();
    if (state.period) q.set("period", state.period);
    if (state.county) q.set("county", state.county);
    if (state.baseline) q.set("baseline", state.baseline);
    if (state.lang !== "zh") q.set("lang", state.lang);
    if (state.wall) q.set("wall", "1");
    history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q : ""));
  }
  function selectCounty(code) {
    state.county = code === state.county ? null : code;
    $("f-county").value = state.county || "";
    syncUrl();
    return loadAll();
  }
  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (el) {
      el.textContent = t(el.dataset.i18n);
    });
    $("b-lang").textContent = state.lang === "zh" ? "English" : "中文";
    $("b-wall").textContent = state.wall ? t("wall_off") : t("wall");
  }
  function applyWall() {
    document.body.classList.toggle("wall", state.wall);
    $("b-wall").textContent = state.wall ? t("wall_off") : t("wall");
    clearInterval(refreshTimer);
    if (state.wall) {
      refreshTimer = setInterval(loadAll, REFRESH_MS);
      if (document.documentElement.requestFullscreen && !document.fullscreenElement) {
        document.documentElement.requestFullscreen().catch(function () { /* needs a gesture */ });
      }
    } else if (document.fullscreenElement && document.exitFullscreen) {
      document.exitFullscreen().catch(function () {});
    }
    resizeCharts();
  }
  function showTrace(din) {
    $("modal").hidden = false;
    $("modal-body").innerHTML = "<h2>" + t("trace_title") + " " + esc(din) + "</h2><p>" + t("loading") + "</p>";
    get("/v1/units/" + encodeURIComponent(din) + "/trace").then(function (tr) {
      $("modal-body").innerHTML = "<h2>" + t("trace_title") + " " + esc(tr.din_with_check || din) + "</h2><p>" +
        esc(tr.abo_rh) + " · " + esc(tr.donation_kind) + " · " + esc(tr.volume_ml) + " ml · " + esc(tr.status) + "</p>" +
        '<table class="table"><tr><th>' + t("time") + "</th><th>" + t("step") + "</th><th>" + t("facility") + "</th><th>" +
        t("detail") + "</th></tr>" + (tr.steps || []).map(function (s) {
          return "<tr><td>" + esc(time(s.at)) + "</td><td>" + esc(state.lang === "zh" ? s.label_zh : s.step) + "</td><td>" +
            esc(s.facility_id) + "</td><td>" + esc(s.summary) + "</td></tr>";
        }).join("") + "</table>";
    }).catch(function (err) { $("modal-body").innerHTML = '<p class="empty">' + esc(err.message) + "</p>"; });
  }

  function wire() {
    $("f-period").addEventListener("change", function (e) { state.period = e.target.value; syncUrl(); loadAll(); });
    $("f-baseline").addEventListener("change", function (e) {
      state.baseline = e.target.value || null; syncUrl(); loadAll(); });
    $("f-county").addEventListener("change", function (e) { state.county = e.target.value || null; syncUrl(); loadAll(); });
    $("b-lang").addEventListener("click", function () {
      state.lang = state.lang === "zh" ? "en" : "zh";
      localStorage.setItem("bt-lang", state.lang);
      syncUrl(); applyLanguage(); fillFilters(); loadAll();
    });
    $("b-wall").addEventListener("click", function () { state.wall = !state.wall; syncUrl(); applyWall(); loadAll(); });
    $("b-export").addEventListener("click", function () {
      location.href = "/v1/dashboard/export.xlsx" + query();
    });
    document.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest("a.trace");
      if (a) { e.preventDefault(); showTrace(a.dataset.din); }
    });
    $("modal-close").addEventListener("click", function () { $("modal").hidden = true; });
    $("b-signout").addEventListener("click", function () {
      // A change signed by the session cookie echoes the CSRF cookie (api/auth.py).
      fetch("/v1/session/logout", { method: "POST", headers: { "X-CSRF-Token": cookie("bt_csrf") } })
        .then(function () { location.href = "/signin"; });
    });
    window.addEventListener("resize", resizeCharts);
  }

  function start() {
    applyLanguage();
    wire();
    var boot = window.dashboardBoot
      ? window.dashboardBoot.then(function (b) {
        if (b.unauthenticated) signIn();
        if (b.error) throw b.error;
        return b.value;
      })
      : Promise.all([get("/v1/marts/options"), get("/v1/dashboard/meta")]);
    boot.then(function (r) {
      state.options = r[0];
      state.meta = r[1];
      fillFilters();
      applyWall();
      return loadAll();
    }).catch(function (err) {
      $("status").textContent = err.message;
      console.warn("dashboard", err.message);
    });
  }
  window.dashboard = { state: state, reload: loadAll, selectCounty: selectCounty };
  start();
})();
