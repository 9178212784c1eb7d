"""Extract assets: one per source table, writing the raw lake (thin adapters over pipelines.extract).

Keys are ``[raw_<source>, <table>]`` — the dbt sources they feed. Time-based tables are partitioned
by local business day; one run may cover a range of days (single-run backfill policy), which the
engine reads and validates in one batch. Each materialization reports the reconciliation
(read = loaded + quarantined) and two checks: `reconciliation` (blocking: a row lost is never
acceptable) and `batches_accepted` (warning: a rejected file leaves that partition unverified).
"""


import errno
import time
from datetime import date
from pathlib import Path

import dagster as dg

from pipelines.extract.registry import SOURCE_TABLES, SourceTable
from pipelines.extract.run import (
    ExtractConfig,
    LoadResult,
    extract_partitions,
    extract_unpartitioned,
    reject_partitions,
)
from pipelines.orchestration.resources import LakeResource
from pipelines.orchestration.run_dates import as_of_of

SOURCE_SYSTEMS = {
    "erp": "ERP/CRM database (SQLAlchemy URL; demo: SQLite)",
    "hr": "HR database (SQLAlchemy URL; demo: SQLite)",
    "servicedesk": "Service desk: daily CSV exports in GB18030 (landing/servicedesk)",
    "survey": "Customer survey API dump: daily JSON lines (landing/survey)",
    "mes": "Manufacturing execution system: daily Parquet (landing/mes)",
    "engineering": "Issue tracker and CI: daily JSON lines (landing/engineering)",
    "finance": "Finance planning workbooks: XLSX (landing/finance)",
    "checkins": "Owners' check-ins: CSV files (landing/checkins) and `kpi checkin`",
}


def daily_partitions(start: date, timezone: str) -> dg.DailyPartitionsDefinition:
    """Local business days from ``start`` in the company's ``timezone``."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone=timezone)


def source_system_specs() -> list[dg.AssetSpec]:
    """The systems we read from, shown upstream of the raw lake (observed, not materialized)."""
    return [
        dg.AssetSpec(
            key=["source", name],
            description=description,
            group_name="sources",
            kinds={"sqlite" if name in ("erp", "hr") else "file"},
            owners=["team:data-engineering"],
        )
        for name, description in SOURCE_SYSTEMS.items()
    ]


def summarize(results: list[LoadResult], seconds: float) -> tuple[dict, list[dg.AssetCheckResult]]:
    read = sum(r.rows_read for r in results)
    loaded = sum(r.rows_loaded for r in results)
    quarantined = sum(r.rows_quarantined for r in results)
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    rejected = [r for r in results if r.status == "rejected"]
    unbalanced = [r for r in results if r.rows_read != r.rows_loaded + r.rows_quarantined]
    metadata = {
        "partitions": len(results),
        "rows_read": read,
        "rows_loaded": loaded,
        "rows_quarantined": quarantined,
        "partitions_by_status": by_status,
        "seconds": round(seconds, 2),
    }
    if rejected:
        metadata["rejected"] = dg.MetadataValue.md(
            "\n".join(f"- {r.partition_date}: {r.message}" for r in rejected[:20])
        )
    checks = [
        dg.AssetCheckResult(
            check_name="reconciliation",
            passed=not unbalanced,
            metadata={"rows_read": read, "rows_loaded": loaded, "rows_quarantined": quarantined,
                      "unbalanced_partitions": [str(r.partition_date) for r in unbalanced][:20]},
        ),
        dg.AssetCheckResult(
            check_name="batches_accepted",
            passed=not rejected,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"rejected_partitions": [str(r.partition_date) for r in rejected][:50]},
            description=rejected[0].message if rejected else None,
        ),
    ]
    return metadata, checks


#: Attempts after the first for an error that may pass by itself (a network blip, a busy file).
EXTRACT_RETRIES = 3
_TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED,
                     errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNABORTED}


def is_transient(exc: BaseException) -> bool:
    """An error that may not happen again if the step is retried in a few seconds."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _TRANSIENT_ERRNOS
    return type(exc).__name__ in ("OperationalError", "InterfaceError") and "sqlalchemy" in type(exc).__module__


