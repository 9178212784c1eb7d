"""Publish, report and alert assets: everything a reader sees, after every blocking check passed.

They depend on the whole dbt build: when a blocking check fails, dbt's step fails and these are
skipped, so the previous serving copy, reports and alerts stay as they were. Thin adapters: the work
is in ``pipelines.publish``, ``pipelines.reporting`` and ``pipelines.alerts``; what they need comes
from the resources (``pipelines.orchestration.resources``).
"""


import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.locks import WAREHOUSE_POOL, warehouse_lock
from pipelines.orchestration.dbt_project import manifest_path
from pipelines.orchestration.resources import AlertsResource, ServingResource, WarehouseResource

SERVING_KEY = dg.AssetKey(["serving", "kpi_duckdb"])
PARQUET_KEY = dg.AssetKey(["serving", "parquet"])
POSTGRES_KEY = dg.AssetKey(["serving", "postgres"])
REPORTS_KEY = dg.AssetKey(["reports", "nightly_reports"])
ALERTS_KEY = dg.AssetKey(["alerts", "owner_alerts"])


def pii_columns_from_manifest(manifest_file: Path) -> list[tuple[str, str]]:
    """(table, column) pairs of mart columns tagged ``pii`` in the dbt YAML."""
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
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


def mart_docs_from_manifest(manifest_file: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """({mart: description}, {mart: {column: description}}) from the dbt docs, for the serving copies'
    table and column comments."""
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    tables: dict[str, str] = {}
    columns: dict[str, dict[str, str]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("schema") != "marts":
            continue
        if node.get("description"):
            tables[node["name"]] = node["description"].strip()
        columns[node["name"]] = {name: column["description"].strip()
                                 for name, column in node.get("columns", {}).items() if column.get("description")}
    return tables, columns


def warehouse_as_of(warehouse: Path) -> date | None:
    """The as-of date the warehouse was built for (the latest day in kpi_actuals)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "select max(period_end) from marts.kpi_actuals where grain = 'day'"
        ).fetchone()
    return row[0] if row and row[0] else None


def publish_assets(dbt_build: dg.AssetsDefinition) -> list[dg.AssetsDefinition]:
    """The serving copies, reports and alerts, downstream of every asset of ``dbt_build``."""

    @dg.asset(
        key=SERVING_KEY,
        deps=[dbt_build],
        group_name="publish",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        description="Read-only copy of schema marts for analysts and BI tools (serving/kpi.duckdb), "
                    "swapped in atomically; the last copies are kept for `kpi rollback`.",
    )
    def serving_duckdb(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       serving: ServingResource) -> dg.MaterializeResult:
        from pipelines.publish import publish_duckdb

        manifest = manifest_path(Path(serving.dbt_project_dir), Path(serving.dbt_target_path))
        table_docs, column_docs = mart_docs_from_manifest(manifest)
        warehouse_path = Path(warehouse.warehouse_path)
        with warehouse_lock(warehouse_path, on_wait=context.log.info):
            as_of = warehouse_as_of(warehouse_path)
            result = publish_duckdb(
                warehouse_path,
                Path(serving.serving_dir),
                keep=serving.keep,
                mask_person_names=not serving.show_person_names,
                pii_columns=pii_columns_from_manifest(manifest),
                as_of_date=as_of,
                run_id=context.run_id,
                table_docs=table_docs,
                column_docs=column_docs,
                storage_version=serving.duckdb_storage_version,
            )
        return dg.MaterializeResult(metadata={**result.to_dict(), "as_of_date": str(as_of)})

    return [serving_duckdb, serving_parquet, serving_postgres, nightly_reports, owner_alerts]


@dg.asset(
    key=PARQUET_KEY,
    deps=[SERVING_KEY],
    group_name="publish",
    kinds={"parquet"},
    owners=["team:data-engineering"],
    description="The published marts as Parquet, one folder per mart (serving/parquet/<mart>/); all marts "
                "of a night switch at once.",
)
def serving_parquet(context: dg.AssetExecutionContext, serving: ServingResource) -> dg.MaterializeResult:
    from pipelines.publish.targets import publish_parquet

    exported = publish_parquet(serving.targets(), context.run_id)
    return dg.MaterializeResult(metadata={"marts": len(exported),
                                          "rows": sum(v["rows"] for v in exported.values())})


@dg.asset(
    key=POSTGRES_KEY,
    deps=[SERVING_KEY],
    group_name="publish",
    kinds={"postgres"},
    owners=["team:data-engineering"],
    description="The published marts in PostgreSQL (schema marts, swapped in one transaction) with a "
                "read-only role and per-unit roles (row-level security); skipped unless KPI_SERVING_PG_URL is set.",
)
def serving_postgres(context: dg.AssetExecutionContext, serving: ServingResource) -> dg.MaterializeResult:
    from pipelines.publish.targets import publish_pg

    result = publish_pg(serving.targets(), context.run_id)
    if result is None:
        return dg.MaterializeResult(metadata={"status": "not configured (KPI_SERVING_PG_URL unset)"})
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
def nightly_reports(context: dg.AssetExecutionContext, serving: ServingResource) -> dg.MaterializeResult:
    from pipelines.publish import current_night
    from pipelines.reporting import build_reports, prune_reports

    night = current_night(Path(serving.serving_dir))
    if night is None:
        raise dg.Failure(description=f"nothing is published in {serving.serving_dir}: no reports to build")
    config = serving.report_config()
    paths = build_reports(night, config)
    # the night just written is kept even when it is older than the kept ones (a back-fill of old days)
    removed = prune_reports(config.reports_dir, serving.reports_keep,
                            protect=date.fromisoformat(paths[0].parent.name)) if paths else []
    if removed:
        context.log.info(f"removed the reports of {len(removed)} older night(s) (KPI_REPORTS_KEEP={serving.reports_keep})")
    return dg.MaterializeResult(metadata={
        "reports": len(paths),
        "directory": dg.MetadataValue.path(str(paths[0].parent)) if paths else "",
        "files": [p.name for p in paths],
        "removed_nights": removed,
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
def owner_alerts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 alerts: AlertsResource) -> dg.MaterializeResult:
    from pipelines.alerts import run_alerts

    warehouse_path = Path(warehouse.warehouse_path)
    # The private warehouse, not the serving copy: alerts need the owners' real e-mail addresses,
    # which the serving copies mask.
    with warehouse_lock(warehouse_path, on_wait=context.log.info), \
            duckdb.connect(str(warehouse_path), read_only=True) as con:
        as_of = con.execute("select max(period_end) from marts.kpi_actuals where grain = 'day'").fetchone()[0]
        anomalies = con.execute("select * from marts.kpi_anomalies").df()
        attainment = con.execute("select * from marts.kpi_attainment").df()
        definitions = con.execute("select * from marts.kpi_definitions").df()
        org_units = con.execute("select * from marts.dim_org_unit").df()
        employees = con.execute("select * from marts.dim_employee").df()
        weights = con.execute("select * from marts.kpi_weights").df()
    report = run_alerts(
        Path(alerts.outbox_path),
        as_of_date=as_of or datetime.now(UTC).date(),
        anomalies=anomalies,
        attainment=attainment,
        kpi_definitions=definitions,
        org_units=org_units,
        employees=employees,
        webhooks=alerts.webhooks(),
        smtp=alerts.smtp(),
        min_severity=alerts.min_severity,
        ack_hours=alerts.ack_hours,
        kpi_weights=weights,
    )
    summary = report.to_dict()
    return dg.MaterializeResult(metadata={
        "created": len(summary["created"]),
        "already_known": len(summary["already_known"]),
        "escalated": len(summary["escalated"]),
        "outbox": dict(summary["outbox_counts"]),
    })
