"""Reports: mart frames → plotly figures → self-contained HTML (plus CSV/Parquet of every table).

Pure Python, no Dagster: the pipeline's report assets and `kpi report` call these functions.

- `build_attainment_report` — the daily view: tiles, bullet charts, trends, goal tree, scorecards.
- `build_review_report` — 复盘 of a month or quarter with gap attribution waterfalls.
- `build_anomaly_report` — the day's anomalies by severity, each with its chart and owner.
- `build_quality_report` — checks, quarantine, reconciliation, freshness, catalog lint.
- `build_all` — every report of a nightly run into one folder.
- `gap_attribution` and friends (`reports.attribution`) — the pure decomposition of a KPI's gap.
"""

from reports.anomaly import build_anomaly_report
from reports.attainment import build_attainment_report
from reports.attribution import (
    Attribution,
    Component,
    Part,
    RatioComponent,
    additive_children,
    additive_dimension,
    gap_attribution,
    ratio_children,
    ratio_mix_rate,
)
from reports.build import build_all
from reports.quality import (
    QualityInputs,
    build_quality_report,
    lint_frame,
    quality_inputs_from_warehouse,
    quarantine_summary,
)
from reports.review import build_review_report
from reports.scope import UnknownOrgUnit

__all__ = [
    "Attribution",
    "Component",
    "Part",
    "QualityInputs",
    "RatioComponent",
    "UnknownOrgUnit",
    "additive_children",
    "additive_dimension",
    "build_all",
    "build_anomaly_report",
    "build_attainment_report",
    "build_quality_report",
    "build_review_report",
    "gap_attribution",
    "lint_frame",
    "quality_inputs_from_warehouse",
    "quarantine_summary",
    "ratio_children",
    "ratio_mix_rate",
]
