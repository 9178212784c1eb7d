"""``python -m pipelines.benchmark --scales 1 10`` (the same as ``kpi bench``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
