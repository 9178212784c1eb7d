"""Settings as Dagster resources: what each kind of asset needs, and nothing it reads itself.

``resources_from(settings)`` builds them from ``pipelines.settings`` (the one module that reads the
environment); tests build them with their own values instead. Secrets (database URLs with passwords,
the PostgreSQL and SMTP passwords, webhook URLs) are never resource config — the Dagster UI shows
resource config: they are taken from the settings at the moment they are used, unless a test passes
its own (``erp_url=…``, a local SQLite file).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from pipelines.settings import Settings, dbt_env, get_settings, spark_warehouse_dir_of

if TYPE_CHECKING:
    from pipelines.alerts import SmtpConfig
    from pipelines.extract.run import ExtractConfig
    from pipelines.publish.targets import ServingTargets
    from pipelines.reporting import ReportConfig


class LakeResource(dg.ConfigurableResource):
    """The raw lake and the landing folder, and how extraction judges rows."""

    lake_dir: str
    landing_dir: str
    timezone: str = "Asia/Shanghai"
    future_tolerance_days: int = 1
    #: None: the settings' URL (a secret, so not config); a test passes its own database
    erp_url: str | None = None
    hr_url: str | None = None

    def extract_config(self, run_date: date | None, progress=None) -> ExtractConfig:
        from pipelines.extract.run import ExtractConfig

        settings = get_settings() if self.erp_url is None or self.hr_url is None else None
        return ExtractConfig(
            lake_dir=Path(self.lake_dir),
            landing_dir=Path(self.landing_dir),
            erp_url=self.erp_url or (settings.erp_url_value() if settings else None),
            hr_url=self.hr_url or (settings.hr_url_value() if settings else None),
            timezone=self.timezone,
            run_date=run_date or date.today(),
            future_tolerance_days=self.future_tolerance_days,
            progress=progress,
        )

    @classmethod
    def from_settings(cls, s: Settings) -> LakeResource:
        return cls(lake_dir=str(s.lake_dir), landing_dir=str(s.landing_dir), timezone=s.timezone,
                   future_tolerance_days=s.future_tolerance_days)


class WarehouseResource(dg.ConfigurableResource):
    """The private build warehouse and what its dbt build is handed (paths, time zone, limits)."""

    warehouse_path: str
    lake_dir: str
    timezone: str = "Asia/Shanghai"
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    #: a night with an unchanged raw lake rebuilds only the date-dependent models (dbt_selective.py)
    skip_unchanged: bool = True
    #: duckdb | spark (docs/spark.md); the Spark engine's tables live in spark_warehouse_dir
    engine: str = "duckdb"
    spark_master: str = "local[2]"
    spark_lake_uri: str | None = None
    spark_warehouse_dir: str | None = None
    spark_driver_memory: str = "4g"

    def dbt_env(self) -> dict[str, str]:
        """The variables dbt_project/profiles.yml and the dbt sources read (no secrets)."""
        return dbt_env(engine=self.engine, warehouse_path=self.warehouse_path, lake_dir=self.lake_dir,
                       timezone=self.timezone, duckdb_memory_limit=self.duckdb_memory_limit,
                       duckdb_threads=self.duckdb_threads, spark_master=self.spark_master,
                       spark_lake_uri=self.spark_lake_uri, spark_warehouse_dir=self.spark_warehouse_dir,
                       spark_driver_memory=self.spark_driver_memory)

    def spark_tables_dir(self) -> Path:
        """Where the Spark engine's tables are (``<schema>.db/<table>/``)."""
        return Path(self.spark_warehouse_dir) if self.spark_warehouse_dir else spark_warehouse_dir_of(self.warehouse_path)

    @classmethod
    def from_settings(cls, s: Settings) -> WarehouseResource:
        return cls(warehouse_path=str(s.warehouse_path), lake_dir=str(s.lake_dir), timezone=s.timezone,
                   duckdb_memory_limit=s.duckdb_memory_limit, duckdb_threads=s.duckdb_threads,
                   skip_unchanged=s.dbt_skip_unchanged, engine=s.engine, spark_master=s.spark_master,
                   spark_lake_uri=s.spark_lake_uri, spark_warehouse_dir=str(s.spark_warehouse_dir),
                   spark_driver_memory=s.spark_driver_memory)


