"""The same numbers three ways: the floor, the pandas twin and ``marts.kpi_actuals`` of the serving copy."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from .floor import FLOOR_KPIS


def compare_actuals(floor: pd.DataFrame, pandas_frame: pd.DataFrame, serving_db: Path | None,
                    as_of: date) -> dict[str, Any]:
    """The floor against pandas (same rows, same numbers) and against marts.kpi_actuals."""
    key = ["kpi_id", "org_unit_id", "period_start"]

    def norm(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
        frame = frame[frame["period_start"] <= as_of]
        return frame.set_index(key).sort_index()

    def diff(a: pd.DataFrame, b: pd.DataFrame, label: str, missing_ok_zero: bool) -> dict[str, Any]:
        joined = a[["actual_value"]].join(b[["actual_value"]], how="outer", lsuffix="_a", rsuffix="_b")
        only_a = joined["actual_value_b"].isna() & joined["actual_value_a"].notna()
        only_b = joined["actual_value_a"].isna() & joined["actual_value_b"].notna()
        if missing_ok_zero:  # the warehouse has a row (0) for a unit and month without facts
            only_b &= joined["actual_value_b"].fillna(0) != 0
        both = joined.dropna()
        delta = (both["actual_value_a"] - both["actual_value_b"]).abs()
        tolerance = 1e-6 * np.maximum(1.0, both["actual_value_b"].abs())
        mismatched = both[delta > tolerance]
        return {
            "pair": label, "rows_a": int(a.shape[0]), "rows_b": int(b.shape[0]), "compared": int(both.shape[0]),
            "only_in_a": int(only_a.sum()), "only_in_b": int(only_b.sum()),
            "mismatched": int(mismatched.shape[0]), "max_abs_diff": float(delta.max()) if len(delta) else 0.0,
            "examples": [str(x) for x in mismatched.head(3).reset_index().to_dict("records")],
            "same": bool(mismatched.empty and not only_a.any() and not only_b.any()),
        }

    f = norm(floor)
    out = {"floor_vs_pandas": diff(f, norm(pandas_frame), "floor vs pandas", False)}
    if serving_db is not None and serving_db.exists():
        with duckdb.connect(str(serving_db), read_only=True) as con:
            marts = con.execute(
                "select kpi_id, org_unit_id, period_start, actual_value from marts.kpi_actuals "
                "where grain = 'month' and kpi_id in (select unnest(?))", [list(FLOOR_KPIS)]).df()
        out["floor_vs_kpi_actuals"] = diff(f, norm(marts), "floor vs marts.kpi_actuals", True)
    return out




def same_text(checks: dict[str, Any]) -> str:
    """One line: do the floor, pandas and the marts agree?"""
    parts = []
    for key in ("floor_vs_pandas", "floor_vs_kpi_actuals"):
        c = checks.get(key)
        if c is None:
            continue
        mark = "yes" if c["same"] else f"NO ({c['mismatched']} differ, {c['only_in_a']}+{c['only_in_b']} missing)"
        parts.append(f"{'pandas' if key == 'floor_vs_pandas' else 'marts'}: {mark} ({c['compared']:,} rows)")
    return "; ".join(parts)
