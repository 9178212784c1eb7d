"""Mart rows for the alert tests: a small org, KPI owners and a day of anomalies.

ACME (Alice E00001)
├── DIV-SALES (Bob E00002)        net_revenue, new_contracts owned by Bob in person
│   └── TM-SE-1 (Carol E00123)
└── DIV-OPS (Olga E00200)
    └── DEP-SVC (Sam E00300)      complaint_rate owned by the unit -> its manager Sam
csat_avg is owned by ACME -> Alice, who has nobody above her.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

AS_OF = date(2025, 11, 19)

ORG_UNITS = pd.DataFrame(
    [
        ("ACME", "Acme Group", None, "E00001", date(2024, 1, 1), None, True),
        ("DIV-SALES", "Sales", "ACME", "E00002", date(2024, 1, 1), None, True),
        ("TM-SE-1", "Sales East 1", "DIV-SALES", "E00123", date(2024, 1, 1), None, True),
        ("DIV-OPS", "Operations", "ACME", "E00200", date(2024, 1, 1), None, True),
        ("DEP-SVC", "Service", "DIV-OPS", "E00300", date(2024, 1, 1), None, True),
    ],
    columns=["org_unit_id", "name", "parent_org_unit_id", "manager_employee_id", "valid_from", "valid_to",
             "is_current"],
)

EMPLOYEES = pd.DataFrame(
    [
        ("E00001", "Alice Wang", "alice@acme.example", "ACME"),
        ("E00002", "Bob Li", "bob@acme.example", "DIV-SALES"),
        ("E00123", "Carol Zhang", "carol@acme.example", "TM-SE-1"),
        ("E00200", "Olga Chen", "olga@acme.example", "DIV-OPS"),
        ("E00300", "Sam Wu", "sam@acme.example", "DEP-SVC"),
    ],
    columns=["employee_id", "full_name", "email", "current_org_unit_id"],
)

KPI_DEFINITIONS = pd.DataFrame(
    [
        ("net_revenue", 1, "Net revenue", "DIV-SALES", "E00002", date(2024, 1, 1), None, True),
        ("new_contracts", 1, "New contracts", "DIV-SALES", "E00002", date(2024, 1, 1), None, True),
        ("complaint_rate", 1, "Complaint rate", "DEP-SVC", None, date(2024, 1, 1), date(2025, 7, 1), False),
        ("complaint_rate", 2, "Complaint rate (v2)", "DEP-SVC", None, date(2025, 7, 1), None, True),
        ("csat_avg", 1, "CSAT", "ACME", None, date(2024, 1, 1), None, True),
    ],
    columns=["kpi_id", "version", "name", "owner_org_unit_id", "owner_employee_id", "valid_from", "valid_to",
             "is_current"],
)

_ANOMALY_COLUMNS = ["kpi_id", "org_unit_id", "grain", "start_date", "end_date", "date", "actual_value",
                    "expected_value", "lower", "upper", "score", "severity", "direction", "impact", "kind", "reason",
                    "is_data_issue", "is_verified"]


def anomaly(kpi_id: str, unit: str, kind: str, severity: str, start: date, end: date | None = None,
            **extra: object) -> dict[str, object]:
    end = end or start
    row = dict(zip(_ANOMALY_COLUMNS, [kpi_id, unit, "day", start, end, end, 180.0, 100.0, 80.0, 120.0, 6.1,
                                      severity, "up", "bad", kind, "robust z-score 6.1 above the weekly median",
                                      False, True], strict=True))
    row.update(extra)
    return row


def todays_anomalies() -> pd.DataFrame:
    return pd.DataFrame(
        [
            anomaly("net_revenue", "TM-SE-1", "spike", "high", AS_OF, impact="good"),
            anomaly("net_revenue", "DIV-SALES", "dip", "critical", date(2025, 11, 18), AS_OF, direction="down"),
            anomaly("new_contracts", "DIV-SALES", "level_shift", "high", AS_OF),
            anomaly("complaint_rate", "DEP-SVC", "spike", "high", AS_OF, reason="3x the usual <complaints> & more"),
            anomaly("complaint_rate", "DEP-SVC", "dip", "medium", AS_OF),  # below the minimum severity
            anomaly("csat_avg", "ACME", "dip", "high", AS_OF, is_data_issue=True),
            anomaly("csat_avg", "ACME", "spike", "critical", date(2025, 11, 1), date(2025, 11, 10)),  # old
        ],
        columns=_ANOMALY_COLUMNS,
    )


def attainment(status_by_unit: dict[str, str], period_start: date = date(2025, 11, 1)) -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("net_revenue", unit, "month", period_start, 500.0, 800.0, 1000.0, 0.625, status, False)
            for unit, status in status_by_unit.items()
        ]
        + [("net_revenue", "ACME", "month", date(2025, 10, 1), 900.0, 1000.0, 1000.0, 0.9, "missed", True)],
        columns=["kpi_id", "org_unit_id", "grain", "period_start", "actual_value", "expected_to_date",
                 "target_value", "attainment_to_date", "status", "is_complete"],
    )
