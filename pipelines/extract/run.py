"""Entry points: extract source partitions into the raw lake, quarantine and load log.

``extract_partitions`` handles the daily tables (databases and landing files): one call may cover
hundreds of dates; it reads a run of consecutive dates at once (one query / all files), validates
them as one batch against the table's contract, and writes one raw file, one quarantine file and
one load-log file per date. ``extract_unpartitioned`` handles the finance workbooks.

Nothing is lost: per partition ``rows_read = rows_loaded + rows_quarantined``; a rejected batch
keeps its landing file untouched and the previously loaded raw partition in place.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.extract import lake
from pipelines.extract.readers import (
    IrregularRows,
    PartitionRead,
    read_database,
    read_irregular,
    read_landing_file,
    read_workbooks,
    redact,
)
from pipelines.extract.readers.base import rejected
from pipelines.extract.registry import SOURCE_TABLES, SourceTable
from quality.contracts import ReferenceKeys, validate_batch, volume_warning
from quality.contracts.coerce import value_text

Status = Literal["loaded", "unchanged", "rejected", "empty"]


@dataclass(frozen=True)
class ExtractConfig:
    """Everything an extraction needs; built by the Dagster assets / CLI from ``Settings``.

    The database URLs may hold passwords: they are excluded from ``repr`` and never written out.
    """

    lake_dir: Path
    landing_dir: Path
    erp_url: str | None = field(default=None, repr=False)
    hr_url: str | None = field(default=None, repr=False)
    timezone: str = "Asia/Shanghai"
    #: The day the run extracts for (default: today in ``timezone``). No rule that judges a row uses
    #: it: rows are judged against their own partition day (see quality.contracts.validate).
    run_date: date | None = None
    future_tolerance_days: int = 1
    progress: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    #: At most this many consecutive dates are read and validated together.
    chunk_days: int = 366
    #: Row budget of one chunk (bounds memory on long back-fills): the first chunk of a call covers
    #: ``first_chunk_days`` dates, each later one as many dates as the rows per date seen so far
    #: allow. Few, large batches keep the fixed cost per batch (one query, one GX validation) low.
    chunk_rows: int = 400_000
    first_chunk_days: int = 14

    #: The wall-clock day in ``timezone`` (default: now); a database watermark after it plus the
    #: tolerance is impossible (a clock error) and its row is quarantined as unplaced.
    today: date | None = None

    def effective_run_date(self) -> date:
        return self.run_date or self.effective_today()

    def effective_today(self) -> date:
        return self.today or datetime.now(ZoneInfo(self.timezone)).date()

    def url_for(self, database: str | None) -> str | None:
        return {"erp": self.erp_url, "hr": self.hr_url}.get(database or "")


@dataclass(frozen=True)
class LoadResult:
    source: str
    table: str
    partition_date: date | None
    status: Status
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    message: str
    path: Path | None
    content_sha256: str | None
    quarantine_path: Path | None = None
    source_ref: str = ""
    batch_id: str = ""
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path) if self.path else None
        out["quarantine_path"] = str(self.quarantine_path) if self.quarantine_path else None
        out["warnings"] = list(self.warnings)
        return out


@dataclass
class _Run:
    """State shared by the chunks of one extraction call."""

    table: SourceTable
    cfg: ExtractConfig
    batch_id: str
    loaded_at: pd.Timestamp
    references: ReferenceKeys
    history: dict[date, int]
    seen_files: dict[str, tuple[str, date | None]]
    #: Load-log rows not yet written: they are written together, once per chunk (see _flush_log).
    pending_log: list[dict[str, Any]] = field(default_factory=list)
    log_files: int = 0


def _new_run(table: SourceTable, cfg: ExtractConfig) -> _Run:
    now = pd.Timestamp(datetime.now(UTC)).floor("us")
    batch_id = f"{table.name}:{now.strftime('%Y%m%dT%H%M%S')}:{uuid.uuid4().hex[:8]}"
    log = lake.read_load_log(cfg.lake_dir, table.source, table.table)
    history: dict[date, int] = {}
    seen: dict[str, tuple[str, date | None]] = {}
    for row in log.itertuples(index=False):
        if row.status == "rejected" or row.partition_date is None or pd.isna(row.partition_date):
            continue
        day = pd.Timestamp(row.partition_date).date()
        history[day] = int(row.rows_read)
        if isinstance(row.source_sha256, str) and row.rows_read > 0:
            seen[row.source_sha256] = (row.source_ref, day)
    keys = ReferenceKeys(functools.partial(lake.raw_table_files, cfg.lake_dir))
    return _Run(table, cfg, batch_id, now, keys, history, seen)


def _runs(dates: Sequence[date], size: int) -> Iterator[list[date]]:
    """Sorted unique dates as runs of consecutive days, at most ``size`` long."""
    current: list[date] = []
    for day in sorted(set(dates)):
        if current and (day != current[-1] + timedelta(days=1) or len(current) >= size):
            yield current
            current = []
        current.append(day)
    if current:
        yield current


class _Chunker:
    """Runs of consecutive dates sized by a row budget: ``size`` adapts to the rows per date seen."""

    def __init__(self, cfg: ExtractConfig) -> None:
        self.max_days = max(1, cfg.chunk_days)
        self.budget = max(1, cfg.chunk_rows)
        self.size = max(1, min(self.max_days, cfg.first_chunk_days))
        self.rows = 0
        self.days = 0

    def chunks(self, dates: Sequence[date]) -> Iterator[list[date]]:
        for run in _runs(dates, len(dates) or 1):
            i = 0
            while i < len(run):
                chunk = run[i:i + self.size]
                i += len(chunk)
                yield chunk

    def observe(self, days: int, rows: int) -> None:
        self.rows += rows
        self.days += days
        per_day = self.rows / max(1, self.days)
        self.size = self.max_days if per_day == 0 else max(1, min(self.max_days, int(self.budget / per_day)))


def extract_partitions(table: SourceTable, dates: Sequence[date], cfg: ExtractConfig) -> list[LoadResult]:
    """Extract the daily partitions ``dates`` of ``table``; one ``LoadResult`` per date (sorted)."""
    if not table.partitioned:
        raise ValueError(f"{table.name} is not daily-partitioned: use extract_unpartitioned()")
    run = _new_run(table, cfg)
    results: list[LoadResult] = []
    chunker = _Chunker(cfg)
    dates = sorted(set(dates) | set(_resolved_orphan_days(run, dates)))
    url = cfg.url_for(table.database) if table.kind == "database" else None
    irregular = _irregular_rows(run, dates, url) if url and dates else None
    for chunk in chunker.chunks(dates):
        if table.kind == "database":
            if not url:
                msg = f"{table.name}: no URL configured for database {table.database!r} (rule: config)"
                reads = [rejected(d, f"{table.table}@{table.database}", msg) for d in chunk]
            elif irregular is not None and irregular.rejection:
                reads = [rejected(d, f"{table.table}@{table.database}", irregular.rejection) for d in chunk]
            else:
                reads = read_database(table, chunk, url, cfg.timezone, irregular)
                for r in reads:
                    if r.rejection:
                        r.rejection = redact(r.rejection, url)
        else:
            reads = [read_landing_file(table, cfg.landing_dir, d) for d in chunk]
        chunker.observe(len(chunk), sum(r.rows_read for r in reads))
        done = _process(run, reads)
        _flush_log(run)
        results.extend(done)
        _progress_summary(run, chunk, done)
        # This chunk is in the lake now: a self-reference (org_units.parent_org_unit_id) in a later
        # chunk must find it, so forget the keys read before it.
        run.references.forget(table.source, table.table)
    if irregular is not None and not irregular.rejection:
        results.extend(_write_unplaced(run, irregular))
    return results


def _irregular_rows(run: _Run, dates: Sequence[date], url: str) -> IrregularRows:
    """The table's rows no day window finds (see ``read_irregular``), read once per call."""
    cfg = run.cfg
    horizon = cfg.effective_today() + timedelta(days=cfg.future_tolerance_days)
    irregular = read_irregular(run.table, dates, url, cfg.timezone, horizon)
    if irregular.rejection:
        irregular.rejection = redact(irregular.rejection, url)
    elif cfg.progress is not None and irregular.fetched:
        cfg.progress(f"{run.table.name}: {irregular.fetched} row(s) with an irregular updated_at: "
                     f"{sum(len(f) for f in irregular.placed.values())} placed on their day, "
                     f"{0 if irregular.unplaced is None else len(irregular.unplaced)} quarantined as unplaced, "
                     f"{irregular.elsewhere} belong to days this run does not extract")
    return irregular


