"""The two simple reference detectors every benchmark reports beside ours, on plain value arrays.

* :func:`trailing_mean_sigma` — the common dbt-package rule: outside the mean ± 3 standard
  deviations of the previous 14 points (anomalies included).
* :func:`rolling_median_mad` — a robust z-score against the median and the MAD (scaled to σ) of the
  previous 30 points, flagged beyond ``k`` (3.5: the usual modified-z cut of Iglewicz & Hoaglin);
  a window with no spread (MAD 0) flags nothing.

Both are causal and untuned; NaN values are never flagged and do not count in the windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def trailing_mean_sigma(values: np.ndarray, window: int = 14, k: float = 3.0) -> np.ndarray:
    s = pd.Series(np.asarray(values, dtype=float)).shift(1)
    mean = s.rolling(window, min_periods=window).mean().to_numpy()
    sd = s.rolling(window, min_periods=window).std().to_numpy()
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(v - mean) / sd
    z = np.where(sd == 0, np.where(v == mean, 0.0, np.inf), z)
    return np.nan_to_num(z, nan=0.0) > k


def rolling_median_mad(values: np.ndarray, window: int = 30, k: float = 3.5) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return np.zeros(0, dtype=bool)
    padded = np.r_[np.full(window, np.nan), v[:-1]]
    win = np.lib.stride_tricks.sliding_window_view(padded, window)[: len(v)]
    n = np.sum(np.isfinite(win), axis=1)
    with np.errstate(invalid="ignore"):
        srt = np.sort(win, axis=1)
    med = _row_median(srt, n)
    dev = np.sort(np.abs(win - med[:, None]), axis=1)
    mad = 1.4826 * _row_median(dev, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(v - med) / mad
    z = np.where((mad > 0) & (n >= window // 2), z, 0.0)
    return np.nan_to_num(z, nan=0.0) > k


def _row_median(sorted_rows: np.ndarray, n: np.ndarray) -> np.ndarray:
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, None)
    rows = np.arange(len(n))
    width = sorted_rows.shape[1]
    out = 0.5 * (sorted_rows[rows, np.minimum(lo, width - 1)] + sorted_rows[rows, np.minimum(hi, width - 1)])
    return np.where(n > 0, out, np.nan)


def markdown_table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    """A DataFrame as a Markdown table (no extra dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [floatfmt.format(x) if isinstance(x, float) and np.isfinite(x) else ("–" if isinstance(x, float)
                 else str(x)) for x in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
