"""kpi_forecast — period-end forecasts of every running month, quarter and year (docs:
_analytics__models.yml).

The method is pipelines.analytics.forecast (run rate with last year's seasonality, an empirical 80 %
interval and the probability of reaching the target, both from back-tested errors); values still
filling in (pipelines.analytics.maturity) are not forecast from, and every forecast stays within its
KPI's possible range (pipelines.analytics.bounds).
"""


def model(dbt, session):
    from pipelines.analytics.marts import FORECAST_TYPES, forecast_mart, holiday_dates, typed_select

    actuals = dbt.ref("kpi_actuals").filter("grain in ('day', 'month', 'quarter', 'year')").df()
    definitions = dbt.ref("kpi_definitions").df()
    targets = dbt.ref("kpi_targets").df()
    as_of = dbt.ref("int_kpi_as_of").df()["as_of_date"].iloc[0]
    holidays = holiday_dates(dbt.ref("dim_date").df())
    frame = forecast_mart(actuals, definitions, targets=targets, as_of=as_of, holidays=holidays)
    return session.from_df(frame).project(typed_select(FORECAST_TYPES))