def _write_unplaced(run: _Run, irregular: IrregularRows) -> list[LoadResult]:
    """The table's ``unplaced`` quarantine store: rewritten by every extraction with the rows whose
    watermark puts them in no partition yet (none: the store is removed). Logged when it changes."""
    table, cfg = run.table, run.cfg
    path = lake.unplaced_path(cfg.lake_dir, table.source, table.table)
    rows = irregular.unplaced
    if rows is None or rows.empty:
        if not path.exists():
            return []
        lake.remove_file(path)
        read = PartitionRead(day=None, source_ref=f"{table.table} (unplaced)", tag="unplaced")
        result = _log(run, read, "empty", 0, 0, 0, "no row is unplaced any more: the store is removed",
                      None, None, None, ())
        _flush_log(run)
        return [result]
    columns = list(table.contract.source_column_names)
    ref = f"{table.table}@{table.database} (unplaced)"
    quarantine = pd.DataFrame({
        "_raw": [lake_json({c: value_text(v) for c, v in zip(columns, values, strict=True)})
                 for values in rows[columns].itertuples(index=False, name=None)],
        "_rule": "watermark(updated_at)",
        "_field": "updated_at",
        "_value": [value_text(v) for v in rows["updated_at"].tolist()],
        "_reason": [f"{ref}: {problem}" for problem in rows["_problem"]],
        "_row_number": np.arange(1, len(rows) + 1, dtype=np.int64),
    })
    quarantine["_source"] = ref
    quarantine["_batch_id"] = run.batch_id
    quarantine["_loaded_at"] = run.loaded_at
    q_table = pa.Table.from_pandas(quarantine, schema=lake.QUARANTINE_SCHEMA, preserve_index=False)
    sha = lake.content_sha256(lake.QUARANTINE_SCHEMA, lake.row_hashes(quarantine))
    lake.write_parquet_atomic(q_table, path, sha)
    read = PartitionRead(day=None, source_ref=ref, tag="unplaced")
    kinds = Counter(problem.split(";")[0] for problem in rows["_problem"])
    message = (f"{len(rows)} row(s) belong to no partition yet and are quarantined as unplaced ("
               + ", ".join(f"{n} × {kind}" for kind, n in kinds.most_common()) + ")")
    result = _log(run, read, "loaded", len(rows), 0, len(rows), message, None, None, path, (message,))
    _flush_log(run)
    return [result]


