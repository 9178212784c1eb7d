"""Every source table's contract (docs/sources.md is the prose version of this file)."""

from __future__ import annotations

from quality.contracts.model import Column, Contract, PairRule, Reference, VolumeRule

ORG_UNITS = Reference("hr", "org_units", "org_unit_id")
EMPLOYEES = Reference("hr", "employees", "employee_id")
PRODUCTS = Reference("erp", "products", "product_id")
CUSTOMERS = Reference("erp", "customers", "customer_id")
ORDERS = Reference("erp", "orders", "order_id")
ORDER_LINES = Reference("erp", "order_lines", "order_line_id")

#: Upper bounds that no real row of one transaction reaches; larger values are typos or unit errors
#: ("absurd"). They bound single rows (a line, a price, a stock level), never totals or targets.
MAX_QTY = 1_000_000
MAX_AMOUNT = 1e9


def _key(name: str, description: str = "") -> Column:
    return Column(name, "string", description or f"Key: {name}.", nullable=False, max_length=64)


def _ts(name: str, description: str, *, nullable: bool = True, not_future: bool = True) -> Column:
    return Column(name, "timestamp", description, nullable=nullable, not_future=not_future)


def _updated_at() -> Column:
    return _ts("updated_at", "Last change (UTC); the extraction watermark.", nullable=False)


def _created_at() -> Column:
    return _ts("created_at", "Creation time (UTC).")


def _flag(name: str, description: str) -> Column:
    return Column(name, "flag", description, nullable=False, allowed=(0, 1))


_WATERMARK_NOTE = "Partition = local date of updated_at."

