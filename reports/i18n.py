"""Every label the reports print, in English and Chinese, and the names of KPIs and units per language."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

LANGS = ("en", "zh")

LABELS: dict[str, dict[str, str]] = {
    # report titles
    "attainment_title": {"en": "KPI attainment", "zh": "KPI 达成情况"},
    "review_title": {"en": "Performance review", "zh": "绩效复盘"},
    "anomaly_title": {"en": "KPI anomalies", "zh": "KPI 异常"},
    "quality_title": {"en": "Data quality", "zh": "数据质量"},
    "index_title": {"en": "Reports", "zh": "报告"},
    # common
    "as_of": {"en": "As of", "zh": "截至"},
    "run_date": {"en": "Run date", "zh": "运行日期"},
    "scope": {"en": "Scope", "zh": "范围"},
    "generated": {"en": "Generated", "zh": "生成时间"},
    "contents": {"en": "Contents", "zh": "目录"},
    "overview": {"en": "Overview", "zh": "概览"},
    "org_unit": {"en": "Org unit", "zh": "组织单元"},
    "org_units": {"en": "Org units", "zh": "组织单元"},
    "kpi": {"en": "KPI", "zh": "指标"},
    "kpi_id": {"en": "KPI id", "zh": "指标编号"},
    "objective": {"en": "Objective", "zh": "目标"},
    "period": {"en": "Period", "zh": "期间"},
    "grain": {"en": "Grain", "zh": "粒度"},
    "month": {"en": "Month", "zh": "月度"},
    "quarter": {"en": "Quarter", "zh": "季度"},
    "year": {"en": "Year", "zh": "年度"},
    "day": {"en": "Day", "zh": "日"},
    "week": {"en": "Week", "zh": "周"},
    "actual": {"en": "Actual", "zh": "实际"},
    "target": {"en": "Target", "zh": "目标值"},
    "target_range": {"en": "Target range", "zh": "目标区间"},
    "attainment": {"en": "Attainment", "zh": "达成率"},
    "status": {"en": "Status", "zh": "状态"},
    "weight": {"en": "Weight", "zh": "权重"},
    "weights": {"en": "Weights", "zh": "权重"},
    "score": {"en": "Score", "zh": "得分"},
    "rank": {"en": "Rank", "zh": "排名"},
    "kpi_count": {"en": "KPIs", "zh": "指标数"},
    "unit": {"en": "Unit", "zh": "单位"},
    "owner": {"en": "Owner", "zh": "负责人"},
    "manager": {"en": "Unit manager", "zh": "单元负责人"},
    "none": {"en": "None", "zh": "无"},
    "up": {"en": "Up", "zh": "上级"},
    "back_to_top": {"en": "Back to top", "zh": "返回顶部"},
    "children": {"en": "Sub-units", "zh": "下级单元"},
    "last_year": {"en": "Last year", "zh": "去年"},
    "this_year": {"en": "This year", "zh": "今年"},
    "legend": {"en": "Legend", "zh": "图例"},
    "csv_note": {
        "en": "Every table is also written beside this page as CSV and Parquet.",
        "zh": "每个表格同时以 CSV 和 Parquet 文件保存在本页面旁边。",
    },
    "no_data": {"en": "No data.", "zh": "无数据。"},
    "unverified_note": {
        "en": "Unverified: a check upstream of this value failed; its status is held back.",
        "zh": "未验证：该数值上游的数据检查未通过，状态暂不判定。",
    },
    "print_hint": {"en": "Print", "zh": "打印"},
    # statuses
    "st_met": {"en": "Met", "zh": "达成"},
    "st_at_risk": {"en": "At risk", "zh": "有风险"},
    "st_missed": {"en": "Missed", "zh": "未达成"},
    "st_on_track": {"en": "On track", "zh": "进度正常"},
    "st_off_track": {"en": "Off track", "zh": "进度落后"},
    "st_no_target": {"en": "No target", "zh": "无目标"},
    "st_unverified": {"en": "Unverified", "zh": "未验证"},
    # attainment report
    "goal_tree": {"en": "Goal tree", "zh": "目标树"},
    "goal_tree_note": {
        "en": "Objectives → KPIs → org units, coloured by attainment (click a segment to drill down).",
        "zh": "目标 → 指标 → 组织单元，颜色表示达成率（点击扇区可下钻）。",
    },
    "scorecard": {"en": "Scorecard", "zh": "计分卡"},
    "leaderboard": {"en": "Leaderboard of sub-units", "zh": "下级单元排行榜"},
    "score_breakdown": {"en": "Score breakdown (weights)", "zh": "得分构成（权重）"},
    "status_counts": {"en": "Status counts", "zh": "状态统计"},
    "pace": {"en": "Pace", "zh": "进度"},
    "to_date": {"en": "to date", "zh": "至今"},
    "expected_to_date": {"en": "Expected to date", "zh": "至今应达"},
    "actual_to_date": {"en": "Actual to date", "zh": "至今实际"},
    "attainment_to_date": {"en": "Attainment to date", "zh": "至今达成率"},
    "forecast": {"en": "Forecast", "zh": "预测"},
    "probability_on_target": {"en": "Chance of target", "zh": "达标概率"},
    "running": {"en": "running", "zh": "进行中"},
    "complete": {"en": "complete", "zh": "已结束"},
    "trend": {"en": "Trend", "zh": "趋势"},
    "latest_checkin": {"en": "Latest check-in", "zh": "最新反馈"},
    "capped": {"en": "capped", "zh": "封顶"},
    "score_formula": {
        "en": "score = Σ weight × min(attainment, cap) / Σ weight (running periods: attainment to date)",
        "zh": "得分 = Σ 权重 × min(达成率, 封顶值) / Σ 权重（进行中的期间使用至今达成率）",
    },
    "unweighted": {"en": "not weighted", "zh": "未计权重"},
    "charts_missing": {
        "en": "The charts need plotly.min.js, which is written beside the reports in this folder.",
        "zh": "图表需要与报告位于同一文件夹中的 plotly.min.js 文件。",
    },
    "needs_attention": {"en": "Needs attention", "zh": "需要关注"},
    "needs_attention_note": {
        "en": "Off track, at risk, missed, target rejected or missing, and unverified values — ranked by the KPI's "
              "weight in the unit × severity.",
        "zh": "进度落后、有风险、未达成、目标被拒绝或缺失、以及未验证的数值——按该指标在单元中的权重 × 严重程度排序。",
    },
    "nothing_needs_attention": {
        "en": "Nothing needs attention: every KPI with a target is on track and verified.",
        "zh": "无需关注：所有有目标的指标进度正常且已验证。",
    },
    "show_all": {"en": "Show all ({n})", "zh": "显示全部（{n}）"},
    "and_more": {"en": "… and {n} more in the units' sections below.", "zh": "……另有 {n} 项，见下方各单元。"},
    "st_target_rejected": {"en": "Target rejected", "zh": "目标被拒绝"},
    "st_target_missing": {"en": "Target missing", "zh": "缺少目标"},
    "st_no_data": {"en": "No data", "zh": "无数据"},
    "no_data_value": {"en": "no data", "zh": "无数据"},
    "st_partial": {"en": "Partial data", "zh": "数据不完整"},
    "partial_note": {
        "en": "Partial data: this KPI's inputs start inside the period, so it is not judged.",
        "zh": "数据不完整：此指标的数据起始于该期间之内，因此不作判定。",
    },
    "st_no_data_partial": {"en": "No data / partial", "zh": "无数据 / 数据不完整"},
    "verified_note": {"en": "Verified with a note: {note}", "zh": "已验证（附说明）：{note}"},
    "no_data_note": {
        "en": "No data: the period lies before this KPI's data start (not a zero).",
        "zh": "无数据：该期间早于此指标的数据起始日期（并非 0）。",
    },
    "target_rejected_why": {"en": "Target rejected: {note}", "zh": "目标被拒绝：{note}"},
    "target_missing_why": {"en": "Target missing: {note}", "zh": "缺少目标：{note}"},
    "unverified_why": {"en": "Unverified: {reason}", "zh": "未验证：{reason}"},
    "unverified_tables": {"en": "source rows", "zh": "来源数据行"},
    "why_to_date": {
        "en": "{att} of the target phased to date (actual {actual}, expected by now {expected})",
        "zh": "按进度分解目标的 {att}（实际 {actual}，至今应达 {expected}）",
    },
    "why_complete": {"en": "{att} of target {target} (actual {actual})", "zh": "目标 {target} 的 {att}（实际 {actual}）"},
    "target_source": {"en": "Target source", "zh": "目标来源"},
    "src_set": {"en": "plan", "zh": "计划"},
    "src_allocated": {"en": "allocated", "zh": "分解"},
    "src_catalog_rule": {"en": "catalog rule", "zh": "目录规则"},
    "headline_to_date": {"en": "to date, vs the target phased to date", "zh": "至今，对比按进度分解的目标"},
    "full_period": {"en": "Full period", "zh": "全期"},
    "headline_note": {
        "en": "For a running period the big number is the attainment to date, against the target phased to date "
              "(the number the score uses); the full-period target, how much of it is reached and the forecast "
              "stand beside it.",
        "zh": "进行中的期间，大号数字为至今达成率（对比按进度分解的目标，与得分所用一致）；全期目标、已完成比例和预测列在旁边。",
    },
    "reached_so_far": {"en": "{pct} of it so far", "zh": "目前已完成 {pct}"},
    "partial_period": {"en": "this month to date (partial)", "zh": "本月至今（未完整）"},
    "trend_legend_note": {
        "en": "Trend charts in the tiles: this year by month, last year, monthly target; the running month is "
              "drawn hollow and dashed (to date, not a drop).",
        "zh": "指标卡中的趋势图：今年各月、去年、月度目标；进行中的月份以空心点和虚线表示（至今数据，并非下滑）。",
    },
    "units_hint": {
        "en": "Every unit's KPIs: click a unit to open it (the contents links open it too).",
        "zh": "各单元的指标：点击单元展开（目录中的链接也会展开）。",
    },
    "issues_count": {"en": "{n} need attention", "zh": "{n} 项需关注"},
    "headline": {"en": "The night at a glance", "zh": "今日概览"},
    "open_report": {"en": "Open", "zh": "打开"},
    "anomalies_today": {"en": "Anomalies today", "zh": "今日异常"},
    "desc_attainment": {
        "en": "Where every unit stands on its KPIs in the running month, quarter and year.",
        "zh": "各单元在本月、本季度和本年度的指标进展。",
    },
    "desc_review": {
        "en": "Review of the closed period: misses with their gap attribution and check-ins.",
        "zh": "已结束期间的复盘：未达成项、差距归因与负责人反馈。",
    },
    "desc_anomalies": {"en": "The day's unusual KPI values, by severity.", "zh": "当天的指标异常，按严重程度排列。"},
    "desc_quality": {
        "en": "Checks, quarantined rows, reconciliation and freshness of the sources.",
        "zh": "数据检查、隔离行、对账与数据新鲜度。",
    },
    # review report
    "summary": {"en": "Summary", "zh": "摘要"},
    "status_matrix": {"en": "Met / missed by KPI and unit", "zh": "各指标与单元达成情况"},
    "previous_period": {"en": "Previous period", "zh": "上期"},
    "change": {"en": "Change", "zh": "变化"},
    "changes_since": {"en": "What changed since the previous period", "zh": "与上期相比的变化"},
    "newly_missed": {"en": "Newly missed", "zh": "新增未达成"},
    "recovered": {"en": "Recovered", "zh": "恢复达成"},
    "status_change": {"en": "Status change", "zh": "状态变化"},
    "biggest_moves": {"en": "Biggest moves in attainment", "zh": "达成率变化最大"},
    "score_change": {"en": "Scorecard change", "zh": "得分变化"},
    "definition_changes": {"en": "KPI definition changes in the period", "zh": "本期指标定义变更"},
    "target_changes": {"en": "Target and weight changes in the period", "zh": "本期目标与权重变更"},
    "no_changes": {"en": "No changes.", "zh": "无变更。"},
    "version": {"en": "Version", "zh": "版本"},
    "valid_from": {"en": "Valid from", "zh": "生效日期"},
    "fields_changed": {"en": "Fields changed", "zh": "变更字段"},
    "plan_version": {"en": "Plan version", "zh": "计划版本"},
    "before": {"en": "Before", "zh": "变更前"},
    "after": {"en": "After", "zh": "变更后"},
    "what": {"en": "What", "zh": "内容"},
    "checkins": {"en": "Check-ins", "zh": "负责人反馈"},
    "author": {"en": "Author", "zh": "作者"},
    "comment": {"en": "Comment", "zh": "评论"},
    "status_override": {"en": "Status override", "zh": "状态调整"},
    "gap": {"en": "Gap", "zh": "差距"},
    "gap_attribution": {"en": "Gap attribution", "zh": "差距归因"},
    "gap_formula": {"en": "gap = actual − target", "zh": "差距 = 实际 − 目标"},
    "by_org_unit": {"en": "by sub-unit", "zh": "按下级单元"},
    "by_dimension": {"en": "by {dimension}", "zh": "按{dimension}"},
    "own_direct": {"en": "Own (direct)", "zh": "本级直属"},
    "unexplained": {"en": "Unexplained", "zh": "未解释"},
    "others": {"en": "Others", "zh": "其他"},
    "mix_effect": {"en": "Mix effect", "zh": "结构效应"},
    "rate_effect": {"en": "Rate effect", "zh": "比率效应"},
    "rate_vs_mix": {"en": "Rate vs mix", "zh": "比率与结构"},
    "expected": {"en": "Expected", "zh": "预期"},
    "contribution": {"en": "Contribution", "zh": "贡献"},
    "component": {"en": "Component", "zh": "组成部分"},
    "decomposition": {"en": "Decomposition", "zh": "分解方式"},
    "not_decomposable": {
        "en": "This measure type is not additive, so its gap has no exact decomposition.",
        "zh": "该度量类型不可加总，差距无法精确分解。",
    },
    "attribution_method": {
        "en": (
            "Method: child units are compared with their own targets (else the parent's target × last "
            "year's share), dimension values with the target × last year's share; ratio KPIs are split "
            "into a mix effect Σ(w−w₀)·r₀′ and a rate effect Σw·(r−r₀′), where r₀′ are last year's rates "
            "rebased to the target. The bars add up to the gap."
        ),
        "zh": (
            "方法：下级单元与其自身目标比较（无目标时用上级目标 × 去年占比），维度取值与目标 × 去年占比比较；"
            "比率类指标拆分为结构效应 Σ(w−w₀)·r₀′ 与比率效应 Σw·(r−r₀′)，其中 r₀′ 为按目标重新定基的去年比率。"
            "各柱之和等于差距。"
        ),
    },
    "misses": {"en": "Misses", "zh": "未达成项"},
    "no_misses": {"en": "Every KPI with a target was met.", "zh": "所有有目标的指标均已达成。"},
    "met_count": {"en": "met", "zh": "达成"},
    "missed_count": {"en": "missed", "zh": "未达成"},
    # anomaly report
    "severity": {"en": "Severity", "zh": "严重程度"},
    "sev_critical": {"en": "Critical", "zh": "严重"},
    "sev_high": {"en": "High", "zh": "高"},
    "sev_medium": {"en": "Medium", "zh": "中"},
    "sev_low": {"en": "Low", "zh": "低"},
    "kind": {"en": "Kind", "zh": "类型"},
    "kind_spike": {"en": "Spike", "zh": "突增"},
    "kind_dip": {"en": "Dip", "zh": "突降"},
    "kind_level_shift": {"en": "Level shift", "zh": "水平位移"},
    "kind_dropout": {"en": "Drop-out", "zh": "数据中断"},
    "direction": {"en": "Direction", "zh": "方向"},
    "dir_up": {"en": "up", "zh": "上升"},
    "dir_down": {"en": "down", "zh": "下降"},
    "impact": {"en": "Impact", "zh": "影响"},
    "impact_good": {"en": "good news", "zh": "利好"},
    "impact_bad": {"en": "bad news", "zh": "利空"},
    "peak": {"en": "Peak", "zh": "峰值日期"},
    "start": {"en": "Start", "zh": "开始"},
    "end": {"en": "End", "zh": "结束"},
    "expected_band": {"en": "Expected band", "zh": "预期区间"},
    "expected_value": {"en": "Expected", "zh": "预期值"},
    "flagged": {"en": "Flagged", "zh": "异常点"},
    "series": {"en": "Series", "zh": "序列"},
    "deviation": {"en": "Deviation", "zh": "偏离"},
    "anomaly_score": {"en": "Score", "zh": "异常分数"},
    "reason": {"en": "Reason", "zh": "原因"},
    "data_issue": {"en": "Data issue", "zh": "数据问题"},
    "no_anomalies": {"en": "No anomalies in this window.", "zh": "该时间窗口内无异常。"},
    "anomaly_list": {"en": "All anomalies", "zh": "全部异常"},
    "window": {"en": "Window", "zh": "时间窗口"},
    # quality report
    "checks_by_layer": {"en": "Checks by layer", "zh": "各层检查结果"},
    "layer": {"en": "Layer", "zh": "层"},
    "check": {"en": "Check", "zh": "检查"},
    "type_company": {"en": "company", "zh": "公司"},
    "type_division": {"en": "division", "zh": "事业部"},
    "type_department": {"en": "department", "zh": "部门"},
    "type_team": {"en": "team", "zh": "团队"},
    "load_loaded": {"en": "loaded", "zh": "已加载"},
    "load_unchanged": {"en": "unchanged", "zh": "未变化"},
    "load_rejected": {"en": "rejected", "zh": "已拒绝"},
    "load_empty": {"en": "empty", "zh": "无数据"},
    "layer_source": {"en": "source", "zh": "源数据"},
    "layer_staging": {"en": "staging", "zh": "暂存层"},
    "layer_marts": {"en": "marts", "zh": "数据集市"},
    "layer_kpi": {"en": "kpi", "zh": "指标"},
    "layer_catalog": {"en": "catalog", "zh": "指标目录"},
    "asset": {"en": "Asset", "zh": "资产"},
    "blocking": {"en": "Blocking", "zh": "阻断"},
    "message": {"en": "Message", "zh": "信息"},
    "failing_rows": {"en": "Failing rows", "zh": "失败行数"},
    "failed_checks": {"en": "Failed and warning checks", "zh": "失败与警告的检查"},
    "chk_passed": {"en": "passed", "zh": "通过"},
    "chk_failed": {"en": "failed", "zh": "失败"},
    "chk_warn": {"en": "warning", "zh": "警告"},
    "chk_skipped": {"en": "skipped", "zh": "跳过"},
    "quarantine": {"en": "Quarantined rows by source and rule", "zh": "按来源与规则统计的隔离行"},
    "source": {"en": "Source", "zh": "来源"},
    "table": {"en": "Table", "zh": "表"},
    "rule": {"en": "Rule", "zh": "规则"},
    "field": {"en": "Field", "zh": "字段"},
    "rows": {"en": "Rows", "zh": "行数"},
    "example_value": {"en": "Example value", "zh": "示例值"},
    "example_reason": {"en": "Example reason", "zh": "示例原因"},
    "reconciliation": {"en": "Reconciliation: read = loaded + quarantined", "zh": "对账：读取 = 加载 + 隔离"},
    "partitions": {"en": "Partitions", "zh": "分区数"},
    "rows_read": {"en": "Read", "zh": "读取"},
    "rows_loaded": {"en": "Loaded", "zh": "加载"},
    "rows_quarantined": {"en": "Quarantined", "zh": "隔离"},
    "balanced": {"en": "Balanced", "zh": "平衡"},
    "rejected": {"en": "Rejected partitions", "zh": "被拒分区"},
    "attention": {"en": "Partitions needing attention", "zh": "需关注的分区"},
    "partition_date": {"en": "Partition", "zh": "分区"},
    "freshness": {"en": "Freshness", "zh": "数据新鲜度"},
    "latest_partition": {"en": "Latest partition", "zh": "最新分区"},
    "age_days": {"en": "Age (days)", "zh": "滞后天数"},
    "max_age_days": {"en": "Allowed (days)", "zh": "允许天数"},
    "lint": {"en": "Catalog lint findings", "zh": "指标目录检查结果"},
    "ok": {"en": "ok", "zh": "正常"},
    "stale": {"en": "stale", "zh": "过期"},
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
    "error": {"en": "error", "zh": "错误"},
    "warning": {"en": "warning", "zh": "警告"},
    "info": {"en": "info", "zh": "提示"},
    "checks_passed": {"en": "Checks passed", "zh": "通过的检查"},
    "checks_failed": {"en": "Checks failed", "zh": "失败的检查"},
    "rows_quarantined_total": {"en": "Rows quarantined", "zh": "隔离行数"},
    "unbalanced": {"en": "Unbalanced partitions", "zh": "不平衡分区"},
    "stale_sources": {"en": "Stale tables", "zh": "过期的表"},
    "lint_errors": {"en": "Lint errors", "zh": "目录错误"},
    "count": {"en": "Count", "zh": "数量"},
}

STATUS_KEYS = {
    "met": "st_met",
    "at_risk": "st_at_risk",
    "missed": "st_missed",
    "on_track": "st_on_track",
    "off_track": "st_off_track",
}

DIMENSIONS: dict[str, dict[str, str]] = {
    "org_unit": {"en": "Sub-unit", "zh": "下级单元"},
    "product_category": {"en": "Product category", "zh": "产品类别"},
    "channel": {"en": "Channel", "zh": "渠道"},
    "region": {"en": "Region", "zh": "区域"},
    "segment": {"en": "Customer segment", "zh": "客户群"},
    "priority": {"en": "Priority", "zh": "优先级"},
}

#: Chinese names of the demo company's dimension values; anything else prints as it is.
DIMENSION_VALUES_ZH: dict[str, str] = {
    "instruments": "仪器",
    "sensors": "传感器",
    "software": "软件",
    "services": "服务",
    "consumables": "耗材",
    "direct": "直销",
    "distributor": "经销",
    "online": "线上",
    "partner": "合作伙伴",
    "phone": "电话",
    "email": "邮件",
    "chat": "在线聊天",
    "wechat": "微信",
    "east": "华东",
    "north": "华北",
    "south": "华南",
    "west": "西部",
    "central": "华中",
    "enterprise": "大型企业",
    "smb": "中小企业",
    "public_sector": "公共部门",
}

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (str, list, tuple, dict)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


class I18n:
    """Labels, names and dates in one language (`en` or `zh`)."""

    def __init__(self, lang: str = "en") -> None:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
        self.lang = lang

    def __call__(self, key: str) -> str:
        return self.t(key)

    def t(self, key: str) -> str:
        entry = LABELS.get(key)
        if entry is None:
            raise KeyError(f"no label {key!r}")
        return entry[self.lang]

    @property
    def html_lang(self) -> str:
        return "zh-CN" if self.lang == "zh" else "en"

    def status(self, status: str | None, *, verified: bool = True) -> str:
        if not verified:
            return self.t("st_unverified")
        if _blank(status):
            return self.t("st_no_target")
        return self.t(STATUS_KEYS.get(str(status), "st_no_target"))

    def name(self, row: Mapping[str, Any]) -> str:
        """A KPI's, unit's or objective's display name: `name_zh` in Chinese when it is set."""
        if self.lang == "zh" and not _blank(row.get("name_zh")) and str(row.get("name_zh")).strip():
            return str(row["name_zh"])
        value = row.get("name")
        return str(value) if not _blank(value) else str(row.get("kpi_id") or row.get("org_unit_id") or "")

    def dimension(self, dimension: str) -> str:
        entry = DIMENSIONS.get(dimension)
        return entry[self.lang] if entry else dimension

    def dimension_value(self, value: Any) -> str:
        if _blank(value):
            return "—"
        text = str(value)
        if self.lang == "zh":
            return DIMENSION_VALUES_ZH.get(text, text)
        return text

    def grain(self, grain: str) -> str:
        return self.t(grain) if grain in LABELS else grain

    def period(self, start: date, grain: str) -> str:
        """`Oct 2025` / `2025年10月`, `2025 Q4` / `2025年第4季度`, `2025` / `2025年`, a day as ISO."""
        if grain == "month":
            return f"{start.year}年{start.month}月" if self.lang == "zh" else f"{_MONTHS_EN[start.month - 1]} {start.year}"
        if grain == "quarter":
            q = (start.month - 1) // 3 + 1
            return f"{start.year}年第{q}季度" if self.lang == "zh" else f"{start.year} Q{q}"
        if grain == "year":
            return f"{start.year}年" if self.lang == "zh" else str(start.year)
        return start.isoformat()

    def month_short(self, month: int) -> str:
        return f"{month}月" if self.lang == "zh" else _MONTHS_EN[month - 1]

    def severity(self, severity: str | None) -> str:
        key = f"sev_{severity}"
        return self.t(key) if key in LABELS else str(severity or "—")

    def kind(self, kind: str | None) -> str:
        key = f"kind_{kind}"
        return self.t(key) if key in LABELS else str(kind or "—")

    def check_status(self, status: str | None) -> str:
        key = f"chk_{status}"
        return self.t(key) if key in LABELS else str(status or "—")

    def unit_type(self, unit_type: Any) -> str:
        key = f"type_{unit_type}"
        return self.t(key) if key in LABELS else ("" if _blank(unit_type) else str(unit_type))

    def load_status(self, status: Any) -> str:
        key = f"load_{status}"
        return self.t(key) if key in LABELS else ("" if _blank(status) else str(status))

    def layer(self, layer: Any) -> str:
        key = f"layer_{layer}"
        return self.t(key) if key in LABELS else str(layer)

    def yes_no(self, value: Any) -> str:
        if _blank(value):
            return "—"
        return self.t("yes") if bool(value) else self.t("no")