def _resolved_orphan_days(run: _Run, dates: Sequence[date]) -> list[date]:
    """Earlier partitions of the table holding rows quarantined as orphan references whose parent
    has reached the lake since: they are extracted again, so that nothing waits in quarantine for
    a parent that arrived.

    A mutable parent in a database (an order, a product) is partitioned by the local day of its LAST
    update. A child of day D whose parent was updated after D finds no parent when D is extracted in a
    run of its own, but does in a back-fill that extracts the parent's later partition first. Without
    this, the child would stay quarantined for good after single-day runs and be loaded by the
    back-fill: the lake would depend on how the days were grouped into runs."""
    table, cfg = run.table, run.cfg
    references = {col.name: ref for col, ref in table.contract.references}
    root = lake.table_dir(cfg.lake_dir, table.source, table.table, quarantine=True)
    files = sorted(p for p in root.glob(f"date=*/{lake.PART_NAME}") if lake.is_partition_file(p)) \
        if references and root.exists() else []
    wanted, days = set(dates), []
    for path in files:
        day = lake.partition_day(path)
        if day in wanted:
            continue
        if table.kind != "database" and not table.landing_path(cfg.landing_dir, day).exists():
            continue  # the landing file is gone: nothing to read again
        q = pq.read_table(path, columns=["_rule", "_value"]).to_pandas()
        orphans = q[q["_rule"].str.startswith("reference(")]
        for rule, values in orphans.groupby("_rule")["_value"]:
            ref = references.get(rule.removeprefix("reference(").removesuffix(")"))
            keys = run.references.lake_keys(ref) if ref is not None else None
            found = keys is not None and pc.any(
                pc.is_in(pa.array(values.astype("str")), value_set=keys.cast(pa.string()))).as_py()
            if found:
                days.append(day)
                break
    if days and cfg.progress is not None:
        cfg.progress(f"{table.name}: {len(days)} earlier partition(s) with orphan rows whose parent has arrived "
                     f"since are extracted again: {', '.join(str(d) for d in days[:10])}"
                     f"{' …' if len(days) > 10 else ''}")
    return days


