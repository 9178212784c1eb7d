# Two commands for a fresh machine (Python 3.11):
#   make demo   install, generate the demo company, run the whole nightly pipeline on it
#   make test   install what the tests need, lint (ruff, import layers), run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-spark test test-long install browser lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/kpi demo

# The demo company at scale 0.1 with the dbt models on Apache Spark (local[2]; docs/spark.md), in
# data/spark-demo beside make demo's data/. Spark needs Java 17.
demo-spark: install
	@command -v java >/dev/null 2>&1 || { echo "Spark needs Java 17: install a JDK (e.g. apt-get install -y openjdk-17-jre-headless)"; exit 1; }
	KPI_ENGINE=spark KPI_DEMO_SCALE=0.1 KPI_DATA_DIR=$(CURDIR)/data/spark-demo $(BIN)/kpi demo

# Tests drive a real headless Chromium (Debian's package; Playwright's own download cannot work
# offline) and start a real PostgreSQL server from the installed binaries.
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk"; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium or CJK fonts missing: run 'sudo apt-get install -y chromium fonts-noto-cjk'"; exit 1; fi; }

test: install browser lint
	$(BIN)/pytest -q

# The replays of many nights (incremental = full rebuild after 7 nights): tens of minutes
test-long: install
	$(BIN)/pytest -q -m long

# ruff (style, complexity) and import-linter (the one-way layers of docs/contributing.md)
lint: install
	$(BIN)/ruff check pipelines quality reports tests benchmarks
	$(BIN)/lint-imports

bench: install
	$(BIN)/kpi bench

clean:
	rm -rf data dbt_project/target dbt_project/macros/generated