def source_failed(table: SourceTable, cfg: ExtractConfig, dates: list[date], exc: Exception) -> list[LoadResult]:
    """The table's source failed as a whole: its partitions are recorded rejected with the reason, once,
    and the step succeeds, so that the night goes on for every other source (the warehouse marks what
    needed this one unverified). Only when even that cannot be written does the step fail."""
    from pipelines.user_errors import describe

    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"extraction failed: {type(exc).__name__}{': ' + detail[:300] if detail else ''} (rule: source)"
    try:
        return reject_partitions(table, cfg, dates, message)
    except Exception as second:
        reason = describe(second, cfg.lake_dir) or f"{type(second).__name__}: {second}"
        raise dg.Failure(description=f"{table.name}: {message}; recording the rejection failed too: {reason}",
                         allow_retries=False) from second


def build_extract_asset(table: SourceTable, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = dg.AssetKey([f"raw_{table.source}", table.table])
    check_specs = [
        dg.AssetCheckSpec("reconciliation", asset=key, blocking=True,
                          description="Every source row is loaded or quarantined: read = loaded + quarantined."),
        dg.AssetCheckSpec("batches_accepted", asset=key,
                          description="No file or batch of this table was rejected (missing/changed columns, "
                                      "encoding, unreadable file)."),
    ]

    @dg.asset(
        key=key,
        description=table.description,
        group_name="raw",
        # Reference checks read the dimensions already in the lake: extract those first.
        deps=[dg.AssetKey(["source", table.source]),
              *(dg.AssetKey([f"raw_{ref.split('.')[0]}", ref.split(".")[1]]) for ref in table.references)],
        partitions_def=partitions_def if table.partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if table.partitioned else None,
        check_specs=check_specs,
        kinds={"parquet", "python"},
        owners=["team:data-engineering"],
        # retried only for errors that may pass (is_transient); anything else is a rejection, once
        retry_policy=dg.RetryPolicy(max_retries=EXTRACT_RETRIES, delay=10, backoff=dg.Backoff.EXPONENTIAL),
        metadata={"lake_path": f"lake/raw/{table.source}/{table.table}/"},
    )
    def _extract(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        started = time.monotonic()
        dates = [date.fromisoformat(k) for k in context.partition_keys] if table.partitioned else []
        # the run's "today" for the future-date rule: its as-of date when it has one (a back-fill,
        # a re-run of old days), else its last day — so grouping days into runs changes nothing
        cfg = lake.extract_config(as_of_of(context) or (max(dates) if dates else None), progress=context.log.info)
        try:
            results = extract_partitions(table, dates, cfg) if table.partitioned else extract_unpartitioned(table, cfg)
        except Exception as exc:
            if is_transient(exc) and context.retry_number < EXTRACT_RETRIES:
                context.log.warning(f"{key.to_user_string()}: {type(exc).__name__}: {exc} — may pass; retrying")
                raise
            results = source_failed(table, cfg, dates, exc)
            context.log.error(f"{key.to_user_string()}: {results[0].message}")
        metadata, checks = summarize(results, time.monotonic() - started)
        context.log.info(
            f"{key.to_user_string()}: {metadata['rows_read']} read, {metadata['rows_loaded']} loaded, "
            f"{metadata['rows_quarantined']} quarantined over {metadata['partitions']} partition(s)"
        )
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return _extract


def extract_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [*(build_extract_asset(t, partitions_def) for t in SOURCE_TABLES), raw_checkins]


@dg.asset(
    key=["raw_checkins", "comments"],
    description="Owners' check-ins (landing/checkins/*.csv, `kpi checkin`) snapshotted into the raw lake; "
                "unusable rows quarantined with file, line and reason.",
    group_name="raw",
    deps=[dg.AssetKey(["source", "checkins"])],
    kinds={"parquet", "python"},
    owners=["team:data-engineering"],
)
def raw_checkins(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from pipelines.checkins import snapshot_checkins

    load = snapshot_checkins(Path(lake.landing_dir), Path(lake.lake_dir), timezone=lake.timezone)
    return dg.MaterializeResult(metadata=load.as_metadata())