def extract_unpartitioned(table: SourceTable, cfg: ExtractConfig) -> list[LoadResult]:
    """Extract a finance table from every plan workbook in the landing folder (one result each)."""
    if table.kind != "xlsx":
        raise ValueError(f"{table.name} is daily-partitioned: use extract_partitions()")
    run = _new_run(table, cfg)
    results = _process(run, read_workbooks(table, cfg.landing_dir))
    _flush_log(run)
    return results


def reject_partitions(table: SourceTable, cfg: ExtractConfig, dates: Sequence[date], message: str) -> list[LoadResult]:
    """Record that ``table`` could not be extracted at all (its source failed in a way no reader
    foresaw): one rejected load-log row per date (one for a workbook table), naming the reason, so
    the warehouse marks what depends on it unverified; partitions loaded earlier stay in the lake."""
    run = _new_run(table, cfg)
    if table.partitioned:
        refs = [(d, table.landing_path(cfg.landing_dir, d).relative_to(cfg.landing_dir).as_posix()
                 if table.kind != "database" else f"{table.table}@{table.database}") for d in sorted(set(dates))]
    else:
        refs = [(None, table.landing_glob or table.name)]
    results = [_reject(run, rejected(day, ref, f"{ref}: {message}"), f"{ref}: {message}") for day, ref in refs]
    _flush_log(run)
    return results


def extract_table(table: SourceTable, cfg: ExtractConfig, dates: Sequence[date] = ()) -> list[LoadResult]:
    """``extract_partitions`` for daily tables, ``extract_unpartitioned`` for the workbooks."""
    if table.partitioned:
        return extract_partitions(table, dates, cfg)
    return extract_unpartitioned(table, cfg)


def extract_all(cfg: ExtractConfig, dates: Sequence[date]) -> list[LoadResult]:
    """Every source table in dependency order (dimensions before the tables that reference them)."""
    results: list[LoadResult] = []
    for table in SOURCE_TABLES:
        results.extend(extract_table(table, cfg, dates))
    return results


# --- one batch ------------------------------------------------------------------------------------


