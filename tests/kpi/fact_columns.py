"""The fact columns of docs/warehouse.md, for catalog tests that must not depend on the dbt models' YAML."""

from __future__ import annotations

from pathlib import Path

import yaml

FACT_COLUMNS: dict[str, list[str]] = {
    "fct_revenue_events": [
        "event_id", "event_type", "event_date", "order_id", "org_unit_id", "sales_rep_id", "customer_id",
        "product_id", "product_category", "channel", "region", "segment", "quantity", "gross_amount",
        "net_amount", "cost_amount",
    ],
    "fct_orders": [
        "order_id", "order_date", "org_unit_id", "sales_rep_id", "customer_id", "channel", "order_type",
        "region", "segment", "is_cancelled", "is_repeat_customer", "is_new_contract", "order_net_amount",
    ],
    "fct_tickets": [
        "ticket_id", "opened_date", "opened_at_utc", "org_unit_id", "agent_id", "customer_id", "priority",
        "channel", "category", "region", "segment", "first_response_seconds", "is_resolved",
        "resolution_hours", "csat", "is_complaint",
    ],
    "fct_survey_responses": [
        "response_id", "response_date", "org_unit_id", "customer_id", "region", "segment", "touchpoint",
        "score", "is_promoter", "is_detractor",
    ],
    "fct_production_runs": [
        "run_id", "finish_date", "org_unit_id", "product_id", "product_category", "planned_qty",
        "produced_qty", "defective_qty", "good_qty", "promised_date", "delivered_date", "is_delivered",
        "is_on_time",
    ],
    "fct_bugs": ["bug_id", "created_date", "org_unit_id", "severity", "component", "release_id", "status"],
    "fct_releases": [
        "release_id", "release_date", "org_unit_id", "test_cases_executed", "test_cases_failed", "change_count",
    ],
    "fct_inventory_daily": [
        "snapshot_date", "org_unit_id", "product_id", "product_category", "quantity_on_hand", "inventory_value",
    ],
    "fct_training": ["training_id", "training_date", "employee_id", "org_unit_id", "hours"],
    "fct_headcount_daily": ["date_day", "org_unit_id", "headcount"],
}


def write_fact_models_yaml(dbt_project_dir: Path) -> Path:
    """A minimal dbt project tree whose models YAML documents the facts of docs/warehouse.md."""
    path = Path(dbt_project_dir) / "models" / "marts" / "core" / "_core__models.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": 2,
        "models": [
            {"name": name, "description": name, "columns": [{"name": c, "description": c} for c in cols]}
            for name, cols in FACT_COLUMNS.items()
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
