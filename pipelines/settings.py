"""The one place that reads the environment.

Every setting has a working default under the project-local data directory (``./data``), so a
fresh clone runs without configuration. Override any of them with an environment variable named
``KPI_<FIELD>`` (e.g. ``KPI_DATA_DIR=/srv/kpi``), or put them in a ``.env`` file at the repository
root. Secrets (database URLs with passwords, SMTP credentials, webhook URLs) are ``SecretStr`` so
that they never appear in logs, reprs, asset metadata or reports.

Nothing else in the project reads ``os.environ``: Dagster resources, the CLI and the dbt profile
receive their values from here (``dbt_env()`` exports what dbt's ``profiles.yml`` reads).
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Repository root: this file lives in <root>/pipelines/settings.py.
REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


class SettingsError(ValueError):
    """A configuration file the project reads is unusable (the CLI says it in one line, exit 2)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KPI_", env_file=REPO_ROOT / ".env", extra="ignore", frozen=True
    )

    # --- where things live --------------------------------------------------------------------
    data_dir: Path = Field(REPO_ROOT / "data", description="Root of every generated file.")
    dbt_project_dir: Path = Field(DBT_PROJECT_DIR, description="The dbt project (its catalog/ folder is the "
                                                               "KPI catalog; its target/ the manifest).")

    # --- business calendar ----------------------------------------------------------------------
    timezone: str = Field("Asia/Shanghai", description="Company timezone: business dates and partitions.")
    fiscal_year_start_month: int = Field(1, ge=1, le=12)

    # --- sources ------------------------------------------------------------------------------------
    # SQLAlchemy URLs. Default: the embedded demo company's SQLite files. They may hold passwords.
    erp_url: SecretStr | None = Field(None, description="ERP/CRM database (SQLAlchemy URL).")
    hr_url: SecretStr | None = Field(None, description="HR database (SQLAlchemy URL).")

    # --- demo company --------------------------------------------------------------------------
    demo_seed: int = 42
    demo_scale: float = 1.0
    demo_start: date = date(2024, 1, 1)
    demo_end: date = date(2025, 11, 19)

    # --- orchestration --------------------------------------------------------------------------
    schedule_cron: str = Field("0 2 * * *", description="Nightly run, in `timezone`.")
    partitions_start: date | None = Field(None, description="First daily partition (default: demo_start).")
    dagster_host: str = Field("127.0.0.1", description="Bind address of the Dagster UI.")

    # --- warehouse engine ----------------------------------------------------------------------------
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="What runs the dbt models: duckdb (in the dbt process, the default) or spark "
                              "(Apache Spark through dbt-spark; docs/spark.md).")
    spark_master: str = Field("local[2]", description="Spark master URL of the Spark engine (local[N], "
                                                      "spark://host:7077, yarn, k8s://…).")
    spark_lake_uri: str | None = Field(
        None, description="The raw lake as Spark reads it (e.g. s3a://bucket/lake); default: the local lake folder.")
    spark_driver_memory: str = Field("4g", description="Memory of the Spark driver (the dbt process).")
    duckdb_memory_limit: str = Field(
        "4GB", description="DuckDB memory limit of the dbt build (it spills to disk beyond it), e.g. 4GB, 75%."
    )
    duckdb_threads: int = Field(2, ge=1, description="Threads of the dbt build (dbt nodes at once and DuckDB's).")
    dbt_skip_unchanged: bool = Field(
        True, description="A night whose raw lake did not change since the last successful full dbt build "
                          "rebuilds only the models that depend on the run date or on the load log "
                          "(and everything downstream of them); false: always the whole project.")

    # --- quality ------------------------------------------------------------------------------------
    future_tolerance_days: int = Field(1, description="Dates later than run date + this are rejected.")

    # --- publish ------------------------------------------------------------------------------------
    serving_keep: int = Field(3, ge=1, description="Published nights kept for roll-back (DuckDB files, "
                                                   "Parquet folders).")
    serving_pg_url: SecretStr | None = Field(None, description="PostgreSQL serving target (optional).")
    serving_pg_readonly_role: str = "kpi_reader"
    serving_pg_reader_password: SecretStr | None = Field(
        None, description="Password of the read-only role (BI tools log in with it); without it the role "
                          "cannot log in and is granted to people's own logins.")
    serving_pg_unit_roles: str | None = Field(
        None, description="Comma-separated org unit ids (e.g. DEP-SALES-EAST,DEP-OPS) that get a PostgreSQL "
                          "role (kpi_unit_<id>) seeing only their subtree (row-level security).")
    serving_pg_unit_passwords: SecretStr | None = Field(
        None, description='JSON {"DEP-SALES-EAST": "password", ...}: unit roles that log in themselves.')
    serving_pg_unit_role_prefix: str = "kpi_unit_"
    serving_duckdb_storage_version: str = Field(
        "v1.4.0", description="DuckDB storage format of the serving files: readable by DuckDB clients of "
                              "this version and later (the DuckDB CLI, BI tools' drivers).")
    serving_show_person_names: bool = Field(False, description="Unmask employee names in serving copies.")

    # --- reports & alerts -------------------------------------------------------------------------
    reports_keep: int = Field(30, ge=1, description="Nights of reports kept in <data>/reports (older "
                                                    "as-of dates are deleted after each night).")
    report_lang: str = "en"
    alert_min_severity: str = Field("high", description="low | medium | high | critical")
    alert_ack_hours: int = Field(24, description="Unacknowledged alerts escalate after this many hours.")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "kpi-warehouse@localhost"
    # JSON object {owner_id_or_default: {"kind": "slack|dingtalk|wecom|generic", "url": ...}}
    webhooks: SecretStr | None = None

    # --- derived paths (not settable on their own: one variable moves everything) ---------------
    @property
    def sources_dir(self) -> Path:
        return self.data_dir / "sources"

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def ground_truth_dir(self) -> Path:
        return self.data_dir / "ground_truth"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def raw_dir(self) -> Path:
        return self.lake_dir / "raw"

    @property
    def quarantine_dir(self) -> Path:
        return self.lake_dir / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        """Private build file: only the pipeline opens it."""
        return self.data_dir / "warehouse" / "warehouse.duckdb"

    @property
    def spark_warehouse_dir(self) -> Path:
        return spark_warehouse_dir_of(self.warehouse_path)

    @property
    def dbt_target(self) -> str:
        return dbt_target_of(self.engine)

    @property
    def dbt_target_path(self) -> Path:
        """dbt's target folder (manifest) inside the project, one per engine: the parsed project differs."""
        return Path("target") if self.engine == "duckdb" else Path(f"target-{self.engine}")

    @property
    def serving_dir(self) -> Path:
        return self.data_dir / "serving"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def state_dir(self) -> Path:
        """State that outlives nightly rebuilds (alert outbox)."""
        return self.data_dir / "state"

    @property
    def alerts_outbox_path(self) -> Path:
        return self.state_dir / "alerts.sqlite"

    @property
    def checkins_dir(self) -> Path:
        return self.landing_dir / "checkins"

    @property
    def catalog_dir(self) -> Path:
        return self.dbt_project_dir / "catalog"

    def erp_url_value(self) -> str:
        if self.erp_url is not None:
            return self.erp_url.get_secret_value()
        return f"sqlite:///{self.sources_dir / 'erp.sqlite'}"

    def hr_url_value(self) -> str:
        if self.hr_url is not None:
            return self.hr_url.get_secret_value()
        return f"sqlite:///{self.sources_dir / 'hr.sqlite'}"

    def pg_unit_roles(self) -> dict[str, str | None]:
        """Org unit id → password (None: NOLOGIN) of the PostgreSQL unit roles (row-level security)."""
        import json

        units = [u.strip() for u in (self.serving_pg_unit_roles or "").split(",") if u.strip()]
        passwords: dict[str, str] = {}
        if self.serving_pg_unit_passwords is not None:
            try:
                passwords = json.loads(self.serving_pg_unit_passwords.get_secret_value())
            except ValueError:
                passwords = None  # type: ignore[assignment]
            if not isinstance(passwords, dict) or not all(isinstance(v, str) for v in passwords.values()):
                # the value is a secret: say what is wrong, never what it is
                raise ValueError('KPI_SERVING_PG_UNIT_PASSWORDS must be a JSON object {"<org unit id>": '
                                 '"<password>", ...}')
            unknown = sorted(set(passwords) - set(units))
            if unknown:
                raise ValueError(f"KPI_SERVING_PG_UNIT_PASSWORDS names {', '.join(unknown)}, which "
                                 "KPI_SERVING_PG_UNIT_ROLES does not list")
        return {unit: passwords.get(unit) for unit in units}

    def first_partition(self) -> date:
        return self.partitions_start or self.demo_start

    def export_dagster_home(self) -> Path:
        """Point Dagster at the project's instance (runs, event log, schedules) and configure it.

        ``dagster.yaml`` gets the project's settings (``dagster_instance_config``); whatever else an
        operator wrote there is kept, and the file is rewritten only when one of ours is missing.
        """
        import os

        import yaml

        home = self.dagster_home
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        current: dict = {}
        if config.exists():
            try:
                current = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise SettingsError(f"{config}: not valid YAML ({' '.join(str(exc).split())}); fix or delete "
                                    "it (the project writes its own settings into it again)") from exc
            if not isinstance(current, dict):
                raise SettingsError(f"{config}: expected a mapping of Dagster instance settings, "
                                    f"found {type(current).__name__}")
        wanted = dagster_instance_config(current, home)
        if wanted != current:
            text = ("# The project's Dagster instance. pipelines/settings.py keeps concurrency.pools.default_limit\n"
                    "# at 1 and, unless another storage is set, the batched SQLite event log; it keeps the rest.\n"
                    + yaml.safe_dump(wanted, sort_keys=False))
            tmp = config.with_suffix(".tmp")
            try:
                tmp.write_text(text, encoding="utf-8")
            except OSError as exc:  # a failed write names no file: say which
                raise OSError(exc.errno, exc.strerror, str(tmp)) from exc
            os.replace(tmp, config)
        os.environ["DAGSTER_HOME"] = str(home)
        return home

    def dbt_env(self) -> dict[str, str]:
        """Variables read by ``dbt_project/profiles.yml`` and the dbt sources (no secrets)."""
        return dbt_env(engine=self.engine, warehouse_path=self.warehouse_path, lake_dir=self.lake_dir,
                       timezone=self.timezone, duckdb_memory_limit=self.duckdb_memory_limit,
                       duckdb_threads=self.duckdb_threads, spark_master=self.spark_master,
                       spark_lake_uri=self.spark_lake_uri, spark_warehouse_dir=self.spark_warehouse_dir,
                       spark_driver_memory=self.spark_driver_memory)