def _process(run: _Run, reads: list[PartitionRead]) -> list[LoadResult]:
    contract = run.table.contract
    results: list[LoadResult] = []
    accepted: list[PartitionRead] = []
    for read in reads:
        if read.rejection is None and read.source_sha256 and read.rows_read > 0:
            prior = run.seen_files.get(read.source_sha256)
            if prior is not None and prior[1] != read.day:
                read = rejected(read.day, read.source_ref,
                                f"{read.source_ref}: duplicated file: identical bytes were already loaded "
                                f"from {prior[0]} for {prior[1]} (rule: duplicate_file)",
                                source_sha256=read.source_sha256, tag=read.tag)
            else:
                run.seen_files[read.source_sha256] = (read.source_ref, read.day)
        if read.rejection is not None:
            results.append(_reject(run, read, read.rejection))
        else:
            accepted.append(read)
    if not accepted:
        return _sorted(results)

    frames = [read.frame for read in accepted if read.frame is not None]
    assert len(frames) == len(accepted)
    batch = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    # which partition (and source file) each row of the batch came from, set once for the batch
    lengths = [len(frame) for frame in frames]
    batch["_partition"] = np.repeat(np.arange(len(frames), dtype=np.int64), lengths)
    batch["_source"] = pd.Series(np.repeat(np.array([r.source_ref for r in accepted], dtype=object), lengths),
                                 dtype="str")
    # every rule that judges a row uses the row's own partition day (never the day the run happens)
    batch["_partition_day"] = np.repeat(
        np.array([np.datetime64(r.day, "D") if r.day else np.datetime64("NaT") for r in accepted],
                 dtype="datetime64[D]"), lengths).astype("datetime64[us]")
    try:
        outcome = validate_batch(
            contract, batch, timezone=run.cfg.timezone,
            future_tolerance_days=run.cfg.future_tolerance_days, references=run.references,
        )
    except Exception as exc:  # a check that cannot run rejects the batch instead of stopping the run
        msg = f"contract checks could not run: {type(exc).__name__}: {exc} (rule: contract)"
        return _sorted(results + [_reject(run, r, f"{r.source_ref}: {msg}") for r in accepted])

    failed = np.zeros(len(batch), dtype=bool)
    failed[outcome.failed_rows] = True
    failures = outcome.failures.set_index("row")
    typed = outcome.typed
    typed["_loaded_at"] = run.loaded_at
    typed["_source"] = pd.Series(batch["_source"].to_numpy(), dtype="str")
    typed["_batch_id"] = run.batch_id
    typed["_row_number"] = batch["_row_number"].to_numpy(dtype=np.int64)
    # one Arrow conversion and one hashing pass for the whole batch; partitions are slices of it
    schema = lake.raw_schema(contract)
    arrow = lake.frame_to_table(typed, schema).combine_chunks()
    hashes = lake.row_hashes(typed)
    source_values = batch[list(contract.column_names)]
    positions = batch.groupby("_partition", sort=True).indices
    for i, read in enumerate(accepted):
        pos = positions.get(i, np.zeros(0, dtype=np.int64))
        ok, bad = pos[~failed[pos]], pos[failed[pos]]
        raw = _rows(arrow, ok)
        quarantine = _quarantine_rows(run, read, bad, failures, source_values, batch)
        results.append(_write(run, read, raw, lake.content_sha256(schema, hashes[ok]), quarantine,
                              outcome.warnings))
    return _sorted(results)


def _rows(table: pa.Table, positions: np.ndarray) -> pa.Table:
    """The rows of ``table`` at ``positions`` (ascending): a zero-copy slice when they are contiguous,
    as a partition's rows in a batch are unless some were quarantined."""
    if len(positions) == 0:
        return table.slice(0, 0)
    first, last = int(positions[0]), int(positions[-1])
    if last - first + 1 == len(positions):
        return table.slice(first, len(positions))
    return table.take(pa.array(positions, type=pa.int64()))


def _sorted(results: list[LoadResult]) -> list[LoadResult]:
    return sorted(results, key=lambda r: (r.partition_date or date.min, r.source_ref))