class ServingResource(dg.ConfigurableResource):
    """The published copies (DuckDB, Parquet, PostgreSQL) and the reports built from them."""

    serving_dir: str
    keep: int = 3
    show_person_names: bool = False
    duckdb_storage_version: str = "v1.4.0"
    reports_dir: str
    reports_keep: int = 30
    report_lang: str = "en"
    quarantine_dir: str
    catalog_dir: str
    dbt_project_dir: str
    dbt_target_path: str = "target"  # the engine's (Settings.dbt_target_path): where the manifest is
    pg_readonly_role: str = "kpi_reader"
    pg_unit_role_prefix: str = "kpi_unit_"

    def targets(self, secrets: Settings | None = None) -> ServingTargets:
        """Every serving target; the PostgreSQL URL and passwords come from ``secrets`` (default: the
        environment's settings)."""
        from pipelines.publish.targets import ServingTargets

        s = secrets or get_settings()
        return ServingTargets(
            serving_dir=Path(self.serving_dir),
            pg_url=s.serving_pg_url.get_secret_value() if s.serving_pg_url else None,
            reader_role=self.pg_readonly_role,
            reader_password=s.serving_pg_reader_password.get_secret_value() if s.serving_pg_reader_password else None,
            unit_roles=s.pg_unit_roles(),
            unit_role_prefix=self.pg_unit_role_prefix,
        )

    def report_config(self) -> ReportConfig:
        from pipelines.reporting import ReportConfig

        return ReportConfig(reports_dir=Path(self.reports_dir), quarantine_dir=Path(self.quarantine_dir),
                            catalog_dir=Path(self.catalog_dir), dbt_project_dir=Path(self.dbt_project_dir),
                            lang=self.report_lang, show_person_names=self.show_person_names)

    @classmethod
    def from_settings(cls, s: Settings) -> ServingResource:
        return cls(serving_dir=str(s.serving_dir), keep=s.serving_keep, show_person_names=s.serving_show_person_names,
                   duckdb_storage_version=s.serving_duckdb_storage_version, reports_dir=str(s.reports_dir),
                   reports_keep=s.reports_keep, report_lang=s.report_lang, quarantine_dir=str(s.quarantine_dir),
                   catalog_dir=str(s.catalog_dir), dbt_project_dir=str(s.dbt_project_dir),
                   dbt_target_path=str(s.dbt_target_path),
                   pg_readonly_role=s.serving_pg_readonly_role, pg_unit_role_prefix=s.serving_pg_unit_role_prefix)


class AlertsResource(dg.ConfigurableResource):
    """The owners' alerts: the outbox, the channels (their secrets from the settings) and the rules."""

    outbox_path: str
    min_severity: str = "high"
    ack_hours: int = 24
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_sender: str = "kpi-warehouse@localhost"

    def smtp(self) -> SmtpConfig | None:
        from pipelines.alerts import SmtpConfig

        if not self.smtp_host:
            return None
        s = get_settings()
        return SmtpConfig(self.smtp_host, self.smtp_port, self.smtp_user,
                          s.smtp_password.get_secret_value() if s.smtp_password else None, self.smtp_sender)

    def webhooks(self):  # -> SecretStr | None (a JSON object of channels, with their URLs)
        return get_settings().webhooks

    @classmethod
    def from_settings(cls, s: Settings) -> AlertsResource:
        return cls(outbox_path=str(s.alerts_outbox_path), min_severity=s.alert_min_severity,
                   ack_hours=s.alert_ack_hours, smtp_host=s.smtp_host, smtp_port=s.smtp_port,
                   smtp_user=s.smtp_user, smtp_sender=s.smtp_sender)


def resources_from(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The code location's resources, from the settings (dbt's CLI resource is added beside them)."""
    return {
        "lake": LakeResource.from_settings(settings),
        "warehouse": WarehouseResource.from_settings(settings),
        "serving": ServingResource.from_settings(settings),
        "alerts": AlertsResource.from_settings(settings),
    }