def dbt_target_of(engine: str) -> str:
    """The profiles.yml output an engine runs on."""
    return "spark" if engine == "spark" else "dev"


def spark_warehouse_dir_of(warehouse_path: Path | str) -> Path:
    """Spark's tables (Parquet, ``<schema>.db/<table>/``) and its metastore, beside the warehouse file."""
    return Path(warehouse_path).parent / "spark"


def dbt_env(*, engine: str, warehouse_path: Path | str, lake_dir: Path | str, timezone: str,
            duckdb_memory_limit: str, duckdb_threads: int, spark_master: str = "local[2]",
            spark_lake_uri: str | None = None, spark_warehouse_dir: Path | str | None = None,
            spark_driver_memory: str = "4g") -> dict[str, str]:
    """What ``dbt_project/profiles.yml`` and the dbt sources read (no secrets), for either engine."""
    env = {
        "KPI_DBT_TARGET": dbt_target_of(engine),
        "KPI_WAREHOUSE_PATH": str(warehouse_path),
        "KPI_LAKE_DIR": str(lake_dir),
        "KPI_TIMEZONE": timezone,
        "KPI_DUCKDB_MEMORY_LIMIT": duckdb_memory_limit,
        "KPI_DUCKDB_THREADS": str(duckdb_threads),
    }
    if engine == "spark":
        spark_dir = Path(spark_warehouse_dir) if spark_warehouse_dir else spark_warehouse_dir_of(warehouse_path)
        env.update({
            "KPI_LAKE_DIR": spark_lake_uri or str(lake_dir),
            "KPI_SPARK_MASTER": spark_master,
            "KPI_SPARK_WAREHOUSE_DIR": str(spark_dir),
            "KPI_SPARK_METASTORE_DIR": str(spark_dir / "metastore_db"),
            "KPI_SPARK_DRIVER_MEMORY": spark_driver_memory,
        })
    return env


