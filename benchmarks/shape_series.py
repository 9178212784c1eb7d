"""Synthetic series of many shapes, with and without injected anomalies, to check that a detector
generalises: it must stay quiet on clean series of every shape and find what is injected.

Shapes (each at its own frequency and length): white noise; noise-free and nearly noise-free
periodic signals (hourly, a day of 24 points); a metric flipping between two values (random and
strictly alternating); ramps (noise-free and noisy); a random walk; a trend with weekly seasonality
(daily data, multiplicative); a daily cycle sampled every minute; weekly data; a short series (40
points); series with missing values and a long gap; quantized Poisson counts (λ = 3 and 20);
intermittent counts (λ = 0.1 per hour); heavy-tailed noise (Student t, 3 degrees of freedom); a
constant. The anomalous twin of each gets one spike, one dip and — for series long enough — one
level shift of 20 points, each sized at 6 robust standard deviations of the clean series' own
one-step changes (or of its spread when it has none), so that a good detector can see them.

    python benchmarks/shape_series.py              # score_series vs the references, seeds 1-3

Not a timed test; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


@dataclass
class Shape:
    name: str
    timestamps: pd.DatetimeIndex
    values: np.ndarray
    labels: np.ndarray  # bool per point: inside an injected anomaly


def _ts(n: int, freq: str, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq=freq)


def _clean_shapes(rng: np.random.Generator) -> list[tuple[str, pd.DatetimeIndex, np.ndarray]]:
    out: list[tuple[str, pd.DatetimeIndex, np.ndarray]] = []
    n = 700
    out.append(("white_noise_daily", _ts(n, "D"), 100 + 5 * rng.normal(size=n)))
    t = np.arange(1000)
    out.append(("sine_noise_free_hourly", _ts(1000, "h"), 50 + 20 * np.sin(2 * np.pi * t / 24)))
    out.append(("sine_tiny_noise_hourly", _ts(1000, "h"), 50 + 20 * np.sin(2 * np.pi * t / 24)
                + 0.05 * rng.normal(size=1000)))
    out.append(("two_values_random", _ts(500, "h"), np.where(rng.random(500) < 0.5, 5.0, 7.0)))
    out.append(("two_values_alternating", _ts(500, "h"), np.where(np.arange(500) % 2 == 0, 0.0, 1.0)))
    out.append(("ramp_noise_free", _ts(600, "h"), 10 + 0.5 * np.arange(600)))
    out.append(("ramp_noisy", _ts(600, "h"), 10 + 0.5 * np.arange(600) + 2 * rng.normal(size=600)))
    out.append(("random_walk", _ts(1000, "min"), 500 + np.cumsum(rng.normal(size=1000))))
    d = np.arange(730)
    weekly = np.where(_ts(730, "D").day_of_week < 5, 1.0, 0.4)
    out.append(("trend_weekly_daily", _ts(730, "D"), (100 + 0.1 * d) * weekly * np.exp(0.05 * rng.normal(size=730))))
    m = np.arange(4320)
    out.append(("daily_cycle_minutely", _ts(4320, "min"), 1000 + 400 * np.sin(2 * np.pi * m / 1440)
                + 20 * rng.normal(size=4320)))
    out.append(("weekly_data", _ts(150, "W-MON"), 1000 + 50 * rng.normal(size=150)))
    out.append(("short_series", _ts(40, "D"), 20 + 2 * rng.normal(size=40)))
    gappy = 100 + 5 * rng.normal(size=800)
    gappy[rng.random(800) < 0.1] = np.nan
    gappy[300:350] = np.nan
    out.append(("missing_and_gap", _ts(800, "h"), gappy))
    out.append(("poisson_3", _ts(700, "D"), rng.poisson(3, 700).astype(float)))
    out.append(("poisson_20", _ts(700, "D"), rng.poisson(20, 700).astype(float)))
    inter = rng.poisson(0.1, 1500).astype(float)
    inter[0] = 1.0
    out.append(("intermittent_counts", _ts(1500, "h"), inter))
    out.append(("student_t3", _ts(1000, "h"), 100 + 3 * rng.standard_t(3, size=1000)))
    out.append(("constant", _ts(300, "D"), np.full(300, 42.0)))
    return out


def _size(values: np.ndarray) -> float:
    """6 robust σ of the one-step changes; for a series whose steps have no robust spread (noise-free,
    two-valued, mostly zero) the whole normal range, and for a constant 30 % of its value."""
    v = values[np.isfinite(values)]
    steps = np.diff(v)
    s = 1.4826 * np.median(np.abs(steps - np.median(steps))) / np.sqrt(2) if steps.size else 0.0
    if s > 0:
        return 6.0 * s
    rng = float(np.quantile(v, 0.99) - np.quantile(v, 0.01)) if v.size else 0.0
    if rng > 0:
        return 2.0 * rng
    return 0.3 * max(abs(float(np.median(v))), 1.0)


def _inject(values: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    v = values.copy()
    n = len(v)
    lab = np.zeros(n, dtype=bool)
    size = _size(values)
    lo = max(int(0.4 * n), 30)
    kinds = ["spike", "dip", "shift"] if n >= 300 else ["spike", "dip"]
    if np.nanmean(values == 0) > 0.5:  # a mostly-zero count: bursts only, well above its usual counts
        kinds = ["spike", "spike", "spike"]
        size = 3.0 * float(np.nanmax(values)) + 3.0
    room = (n - 25 - lo) // len(kinds)  # one slot per event, so they never overlap
    places = [lo + j * room + int(rng.integers(0, max(room - 25, 1))) for j in range(len(kinds))]
    for k, i in zip(kinds, places, strict=True):
        if k == "spike":
            v[i] += size
            lab[i] = True
        elif k == "dip":
            v[i] -= size
            lab[i] = True
        else:
            v[i: i + 20] += 0.5 * size
            lab[i: i + 20] = True
    return v, lab


def make_shapes(seed: int) -> list[Shape]:
    rng = np.random.default_rng(seed)
    out = []
    for name, ts, vals in _clean_shapes(rng):
        out.append(Shape(name, ts, vals, np.zeros(len(vals), dtype=bool)))
        v, lab = _inject(vals, rng)
        out.append(Shape(name + "+anomalies", ts, v, lab))
    return out


def runs(mask: np.ndarray, gap: int = 0) -> list[tuple[int, int]]:
    idx = np.nonzero(mask)[0]
    if idx.size == 0:
        return []
    br = np.nonzero(np.diff(idx) > gap + 1)[0]
    return list(zip(np.r_[idx[0], idx[br + 1]], np.r_[idx[br], idx[-1]], strict=True))


def evaluate(shapes: list[Shape], detector: Callable[[Shape], np.ndarray]) -> pd.DataFrame:
    rows = []
    for sh in shapes:
        flags = np.asarray(detector(sh), dtype=bool)
        true = runs(sh.labels)
        det = runs(flags)
        found = sum(1 for s, e in true if flags[s: e + 1].any())
        fa = sum(1 for s, e in det if not sh.labels[s: e + 1].any())
        rows.append({"shape": sh.name, "points": len(sh.values), "true_events": len(true), "found": found,
                     "detected_events": len(det), "false_alarms": fa, "flagged_share": float(flags.mean())})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    from references import markdown_table, rolling_median_mad, trailing_mean_sigma

    from pipelines.analytics.score import score_series

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args(argv)
    detectors = {
        "score_series": lambda sh: score_series(sh.timestamps, sh.values).is_anomaly,
        "mean ± 3σ (14)": lambda sh: trailing_mean_sigma(sh.values),
        "median ± MAD (30)": lambda sh: rolling_median_mad(sh.values),
    }
    frames = []
    for seed in args.seeds:
        shapes = make_shapes(seed)
        for name, fn in detectors.items():
            frames.append(evaluate(shapes, fn).assign(detector=name, seed=seed))
    df = pd.concat(frames, ignore_index=True)
    df["base"] = df["shape"].str.replace("+anomalies", "", regex=False)
    df["clean"] = ~df["shape"].str.endswith("+anomalies")
    clean = df[df["clean"]].groupby(["base", "detector"])["false_alarms"].sum().unstack("detector")
    noisy = df[~df["clean"]].groupby(["base", "detector"])[["found", "true_events", "false_alarms"]].sum()
    print("## False alarms (events) on clean series, summed over seeds", args.seeds, "\n")
    print(markdown_table(clean.reset_index()))
    print("\n## Anomalous twins: found / true events (false alarms)\n")
    cell = noisy.apply(lambda r: f"{int(r['found'])}/{int(r['true_events'])} ({int(r['false_alarms'])})", axis=1)
    print(markdown_table(cell.unstack("detector").reset_index()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
