"""The Dagster wiring: assets, the nightly job, its schedule and sensor, resources — thin adapters
that call the domain packages (``pipelines.extract``, ``pipelines.analytics``, ``pipelines.publish``,
``pipelines.alerts``, ``pipelines.reporting``, ``quality``, ``reports``), which never import Dagster
or this package. ``pipelines.definitions`` assembles it into the code location."""
