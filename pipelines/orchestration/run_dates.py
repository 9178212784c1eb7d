"""Which business date a run is about.

Extraction works on the run's partitions (one day, or a range for backfills). The warehouse's
as-of date — which periods are complete, which are running — is NOT the partition: a backfill of
last March or a late file for last week must not turn the published warehouse back to that day.
dbt therefore uses the tag ``kpi/as_of`` when a run sets it, and otherwise its own default, the
latest business date present in the facts.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

AS_OF_TAG = "kpi/as_of"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


def run_date_from_tags(tags: dict[str, str]) -> date | None:
    for tag in (AS_OF_TAG, RANGE_END_TAG, PARTITION_TAG):
        value = tags.get(tag)
        if value:
            return date.fromisoformat(value)
    return None


def run_date_of(context: dg.AssetExecutionContext) -> date | None:
    """The last partition date of the run (or its explicit as-of date)."""
    return run_date_from_tags(dict(context.run.tags))


def as_of_of(context: dg.AssetExecutionContext) -> date | None:
    """The warehouse as-of date the run asks for explicitly (None: dbt's default)."""
    value = dict(context.run.tags).get(AS_OF_TAG)
    return date.fromisoformat(value) if value else None