CONTRACTS: tuple[Contract, ...] = (
    # ---------------------------------------------------------------- ERP/CRM
    Contract(
        "erp", "products", "Product master. " + _WATERMARK_NOTE,
        (
            _key("product_id"),
            Column("name", "string", "Product name.", nullable=False),
            Column("name_zh", "string", "Chinese product name."),
            Column("category", "string", "Product category.", nullable=False,
                   allowed=("instruments", "sensors", "software", "services", "consumables")),
            Column("product_line", "string", "Product line."),
            Column("list_price", "float", "List price (CNY).", nullable=False, min=0, max=MAX_AMOUNT),
            Column("unit_cost", "float", "Standard unit cost (CNY).", min=0, max=MAX_AMOUNT),
            _flag("is_active", "1 while the product is sold."),
            _created_at(),
            _updated_at(),
        ),
        key=("product_id",),
        volume=None,
    ),
    Contract(
        "erp", "customers", "Customer master. " + _WATERMARK_NOTE,
        (
            _key("customer_id"),
            Column("name", "string", "Customer name.", nullable=False, pii=True),
            Column("segment", "string", "Customer segment.", nullable=False,
                   allowed=("enterprise", "smb", "public_sector")),
            Column("region", "string", "Sales region.", nullable=False,
                   allowed=("east", "north", "south", "west", "central")),
            Column("city", "string", "City."),
            Column("account_team_id", "string", "Org unit owning the account.", references=ORG_UNITS),
            _created_at(),
            _updated_at(),
        ),
        key=("customer_id",),
        volume=None,
    ),
    Contract(
        "erp", "orders", "Sales order headers. " + _WATERMARK_NOTE,
        (
            _key("order_id"),
            Column("customer_id", "string", "Ordering customer.", nullable=False, references=CUSTOMERS),
            Column("sales_rep_id", "string", "Sales representative (employee).", references=EMPLOYEES),
            Column("org_unit_id", "string", "Booking sales team.", nullable=False, references=ORG_UNITS),
            _ts("order_ts", "Order time (UTC).", nullable=False),
            Column("channel", "string", "Sales channel.", nullable=False,
                   allowed=("direct", "distributor", "online", "partner")),
            Column("order_type", "string", "Contract or spot order.", nullable=False,
                   allowed=("contract", "spot")),
            Column("status", "string", "Order status.", nullable=False,
                   allowed=("open", "shipped", "cancelled")),
            Column("currency", "string", "ISO 4217 currency code.", nullable=False, regex=r"^[A-Z]{3}$"),
            _created_at(),
            _updated_at(),
        ),
        key=("order_id",),
    ),
    Contract(
        "erp", "order_lines", "Sales order lines. " + _WATERMARK_NOTE,
        (
            _key("order_line_id"),
            Column("order_id", "string", "Order header.", nullable=False, references=ORDERS),
            Column("line_no", "int", "Line number within the order.", nullable=False, min=1, max=10_000),
            Column("product_id", "string", "Product sold.", nullable=False, references=PRODUCTS),
            Column("quantity", "int", "Units ordered (> 0).", nullable=False, min=1, max=MAX_QTY),
            Column("unit_price", "float", "Price per unit before discount.", nullable=False,
                   min=0, max=MAX_AMOUNT),
            Column("discount_pct", "float", "Discount fraction in [0, 0.6].", nullable=False,
                   min=0, max=0.6),
            Column("unit_cost", "float", "Cost per unit.", min=0, max=MAX_AMOUNT),
            _flag("is_cancelled", "1 when the line was cancelled."),
            _created_at(),
            _updated_at(),
        ),
        key=("order_line_id",),
    ),
    Contract(
        "erp", "returns", "Returns against order lines. " + _WATERMARK_NOTE,
        (
            _key("return_id"),
            Column("order_line_id", "string", "Returned order line.", nullable=False, references=ORDER_LINES),
            _ts("return_ts", "Return time (UTC).", nullable=False),
            Column("quantity", "int", "Units returned (> 0).", nullable=False, min=1, max=MAX_QTY),
            Column("refund_amount", "float", "Refund (≥ 0).", nullable=False, min=0, max=MAX_AMOUNT),
            Column("reason", "string", "Return reason."),
            _created_at(),
            _updated_at(),
        ),
        key=("return_id",),
        volume=None,
    ),
    Contract(
        "erp", "inventory_snapshots", "End-of-day stock per warehouse and product. " + _WATERMARK_NOTE,
        (
            Column("snapshot_date", "date", "Local business date of the snapshot.", nullable=False,
                   not_future=True),
            Column("warehouse_id", "string", "Logistics team (org unit).", nullable=False,
                   references=ORG_UNITS),
            Column("product_id", "string", "Product.", nullable=False, references=PRODUCTS),
            Column("quantity_on_hand", "int", "Units on hand (≥ 0).", nullable=False, min=0, max=100 * MAX_QTY),
            Column("inventory_value", "float", "Value on hand (≥ 0).", nullable=False, min=0, max=MAX_AMOUNT),
            _updated_at(),
        ),
        key=("snapshot_date", "warehouse_id", "product_id"),
    ),
    # ---------------------------------------------------------------- HR
    Contract(
        "hr", "org_units", "Org units (SCD2: a re-organisation closes a row and opens a new one).",
        (
            _key("org_unit_id"),
            Column("name", "string", "Org unit name.", nullable=False),
            Column("name_zh", "string", "Chinese name."),
            Column("unit_type", "string", "Level in the hierarchy.", nullable=False,
                   allowed=("company", "division", "department", "team")),
            Column("parent_org_unit_id", "string", "Parent (null for the company).", references=ORG_UNITS),
            Column("manager_employee_id", "string", "Manager (employee)."),
            Column("valid_from", "date", "First day the row is valid.", nullable=False),
            Column("valid_to", "date", "Day the row stops being valid (exclusive); null = open."),
            _updated_at(),
        ),
        key=("org_unit_id", "valid_from"),
        pairs=(PairRule("valid_to", "valid_from", or_equal=False, description="valid_to after valid_from"),),
        volume=None,
    ),
    Contract(
        "hr", "employees", "Employees (PII: names and e-mail).",
        (
            _key("employee_id"),
            Column("full_name", "string", "Full name.", nullable=False, pii=True),
            Column("full_name_zh", "string", "Chinese full name.", pii=True),
            Column("email", "string", "E-mail address.", pii=True),
            Column("job_title", "string", "Job title."),
            Column("hire_date", "date", "Hire date.", nullable=False),
            Column("termination_date", "date", "Termination date, null while employed."),
            _updated_at(),
        ),
        key=("employee_id",),
        pairs=(PairRule("termination_date", "hire_date", description="termination on or after hire"),),
        volume=None,
    ),
    Contract(
        "hr", "employee_assignments", "Which org unit an employee belongs to, over time.",
        (
            _key("assignment_id"),
            Column("employee_id", "string", "Employee.", nullable=False, references=EMPLOYEES),
            Column("org_unit_id", "string", "Org unit.", nullable=False, references=ORG_UNITS),
            Column("role", "string", "Role in the unit.", nullable=False, allowed=("member", "manager")),
            Column("valid_from", "date", "First day of the assignment.", nullable=False),
            Column("valid_to", "date", "Day the assignment ends (exclusive); null = open."),
            _updated_at(),
        ),
        key=("assignment_id",),
        pairs=(PairRule("valid_to", "valid_from", or_equal=False, description="valid_to after valid_from"),),
        volume=None,
    ),
    Contract(
        "hr", "training_records", "Training attended by employees.",
        (
            _key("training_id"),
            Column("employee_id", "string", "Employee.", nullable=False, references=EMPLOYEES),
            Column("training_date", "date", "Local date of the training.", nullable=False, not_future=True),
            Column("course", "string", "Course name."),
            Column("hours", "float", "Hours in (0, 40].", nullable=False, min=0, strict_min=True, max=40),
            _updated_at(),
        ),
        key=("training_id",),
        volume=None,
    ),
    # ---------------------------------------------------------------- service desk (CSV, GB18030)
    Contract(
        "servicedesk", "tickets", "Service desk tickets; one GB18030 CSV per local day.",
        (
            _key("ticket_id"),
            _ts("opened_at", "Opened (local wall-clock in the file; UTC in raw).", nullable=False),
            _ts("first_response_at", "First response."),
            _ts("resolved_at", "Resolution."),
            Column("priority", "string", "Priority.", nullable=False, allowed=("P1", "P2", "P3", "P4")),
            Column("channel", "string", "Contact channel.", nullable=False,
                   allowed=("phone", "email", "chat", "wechat")),
            Column("category", "string", "Category (Chinese text)."),
            Column("subject", "string", "Subject (Chinese text)."),
            Column("customer_id", "string", "Customer.", references=CUSTOMERS),
            Column("team_id", "string", "Service team (org unit).", nullable=False, references=ORG_UNITS),
            Column("agent_id", "string", "Agent (employee).", references=EMPLOYEES),
            Column("csat", "int", "Satisfaction 1..5.", min=1, max=5),
            _flag("is_complaint", "1 when the ticket is a complaint."),
            _ts("updated_at", "Last change.", nullable=False),
        ),
        key=("ticket_id",),
        timestamp_mode="local",
        pairs=(
            PairRule("first_response_at", "opened_at", description="first response not before opening"),
            PairRule("resolved_at", "opened_at", description="resolution not before opening"),
        ),
    ),
    # ---------------------------------------------------------------- survey (JSONL)
    Contract(
        "survey", "nps_responses", "NPS survey responses; one JSONL file per local day.",
        (
            _key("response_id"),
            _ts("submitted_at", "Submission time (ISO 8601 with offset in the file).", nullable=False),
            Column("customer_id", "string", "Customer.", references=CUSTOMERS),
            Column("account_team_id", "string", "Account team (org unit).", references=ORG_UNITS),
            Column("score", "int", "Likelihood to recommend 0..10.", nullable=False, min=0, max=10),
            Column("touchpoint", "string", "Touchpoint surveyed."),
            Column("comment", "string", "Free-text comment."),
        ),
        key=("response_id",),
        timestamp_mode="offset",
    ),
    # ---------------------------------------------------------------- MES (Parquet)
    Contract(
        "mes", "production_runs", "Production runs finished that local day (Parquet).",
        (
            _key("run_id"),
            Column("line_id", "string", "Production team (org unit).", nullable=False, references=ORG_UNITS),
            Column("product_id", "string", "Product made.", nullable=False, references=PRODUCTS),
            _ts("started_at", "Run start (UTC).", nullable=False),
            _ts("finished_at", "Run end (UTC).", nullable=False),
            Column("planned_qty", "int", "Planned quantity.", nullable=False, min=0, max=MAX_QTY),
            Column("produced_qty", "int", "Produced quantity.", nullable=False, min=0, max=MAX_QTY),
            Column("defective_qty", "int", "Defective quantity (≤ produced).", nullable=False,
                   min=0, max=MAX_QTY),
            Column("promised_date", "date", "Delivery date promised.", nullable=False),
            Column("delivered_date", "date", "Delivery date, null when not yet delivered (a later status: "
                   "the export of the finishing day may carry it; at most a year after that day).",
                   not_future=True, future_days=366),
        ),
        key=("run_id",),
        pairs=(
            PairRule("produced_qty", "defective_qty", description="defective ≤ produced"),
            PairRule("finished_at", "started_at", description="finish not before start"),
        ),
    ),
    # ---------------------------------------------------------------- engineering (JSONL)
    Contract(
        "engineering", "bugs", "Bugs from the issue tracker; one JSONL file per local day.",
        (
            _key("bug_id"),
            _ts("created_at", "Creation time (ISO 8601 UTC).", nullable=False),
            Column("team_id", "string", "Owning team (org unit).", nullable=False, references=ORG_UNITS),
            Column("severity", "string", "Severity.", nullable=False, allowed=("S1", "S2", "S3", "S4")),
            Column("component", "string", "Component."),
            Column("release_id", "string", "Release the bug was found in."),
            Column("status", "string", "Status.", nullable=False, allowed=("open", "fixed", "wontfix")),
            _ts("resolved_at", "Resolution time (ISO 8601 UTC)."),
        ),
        key=("bug_id",),
        timestamp_mode="offset",
        pairs=(PairRule("resolved_at", "created_at", description="resolution not before creation"),),
    ),
    Contract(
        "engineering", "releases", "Releases from CI; one JSONL file per local day.",
        (
            _key("release_id"),
            Column("team_id", "string", "Releasing team (org unit).", nullable=False, references=ORG_UNITS),
            _ts("released_at", "Release time (ISO 8601 UTC).", nullable=False),
            Column("version", "string", "Version string."),
            Column("test_cases_executed", "int", "Test cases executed.", nullable=False, min=0, max=10 * MAX_QTY),
            Column("test_cases_failed", "int", "Test cases failed.", nullable=False, min=0, max=10 * MAX_QTY),
            Column("change_count", "int", "Changes in the release.", nullable=False, min=0, max=MAX_QTY),
        ),
        key=("release_id",),
        timestamp_mode="offset",
        pairs=(PairRule("test_cases_executed", "test_cases_failed", description="failed ≤ executed"),),
        volume=None,
    ),
    # ---------------------------------------------------------------- finance (XLSX workbooks)
    Contract(
        "finance", "targets", "Targets from the plan workbooks (sheet Targets); partition = plan valid_from.",
        (
            Column("plan_version", "string", "Plan version from the Info sheet.", nullable=False, derived=True),
            Column("kpi_id", "string", "KPI id from the catalog.", nullable=False, max_length=64),
            Column("org_unit_id", "string", "Org unit.", nullable=False, references=ORG_UNITS),
            Column("period", "string", "Year, quarter or month (2025, 2025-Q1, 2025-01).", nullable=False,
                   regex=r"^\d{4}(?:-Q[1-4]|-(?:0[1-9]|1[0-2]))?$"),
            # No fixed cap: a target is in the KPI's own unit (an amount can be billions, a share is
            # within [0, 1]); the warehouse checks it against the KPI's possible range and rejects the
            # target visibly (kpi_targets.target_status), never replacing it with a fallback.
            Column("target_value", "float", "Target value, in the KPI's unit."),
            Column("target_low", "float", "Lower bound (target_range KPIs)."),
            Column("target_high", "float", "Upper bound (target_range KPIs)."),
            Column("comment", "string", "Comment."),
        ),
        key=("plan_version", "kpi_id", "org_unit_id", "period"),
        pairs=(PairRule("target_high", "target_low", description="target_high ≥ target_low"),),
        volume=None,
    ),
    Contract(
        "finance", "weights", "KPI weights per org unit from the plan workbooks (sheet Weights).",
        (
            Column("plan_version", "string", "Plan version from the Info sheet.", nullable=False, derived=True),
            Column("org_unit_id", "string", "Org unit.", nullable=False, references=ORG_UNITS),
            Column("kpi_id", "string", "KPI id from the catalog.", nullable=False, max_length=64),
            Column("weight", "float", "Weight (an org unit's weights sum to 100).", nullable=False,
                   min=0, max=100),
        ),
        key=("plan_version", "org_unit_id", "kpi_id"),
        volume=None,
    ),
    Contract(
        "finance", "plan_info", "One row per plan workbook (sheet Info).",
        (
            Column("plan_version", "string", "Plan version, e.g. FY2025-v2.", nullable=False, max_length=64),
            Column("fiscal_year", "int", "Fiscal year.", nullable=False, min=2000, max=2100),
            Column("valid_from", "date", "Date the plan takes effect.", nullable=False),
            Column("approved_by", "string", "Approver."),
            Column("file", "string", "Workbook file name.", nullable=False, derived=True),
        ),
        key=("plan_version",),
        volume=None,
    ),
)

_BY_NAME = {c.name: c for c in CONTRACTS}


def get_contract(source: str, table: str | None = None) -> Contract:
    """The contract of ``source.table`` (or of ``"source.table"`` given as one argument)."""
    name = source if table is None else f"{source}.{table}"
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no contract for source table {name!r}; known: {', '.join(_BY_NAME)}") from None


# VolumeRule is re-exported for callers that tune it.
__all__ = ["CONTRACTS", "VolumeRule", "get_contract"]
