"""The nightly pipeline benchmark (``kpi bench``): a real deployment's first load and nights, measured.

Not a timed test (docs/contributing.md): it builds the demo company with its faithful history at each
scale factor in a temporary folder, loads the history up to a day D, replays the nights D+1 … end each
against the sources as they stood that night, and measures everything beside the floor (one DuckDB
query) and a pandas twin computing the same KPIs. It prints the goals table of issue 14 and writes it,
with the details and a JSON twin, to ``benchmarks/out/``. Linux or macOS (psutil), a few GB per scale.

Parts:

- :mod:`.sampler` — a process tree's wall, CPU and peak memory (psutil);
- :mod:`.floor` — the one-query floor; :mod:`.pandas_twin` — the same KPIs in pandas;
  :mod:`.compare` — the three answers compared;
- :mod:`.phases` — a nightly run split into extract / dbt build / checks / publish / reports / Dagster;
- :mod:`.runs` — generation, the first load, the replayed nights, the night with no new data;
- :mod:`.queries` — analyst query latency on the serving copy;
- :mod:`.report` — ratios, the goals table (now / goal / met?) and the Markdown;
- :mod:`.child` — the child processes each measurement runs in; :mod:`.cli` — the options.
"""

from .cli import main

__all__ = ["main"]
