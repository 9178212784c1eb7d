"""Measure expressions, filters and derived formulas: parsed with sqlglot, checked against a whitelist.

Nothing a catalog author writes reaches dbt as text: the SQL handed to the macros is re-rendered
from the validated syntax tree. Allowed: columns of the measure's model (unqualified), numbers,
strings, booleans, null, arithmetic, comparisons, ``and/or/not``, ``is [not] null``, ``in (...)``,
``between``, ``like``, ``case``/``if``, ``cast`` to a plain type and the functions in
:data:`ALLOWED_FUNCTIONS`. Rejected: everything else (subqueries, unknown or table functions,
aggregates, window functions, qualified or unknown columns, ``;``, comments, ``*``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

DIALECT = "duckdb"

#: Row-level functions a measure may use (sqlglot expression class -> name in messages).
ALLOWED_FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Abs: "abs",
    exp.Round: "round",
    exp.Floor: "floor",
    exp.Ceil: "ceil",
    exp.Greatest: "greatest",
    exp.Least: "least",
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
    exp.Lower: "lower",
    exp.Upper: "upper",
    exp.Trim: "trim",
    exp.Length: "length",
    exp.If: "if",
    exp.Case: "case",
    exp.Cast: "cast",
}

#: Operators and leaves.
ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.DataType,
    exp.DataTypeParam,
)

#: Formulas of derived KPIs: arithmetic over KPI ids only.
FORMULA_FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Abs: "abs",
    exp.Round: "round",
    exp.Greatest: "greatest",
    exp.Least: "least",
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
}
FORMULA_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Null,
    exp.Paren,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Neg,
)

ALLOWED_TYPES = {
    exp.DataType.Type.DOUBLE,
    exp.DataType.Type.FLOAT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.DECIMAL,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.DATE,
    exp.DataType.Type.BOOLEAN,
}


class ExpressionError(ValueError):
    """An expression broke a rule; the message says which."""


@dataclass(frozen=True)
class CheckedExpression:
    """A validated expression: its tree, the columns it reads and its canonical SQL."""

    tree: exp.Expression
    columns: frozenset[str]

    @property
    def sql(self) -> str:
        """Canonical SQL, columns unqualified (for documentation and hashing)."""
        return self.tree.sql(dialect=DIALECT)

    def render(self, qualifier: str | None = None) -> str:
        """SQL for dbt: columns qualified with ``qualifier``, every division guarded by nullif."""
        return render_tree(self.tree, lambda name: exp.column(name, table=qualifier) if qualifier else None)


def _parse(text: str) -> exp.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("is empty")
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)
    except (TokenError, ParseError) as err:
        raise ExpressionError(f"cannot be read as SQL ({_first_line(err)})") from None
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            raise ExpressionError("contains ';' (one expression only, no statements)")
        if token.comments:
            raise ExpressionError("contains a comment (-- or /* */)")
    try:
        statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
    except (ParseError, TokenError) as err:
        raise ExpressionError(f"cannot be read as SQL ({_first_line(err)})") from None
    if len(statements) != 1:
        raise ExpressionError("must be exactly one expression")
    return statements[0]


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0][:200]


def _node_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return f"function {node.name}()"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name().lower()}()"
    if isinstance(node, exp.Subquery | exp.Select | exp.Query):
        return "subquery"
    if isinstance(node, exp.Star):
        return "*"
    return type(node).__name__


def check_expression(text: str, columns: Iterable[str], *, what: str = "expression") -> CheckedExpression:
    """Validate a row-level expression or filter over ``columns``; raise :class:`ExpressionError`."""
    tree = _parse(text)
    known = {c.lower() for c in columns}
    used: set[str] = set()
    for node in tree.walk():
        if isinstance(node, exp.Column):
            if node.table or node.args.get("db") or node.args.get("catalog"):
                raise ExpressionError(f"qualified column {node.sql(dialect=DIALECT)!r}: use the model's columns only")
            name = node.name.lower()
            if name not in known:
                raise ExpressionError(f"unknown column {node.name!r} (not a documented column of the model)")
            used.add(name)
        elif isinstance(node, exp.DataType):
            if node.this not in ALLOWED_TYPES:
                raise ExpressionError(f"cast to {node.sql(dialect=DIALECT)} is not allowed")
        elif type(node) in ALLOWED_FUNCTIONS or isinstance(node, ALLOWED_NODES):
            if isinstance(node, exp.In) and node.args.get("query"):
                raise ExpressionError("subquery is not allowed")
            continue
        else:
            raise ExpressionError(f"{_node_name(node)} is not allowed in a {what}")
    return CheckedExpression(tree=tree, columns=frozenset(used))


def check_formula(text: str, kpi_ids: Iterable[str] | None) -> CheckedExpression:
    """Validate a derived KPI's formula: arithmetic over KPI ids and numbers only.

    ``kpi_ids=None`` accepts any name (to collect references before every id is known).
    """
    tree = _parse(text)
    known = set(kpi_ids) if kpi_ids is not None else None
    used: set[str] = set()
    for node in tree.walk():
        if isinstance(node, exp.Column):
            if node.table:
                raise ExpressionError(f"qualified name {node.sql(dialect=DIALECT)!r}: use KPI ids only")
            if known is not None and node.name not in known:
                raise ExpressionError(f"unknown KPI id {node.name!r}")
            used.add(node.name)
        elif isinstance(node, exp.Literal):
            if node.is_string:
                raise ExpressionError("strings are not allowed in a formula")
        elif type(node) in FORMULA_FUNCTIONS or isinstance(node, FORMULA_NODES):
            continue
        else:
            raise ExpressionError(f"{_node_name(node)} is not allowed in a formula")
    return CheckedExpression(tree=tree, columns=frozenset(used))


def render_tree(tree: exp.Expression, column: Callable[[str], exp.Expression | None]) -> str:
    """Render a validated tree: replace columns via ``column`` and guard divisions with nullif."""

    def columns(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            replacement = column(node.name)
            return replacement if replacement is not None else exp.column(node.name)
        return node

    def divisions(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Div) and not isinstance(node.expression, exp.Nullif):
            return exp.Div(
                this=exp.Paren(this=node.this.copy()),
                expression=exp.Nullif(
                    this=exp.Paren(this=node.expression.copy()), expression=exp.Literal.number(0)
                ),
            )
        return node

    renamed = tree.copy().transform(columns)
    # post-order, so nested divisions are guarded too
    guarded = renamed
    for node in list(renamed.walk(bfs=False))[::-1]:
        if isinstance(node, exp.Div):
            replacement = divisions(node)
            if node is guarded:
                guarded = replacement
            else:
                node.replace(replacement)
    return guarded.sql(dialect=DIALECT)


def split_division(tree: exp.Expression) -> tuple[exp.Expression, exp.Expression] | None:
    """(numerator, denominator) when the formula's top-level operation is a division."""
    node = tree
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Div):
        return node.this, node.expression
    return None


