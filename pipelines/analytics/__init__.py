"""Anomaly detection and forecasting for KPI series: pure Python (numpy/pandas), no Dagster.

- :mod:`pipelines.analytics.anomaly` — the robust, causal, seasonality-aware detector and the
  trailing mean ± 3σ baseline.
- :mod:`pipelines.analytics.forecast` — period-end forecasts with empirical intervals and the
  probability of reaching the target; back-tests.
- :mod:`pipelines.analytics.evaluation` — event-level precision / recall / F1, coverage, Brier.
- :mod:`pipelines.analytics.calendar` — calendar features shared by both.
"""
