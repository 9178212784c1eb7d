"""Anomaly detection and forecasting for KPI series: pure Python (numpy/pandas), no Dagster.

- :mod:`pipelines.analytics.score` — ``score_series``: a calibrated, causal score for one series of
  any regular frequency (seasonality, noise, quantization and intermittency found from the data).
- :mod:`pipelines.analytics.anomaly` — the calendar-aware KPI detector (loop in
  :mod:`~pipelines.analytics.kpi_engine`, parts in :mod:`~pipelines.analytics.kpi_parts`) and the
  trailing mean ± 3σ baseline.
- :mod:`pipelines.analytics.seasonality`, :mod:`~pipelines.analytics.level`,
  :mod:`~pipelines.analytics.scale`, :mod:`~pipelines.analytics.calibration`,
  :mod:`~pipelines.analytics.count_model` — the named parts the detectors are made of.
- :mod:`pipelines.analytics.maturity` — how long a KPI's values take to settle.
- :mod:`pipelines.analytics.bounds` — the range a KPI's value can take.
- :mod:`pipelines.analytics.forecast` — period-end forecasts with empirical intervals and the
  probability of reaching the target; back-tests.
- :mod:`pipelines.analytics.evaluation` — event-level precision / recall / F1, coverage, Brier.
- :mod:`pipelines.analytics.calendar` — calendar features shared by both.
"""