#: The event log that stores a batch of Dagster events in one transaction (a range run's materializations,
#: one per asset and day): pipelines/orchestration/event_log.py.
BATCHED_EVENT_LOG = {"module": "pipelines.orchestration.event_log", "class": "BatchedSqliteEventLogStorage"}


def dagster_instance_config(current: dict, home: Path) -> dict:
    """``current`` (an instance's dagster.yaml) with the project's settings in it.

    - ``concurrency.pools.default_limit`` is 1: the one-writer rule of the ``warehouse`` pool.
    - ``telemetry.enabled`` is false unless set.
    - The event log is the batched SQLite one under ``home`` unless the operator set another
      ``event_log_storage`` or a whole ``storage`` (Dagster refuses both at once); our own entry
      follows ``home`` when the data folder moves.
    """
    wanted = dict(current)  # the branches changed below are new dicts: ``current`` stays as it was
    concurrency = wanted.get("concurrency") or {}
    wanted["concurrency"] = {**concurrency, "pools": {**(concurrency.get("pools") or {}), "default_limit": 1}}
    telemetry = wanted.get("telemetry") if isinstance(wanted.get("telemetry"), dict) else {}
    wanted["telemetry"] = {"enabled": False, **telemetry}
    storage = wanted.get("event_log_storage")
    ours = isinstance(storage, dict) and all(storage.get(k) == v for k, v in BATCHED_EVENT_LOG.items())
    if ours or (storage is None and "storage" not in wanted):
        wanted["event_log_storage"] = {**BATCHED_EVENT_LOG,
                                       "config": {"base_dir": str(home / "history" / "runs")}}
    return wanted


@functools.cache
def get_settings() -> Settings:
    return Settings()
