"""Moved into the package :mod:`pipelines.benchmark` (run it as ``kpi bench`` or
``python -m pipelines.benchmark``); this file only keeps ``python benchmarks/pipeline_benchmark.py …``
working from a checkout."""

import sys

from pipelines.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