def _quarantine_rows(run: _Run, read: PartitionRead, bad: np.ndarray, failures: pd.DataFrame,
                     source_values: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame | None:
    """The partition's quarantine rows (None when there are none)."""
    if len(bad) == 0 and not read.parse_failures:
        return None
    columns = list(source_values.columns)
    records: list[dict[str, object]] = []
    for pos, values in zip(bad, source_values.iloc[bad].itertuples(index=False, name=None), strict=True):
        f = failures.loc[pos]
        raw = {c: value_text(v) for c, v in zip(columns, values, strict=True)}
        records.append({
            "_raw": lake_json(raw), "_rule": f["rule"], "_field": f["field"], "_value": f["value"],
            "_reason": f"{read.source_ref} row {int(batch['_row_number'].iat[pos])}: {f['reason']}",
            "_row_number": int(batch["_row_number"].iat[pos]),
        })
    for pf in read.parse_failures:
        records.append({"_raw": pf.raw, "_rule": pf.rule, "_field": pf.field, "_value": pf.value,
                        "_reason": f"{read.source_ref}: {pf.reason}", "_row_number": pf.row_number})
    frame = pd.DataFrame.from_records(
        records, columns=["_raw", "_rule", "_field", "_value", "_reason", "_row_number"]
    )
    frame["_source"] = read.source_ref
    frame["_batch_id"] = run.batch_id
    frame["_loaded_at"] = run.loaded_at
    return frame.sort_values("_row_number", kind="stable").reset_index(drop=True)


def lake_json(values: dict[str, object]) -> str:
    return json.dumps(values, ensure_ascii=False)


def _summary(q: pd.DataFrame) -> str:
    counts = Counter(q["_rule"])
    return ", ".join(f"{n} × {rule}" for rule, n in counts.most_common())


def _write(run: _Run, read: PartitionRead, raw: pa.Table, sha: str, quarantine: pd.DataFrame | None,
           warnings: list[str]) -> LoadResult:
    table, cfg = run.table, run.cfg
    assert read.day is not None
    raw_path = lake.raw_partition_path(cfg.lake_dir, table.source, table.table, read.day)
    q_path = lake.quarantine_partition_path(cfg.lake_dir, table.source, table.table, read.day)
    notes = list(read.notes) + list(warnings)
    rows_read, rows_loaded = read.rows_read, raw.num_rows
    rows_quarantined = 0 if quarantine is None else len(quarantine)
    if rows_read != rows_loaded + rows_quarantined:  # pragma: no cover - an invariant, not an input error
        raise AssertionError(f"{read.source_ref}: {rows_read} read != {rows_loaded} + {rows_quarantined}")

    if read.missing and raw_path.exists():
        sha = lake.stored_sha256(raw_path)
        message = f"no landing file {read.source_ref}; the partition loaded earlier is kept"
        return _log(run, read, "unchanged", 0, 0, 0, message, raw_path, sha, None, ())

    written = lake.write_parquet_atomic(raw, raw_path, sha)
    lake.remove_file(lake.rejected_batch_path(cfg.lake_dir, table.source, table.table, read.day))
    q_written_path: Path | None = None
    if quarantine is not None:
        q_table = pa.Table.from_pandas(quarantine, schema=lake.QUARANTINE_SCHEMA, preserve_index=False)
        q_sha = lake.content_sha256(lake.QUARANTINE_SCHEMA, lake.row_hashes(quarantine))
        lake.write_parquet_atomic(q_table, q_path, q_sha)
        q_written_path = q_path
    else:
        lake.remove_file(q_path)

    volume = volume_warning(table.contract, rows_read,
                            [n for d, n in sorted(run.history.items()) if d < read.day])
    if volume:
        notes.append(volume)
    run.history[read.day] = rows_read
    if rows_read == 0:
        status: Status = "empty"
        message = f"no rows in {read.source_ref} for {read.day}: zero-row partition written"
        if read.missing:
            message = f"no landing file {read.source_ref}: zero-row partition written"
            notes = [n for n in notes if not n.startswith("no landing file")]
    else:
        status = "loaded" if written else "unchanged"
        verb = "loaded" if written else "unchanged (file left as is):"
        message = f"{verb} {rows_loaded} of {rows_read} rows from {read.source_ref}"
        if quarantine is not None:
            message += f"; {rows_quarantined} quarantined ({_summary(quarantine)})"
    if notes:
        message += "; " + "; ".join(dict.fromkeys(notes))
    return _log(run, read, status, rows_read, rows_loaded, rows_quarantined, message, raw_path, sha,
                q_written_path, tuple(dict.fromkeys(notes)))


def _reject(run: _Run, read: PartitionRead, message: str) -> LoadResult:
    table, cfg = run.table, run.cfg
    raw_path = None
    sha = None
    if read.day is not None:
        candidate = lake.raw_partition_path(cfg.lake_dir, table.source, table.table, read.day)
        if candidate.exists():
            raw_path, sha = candidate, lake.stored_sha256(candidate)
            message += "; the partition loaded earlier is kept"
        scoped = _write_rejected_batch(run, read, message)
        if scoped:
            message += (f"; its {scoped} readable row(s) are kept in quarantine ({lake.REJECTED_BATCH_NAME}) "
                        "to mark the values they affect")
    message = f"batch rejected: {message}"
    return _log(run, read, "rejected", 0, 0, 0, message, raw_path, sha, None, ())


def _write_rejected_batch(run: _Run, read: PartitionRead, message: str) -> int:
    """The rows of a rejected batch that could be read, beside the partition's quarantine file (the
    trust flag places the rejection on their own days and org units instead of a whole window)."""
    table, cfg = run.table, run.cfg
    assert read.day is not None
    path = lake.rejected_batch_path(cfg.lake_dir, table.source, table.table, read.day)
    scope = read.scope
    if scope is None or scope.empty:
        lake.remove_file(path)
        return 0
    columns = [c for c in scope.columns if c != "_row_number"]
    frame = pd.DataFrame({
        "_raw": [lake_json({c: value_text(v) for c, v in zip(columns, values, strict=True)})
                 for values in scope[columns].itertuples(index=False, name=None)],
        "_rule": "batch_rejected",
        "_field": None,
        "_value": None,
        "_reason": f"{read.source_ref}: the whole batch was rejected: {message}",
        "_row_number": scope["_row_number"].to_numpy(dtype=np.int64),
    })
    frame["_source"] = read.source_ref
    frame["_batch_id"] = run.batch_id
    frame["_loaded_at"] = run.loaded_at
    q_table = pa.Table.from_pandas(frame, schema=lake.QUARANTINE_SCHEMA, preserve_index=False)
    lake.write_parquet_atomic(q_table, path, lake.content_sha256(lake.QUARANTINE_SCHEMA, lake.row_hashes(frame)))
    return len(frame)


def _log(run: _Run, read: PartitionRead, status: Status, rows_read: int, rows_loaded: int,
         rows_quarantined: int, message: str, path: Path | None, sha: str | None,
         quarantine_path: Path | None, warnings: tuple[str, ...]) -> LoadResult:
    table, cfg = run.table, run.cfg
    result = LoadResult(
        source=table.source, table=table.table, partition_date=read.day, status=status,
        rows_read=rows_read, rows_loaded=rows_loaded, rows_quarantined=rows_quarantined,
        message=message, path=path, content_sha256=sha, quarantine_path=quarantine_path,
        source_ref=read.source_ref, batch_id=run.batch_id, warnings=warnings,
    )
    run.pending_log.append({
        "source": table.source, "table": table.table, "partition_date": read.day, "status": status,
        "rows_read": rows_read, "rows_loaded": rows_loaded, "rows_quarantined": rows_quarantined,
        "message": message, "source_ref": read.source_ref, "batch_id": run.batch_id,
        "loaded_at": run.loaded_at.to_pydatetime(), "content_sha256": sha,
        "source_sha256": read.source_sha256, "_tag": read.tag,
    })
    # One line per partition only when it needs a reader's attention (or for the few workbooks):
    # a log line is an event in the orchestrator's store, and a back-fill has thousands of partitions.
    if cfg.progress is not None and (not table.partitioned or status == "rejected" or rows_quarantined
                                     or warnings):
        cfg.progress(f"{table.name} {read.day or read.source_ref}: {status} — {message}")
    return result


def _flush_log(run: _Run) -> None:
    """Write the pending load-log rows: one row to its partition's own file (a nightly run), several
    (a chunk of a back-fill) to one file for all of them — thousands of one-row files cost the
    extraction and every reader of the log far more than the rows themselves."""
    rows, run.pending_log = run.pending_log, []
    if not rows:
        return
    table, cfg = run.table, run.cfg
    tags = [row.pop("_tag") for row in rows]
    entry = pa.Table.from_pylist(rows, schema=lake.LOAD_LOG_SCHEMA)
    if len(rows) == 1:
        path = lake.load_log_path(cfg.lake_dir, table.source, table.table, rows[0]["partition_date"], tags[0])
    else:
        run.log_files += 1
        path = lake.load_log_batch_path(cfg.lake_dir, table.source, table.table, run.batch_id, run.log_files)
    lake.write_parquet_atomic(entry, path)


def _progress_summary(run: _Run, chunk: list[date], results: list[LoadResult]) -> None:
    """One progress line per chunk of daily partitions: statuses and row counts."""
    if run.cfg.progress is None or not chunk:
        return
    statuses = Counter(r.status for r in results)
    span = str(chunk[0]) if len(chunk) == 1 else f"{chunk[0]} … {chunk[-1]}"
    run.cfg.progress(
        f"{run.table.name} {span}: {len(results)} partition(s) "
        f"({', '.join(f'{n} {status}' for status, n in sorted(statuses.items()))}); "
        f"{sum(r.rows_read for r in results):,} rows read, {sum(r.rows_loaded for r in results):,} loaded, "
        f"{sum(r.rows_quarantined for r in results):,} quarantined"
    )