class _Unbounded(Exception):
    """A node whose interval is not derived here (the formula's range is then unknown)."""


def render_interval(tree: exp.Expression, low: Callable[[str], str], high: Callable[[str], str]) -> tuple[str, str] | None:
    """SQL for the lowest and highest value a validated formula can take when each KPI id it uses lies
    in [low(id), high(id)] (interval arithmetic: +, −, ×, ÷ by a divisor that keeps one sign, unary
    minus, abs, greatest, least, numbers). A null end anywhere makes the result null. None when the
    formula uses something else (round, coalesce, nullif): its interval is unknown."""

    def both(parts: list[str], body: str) -> str:
        checks = " or ".join(f"({p}) is null" for p in parts)
        return f"case when {checks} then null else {body} end"

    def corners(a: tuple[str, str], b: tuple[str, str]) -> tuple[str, str]:
        products = [f"({x}) * ({y})" for x in a for y in b]
        parts = [*a, *b]
        return both(parts, f"least({', '.join(products)})"), both(parts, f"greatest({', '.join(products)})")

    def walk(node: exp.Expression) -> tuple[str, str]:
        if isinstance(node, exp.Paren):
            return walk(node.this)
        if isinstance(node, exp.Column):
            return low(node.name), high(node.name)
        if isinstance(node, exp.Literal) and not node.is_string:
            text = node.sql(dialect=DIALECT)
            return text, text
        if isinstance(node, exp.Neg):
            lo, hi = walk(node.this)
            return f"-({hi})", f"-({lo})"
        if isinstance(node, exp.Add | exp.Sub):
            (alo, ahi), (blo, bhi) = walk(node.this), walk(node.expression)
            if isinstance(node, exp.Add):
                return f"({alo}) + ({blo})", f"({ahi}) + ({bhi})"
            return f"({alo}) - ({bhi})", f"({ahi}) - ({blo})"
        if isinstance(node, exp.Mul):
            return corners(walk(node.this), walk(node.expression))
        if isinstance(node, exp.Div):
            a, (blo, bhi) = walk(node.this), walk(node.expression)
            lo, hi = corners(a, (f"1.0 / ({bhi})", f"1.0 / ({blo})"))
            # only for a divisor that keeps one sign (never 0)
            keeps_sign = f"(({blo}) > 0 or ({bhi}) < 0)"
            return f"case when {keeps_sign} then {lo} end", f"case when {keeps_sign} then {hi} end"
        if isinstance(node, exp.Abs):
            lo, hi = walk(node.this)
            return (both([lo, hi], f"case when ({lo}) >= 0 then ({lo}) when ({hi}) <= 0 then -({hi}) else 0 end"),
                    both([lo, hi], f"greatest(abs({lo}), abs({hi}))"))
        if isinstance(node, exp.Greatest | exp.Least):
            parts = [walk(e) for e in [node.this, *node.expressions]]
            fn = "greatest" if isinstance(node, exp.Greatest) else "least"
            los, his = [p[0] for p in parts], [p[1] for p in parts]
            return both(los, f"{fn}({', '.join(los)})"), both(his, f"{fn}({', '.join(his)})")
        raise _Unbounded(type(node).__name__)

    try:
        return walk(tree)
    except _Unbounded:
        return None
