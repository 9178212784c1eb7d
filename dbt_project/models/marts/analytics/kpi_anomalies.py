"""kpi_anomalies — anomalies of every daily and weekly KPI series (docs: _analytics__models.yml).

The detector is pipelines.analytics.anomaly (robust, causal, seasonality- and direction-aware);
pipelines.analytics.marts turns the KPI marts into its input and its events into this table.
"""


def model(dbt, session):
    from pipelines.analytics.marts import ANOMALY_TYPES, anomalies_mart, typed_select

    actuals = dbt.ref("kpi_actuals").filter("grain in ('day', 'week')").df()
    definitions = dbt.ref("kpi_definitions").df()
    dim_date = dbt.ref("dim_date").df()
    targets = dbt.ref("kpi_targets").df()
    exclusions = dbt.ref("anomaly_exclusions").df()
    frame = anomalies_mart(actuals, definitions, dim_date, targets=targets, exclusions=exclusions)
    return session.from_df(frame).project(typed_select(ANOMALY_TYPES))
