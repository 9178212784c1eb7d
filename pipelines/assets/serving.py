"""Publish, report and alert assets: everything a reader sees, after every blocking check passed.

They depend on the whole dbt build: when a blocking check fails, dbt's step fails and these are
skipped, so the previous serving copy, reports and alerts stay as they were.
"""


import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.assets.dbt import warehouse_dbt_assets
from pipelines.dbt_project import MANIFEST_PATH
from pipelines.locks import WAREHOUSE_POOL, warehouse_lock
from pipelines.settings import get_settings

SERVING_KEY = dg.AssetKey(["serving", "kpi_duckdb"])
PARQUET_KEY = dg.AssetKey(["serving", "parquet"])
POSTGRES_KEY = dg.AssetKey(["serving", "postgres"])
REPORTS_KEY = dg.AssetKey(["reports", "nightly_reports"])
ALERTS_KEY = dg.AssetKey(["alerts", "owner_alerts"])


def pii_columns_from_manifest(manifest_path: Path = MANIFEST_PATH) -> list[tuple[str, str]]:
    """(table, column) pairs of mart columns tagged ``pii`` in the dbt YAML."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    pairs: list[tuple[str, str]] = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("schema") != "marts":
            continue
        for column in node.get("columns", {}).values():
            tags = set(column.get("tags") or []) | set(column.get("config", {}).get("tags") or [])
            meta = column.get("meta") or column.get("config", {}).get("meta") or {}
            if "pii" in tags or meta.get("pii"):
                pairs.append((node["name"], column["name"]))
    return sorted(pairs)


def warehouse_as_of(warehouse: Path) -> date | None:
    """The as-of date the warehouse was built for (the latest day in kpi_actuals)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "select max(period_end) from marts.kpi_actuals where grain = 'day'"
        ).fetchone()
    return row[0] if row and row[0] else None


@dg.asset(
    key=SERVING_KEY,
    deps=[warehouse_dbt_assets],
    group_name="publish",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    owners=["team:data-engineering"],
    description="Read-only copy of schema marts for analysts and BI tools (serving/kpi.duckdb), "
                "swapped in atomically; the last copies are kept for `kpi rollback`.",
)
def serving_duckdb(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from pipelines.publish import publish_duckdb

    s = get_settings()
    with warehouse_lock(s.warehouse_path, on_wait=context.log.info):
        as_of = warehouse_as_of(s.warehouse_path)
        result = publish_duckdb(
            s.warehouse_path,
            s.serving_dir,
            keep=s.serving_keep,
            mask_person_names=not s.serving_show_person_names,
            pii_columns=pii_columns_from_manifest(),
            as_of_date=as_of,
            run_id=context.run_id,
        )
    return dg.MaterializeResult(metadata={**result.to_dict(), "as_of_date": str(as_of)})


@dg.asset(
    key=PARQUET_KEY,
    deps=[SERVING_KEY],
    group_name="publish",
    kinds={"parquet"},
    owners=["team:data-engineering"],
    description="The published marts as Parquet, one folder per mart (serving/parquet/<mart>/).",
)
def serving_parquet(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from pipelines.publish import export_parquet

    s = get_settings()
    exported = export_parquet(s.serving_dir / "kpi.duckdb", s.serving_dir / "parquet")
    return dg.MaterializeResult(metadata={"marts": len(exported),
                                          "rows": sum(v["rows"] for v in exported.values())})


@dg.asset(
    key=POSTGRES_KEY,
    deps=[SERVING_KEY],
    group_name="publish",
    kinds={"postgres"},
    owners=["team:data-engineering"],
    description="The published marts in PostgreSQL (schema marts, swapped in one transaction) with a "
                "read-only role; skipped unless KPI_SERVING_PG_URL is set.",
)
def serving_postgres(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from pipelines.publish import publish_postgres

    s = get_settings()
    if s.serving_pg_url is None:
        return dg.MaterializeResult(metadata={"status": "not configured (KPI_SERVING_PG_URL unset)"})
    result = publish_postgres(
        s.serving_dir / "kpi.duckdb",
        s.serving_pg_url.get_secret_value(),
        readonly_role=s.serving_pg_readonly_role,
        run_id=context.run_id,
    )
    return dg.MaterializeResult(metadata=result.to_dict())


@dg.asset(
    key=REPORTS_KEY,
    deps=[SERVING_KEY],
    group_name="reports",
    kinds={"html", "plotly"},
    owners=["team:analytics-engineering"],
    description="Attainment, review, anomaly and data-quality reports (self-contained HTML) in "
                "<data>/reports/<as-of date>/.",
)
def nightly_reports(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from pipelines.execution import build_reports

    paths = build_reports(as_of=None, org=None, lang=None, run_id=context.run_id)
    return dg.MaterializeResult(metadata={
        "reports": len(paths),
        "directory": dg.MetadataValue.path(str(paths[0].parent)) if paths else "",
        "files": [p.name for p in paths],
    })


@dg.asset(
    key=ALERTS_KEY,
    deps=[SERVING_KEY],
    group_name="alerts",
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    owners=["team:data-engineering"],
    description="Owner alerts for new anomalies and KPIs turning off track: outbox (state/alerts.sqlite), "
                "webhooks and email; deduplicated, digested per owner, escalated when not acknowledged.",
)
def owner_alerts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from pipelines.alerts import SmtpConfig, run_alerts

    s = get_settings()
    # The private warehouse, not the serving copy: alerts need the owners' real e-mail addresses,
    # which the serving copies mask.
    with warehouse_lock(s.warehouse_path, on_wait=context.log.info), \
            duckdb.connect(str(s.warehouse_path), read_only=True) as con:
        as_of = con.execute("select max(period_end) from marts.kpi_actuals where grain = 'day'").fetchone()[0]
        anomalies = con.execute("select * from marts.kpi_anomalies").df()
        attainment = con.execute("select * from marts.kpi_attainment").df()
        definitions = con.execute("select * from marts.kpi_definitions").df()
        org_units = con.execute("select * from marts.dim_org_unit").df()
        employees = con.execute("select * from marts.dim_employee").df()
        weights = con.execute("select * from marts.kpi_weights").df()
    smtp = None
    if s.smtp_host:
        smtp = SmtpConfig(s.smtp_host, s.smtp_port, s.smtp_user,
                          s.smtp_password.get_secret_value() if s.smtp_password else None, s.smtp_sender)
    report = run_alerts(
        s.alerts_outbox_path,
        as_of_date=as_of or datetime.now(UTC).date(),
        anomalies=anomalies,
        attainment=attainment,
        kpi_definitions=definitions,
        org_units=org_units,
        employees=employees,
        webhooks=s.webhooks,
        smtp=smtp,
        min_severity=s.alert_min_severity,
        ack_hours=s.alert_ack_hours,
        kpi_weights=weights,
    )
    summary = report.to_dict()
    return dg.MaterializeResult(metadata={
        "created": len(summary["created"]),
        "already_known": len(summary["already_known"]),
        "escalated": len(summary["escalated"]),
        "outbox": dict(summary["outbox_counts"]),
    })
