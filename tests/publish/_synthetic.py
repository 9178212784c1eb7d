"""A small synthetic private warehouse: schemas raw, staging, intermediate and marts.

Every marts table carries ``build_run_id`` so a reader can check that one read never mixes two
publishes. ``big_rows`` adds a large fact so a publish takes long enough to be killed mid-way.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

MART_TABLES = ("dim_employee", "dim_org_unit", "kpi_attainment", "kpi_checkins", "kpi_definitions", "fct_big")
EMPLOYEES = [
    ("E00001", "Alice Wang", "王爱丽", "alice.wang@acme.example", "CEO", "ACME"),
    ("E00002", "Bob Li", "李博", "bob.li@acme.example", "VP Sales", "DIV-SALES"),
    ("E00123", "Carol Zhang", "张卡罗", "carol.zhang@acme.example", "Team lead", "TM-SE-1"),
    ("E00124", "Dan O'Brien", None, None, "Analyst", "TM-SE-1"),
]


def build_warehouse(path: Path, run_id: str, *, big_rows: int = 1000) -> None:
    """(Re)build the warehouse at ``path``; every mart row says ``build_run_id = run_id``."""
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        for schema in ("raw", "staging", "intermediate", "marts"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute("SET VARIABLE run = ?", [run_id])
        con.execute(
            "CREATE OR REPLACE TABLE raw.hr_employees AS "
            "SELECT * FROM (VALUES ('E00001', 'Alice Wang', 'secret-salary-1')) t(employee_id, full_name, salary_note)"
        )
        con.execute("CREATE OR REPLACE VIEW staging.stg_hr__employees AS SELECT * FROM raw.hr_employees")
        con.execute("CREATE OR REPLACE TABLE intermediate.int_org_closure AS SELECT 'ACME' AS ancestor_id")
        con.execute(
            "CREATE OR REPLACE TABLE marts.dim_employee (employee_id VARCHAR, full_name VARCHAR, "
            "full_name_zh VARCHAR, email VARCHAR, job_title VARCHAR, current_org_unit_id VARCHAR, "
            "hire_date DATE, build_run_id VARCHAR)"
        )
        con.executemany(
            "INSERT INTO marts.dim_employee VALUES (?, ?, ?, ?, ?, ?, DATE '2020-01-01', getvariable('run'))",
            EMPLOYEES,
        )
        con.execute(
            "CREATE OR REPLACE TABLE marts.dim_org_unit AS SELECT * FROM (VALUES "
            "('ACME', NULL, 'E00001', 1), ('DIV-SALES', 'ACME', 'E00002', 2), ('TM-SE-1', 'DIV-SALES', 'E00123', 4)"
            ") t(org_unit_id, parent_org_unit_id, manager_employee_id, level), "
            "(SELECT getvariable('run') AS build_run_id)"
        )
        con.execute(
            """
            CREATE OR REPLACE TABLE marts.kpi_definitions AS
            SELECT 'net_revenue' AS kpi_id, 1 AS version, DATE '2024-01-01' AS valid_from,
                   CAST(NULL AS DATE) AS valid_to, true AS is_current, 'DIV-SALES' AS owner_org_unit_id,
                   'E00002' AS owner_employee_id, ['month', 'quarter', 'year'] AS grains,
                   {'rule': 'growth', 'value': 0.1} AS target_rule, 0.9::DECIMAL(5, 2) AS amber_threshold,
                   getvariable('run') AS build_run_id
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TABLE marts.kpi_attainment AS
            SELECT 'net_revenue' AS kpi_id, unit AS org_unit_id, 'month' AS grain,
                   (DATE '2025-01-01' + INTERVAL (m) MONTH)::DATE AS period_start,
                   (1000.0 + m * 10 + len(unit))::DOUBLE AS actual_value, 1100.0::DECIMAL(18, 2) AS target_value,
                   (1000.0 + m * 10) / 1100.0 AS attainment,
                   CASE WHEN m % 3 = 0 THEN 'off_track' ELSE 'on_track' END AS status,
                   m < 10 AS is_complete, TIMESTAMPTZ '2025-11-19 18:30:00+00' AS computed_at,
                   getvariable('run') AS build_run_id
            FROM range(12) r(m), (VALUES ('ACME'), ('DIV-SALES'), ('TM-SE-1')) u(unit)
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TABLE marts.kpi_checkins AS
            SELECT * FROM (VALUES
              ('net_revenue', 'TM-SE-1', 'Carol Zhang', 'Big deal slipped to December; "pipeline" ok'),
              ('net_revenue', 'DIV-SALES', NULL, 'no comment')
            ) t(kpi_id, org_unit_id, author, comment), (SELECT getvariable('run') AS build_run_id)
            """
        )
        con.execute(
            "CREATE OR REPLACE TABLE marts.fct_big AS SELECT range AS event_id, (range % 97)::DOUBLE AS amount, "
            "getvariable('run') AS build_run_id FROM range(?)",
            [big_rows],
        )
        con.execute(
            "CREATE OR REPLACE VIEW marts.v_unit_summary AS SELECT org_unit_id, count(*) AS periods, "
            "any_value(build_run_id) AS build_run_id FROM marts.kpi_attainment GROUP BY org_unit_id"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
