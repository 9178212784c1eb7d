"""Pydantic models of the KPI catalog (the YAML files in ``dbt_project/catalog/``).

A KPI entry in YAML carries its first version's definition plus ``versions``; every later version
lists only its ``changes`` (deep-merged onto the previous version's definition). The loader resolves
each version into a full :class:`KpiSpec` and validates it on its own.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GRAINS = ("day", "week", "month", "quarter", "year")
TARGET_GRAINS = ("month", "quarter", "year")
MEASURE_TYPES = ("sum", "count", "count_distinct", "ratio", "percentile", "last", "derived")
DIRECTIONS = ("higher_is_better", "lower_is_better", "target_range")
ID_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
ORG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Objective(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1)
    name_zh: str | None = None
    description: str = Field(min_length=1)
    owner: str = Field(pattern=ORG_PATTERN, description="Org unit that owns the objective.")


class Owner(_Strict):
    org_unit: str | None = Field(None, pattern=ORG_PATTERN)
    person: str | None = Field(None, pattern=ORG_PATTERN)

    @model_validator(mode="after")
    def _one_of(self) -> Owner:
        if not self.org_unit and not self.person:
            raise ValueError("an owner needs an org_unit, a person or both")
        return self


class RatioPart(_Strict):
    type: Literal["sum", "count"]
    expression: str | None = None
    filter: str | None = None

    @model_validator(mode="after")
    def _sum_needs_expression(self) -> RatioPart:
        if self.type == "sum" and not self.expression:
            raise ValueError("a sum needs an expression")
        return self


class Measure(_Strict):
    type: Literal["sum", "count", "count_distinct", "ratio", "percentile", "last", "derived"]
    model: str | None = None
    expression: str | None = None
    filter: str | None = None
    time_column: str | None = None
    org_column: str | None = None
    numerator: RatioPart | None = None
    denominator: RatioPart | None = None
    scale: float = 1.0
    percentile: float | None = Field(None, gt=0, lt=1)
    formula: str | None = None

    @model_validator(mode="after")
    def _fields_per_type(self) -> Measure:
        t = self.type
        problems = self._source_problems()
        if t in ("sum", "count_distinct", "percentile", "last") and not self.expression:
            problems.append(f"a {t} measure needs an expression")
        problems += self._ratio_problems()
        if t == "percentile" and self.percentile is None:
            problems.append("a percentile measure needs percentile (0 < p < 1)")
        if t != "percentile" and self.percentile is not None:
            problems.append(f"a {t} measure takes no percentile")
        if self.scale <= 0:
            problems.append("scale must be positive")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _source_problems(self) -> list[str]:
        """A derived measure has a formula and nothing else; the others a model, a time column and no formula."""
        t = self.type
        problems: list[str] = []
        if t == "derived":
            if not self.formula:
                problems.append("a derived measure needs a formula")
            for name in ("model", "expression", "filter", "time_column", "numerator", "denominator"):
                if getattr(self, name) is not None:
                    problems.append(f"a derived measure takes no {name} (only formula)")
        else:
            if not self.model:
                problems.append(f"a {t} measure needs a model")
            if not self.time_column:
                problems.append(f"a {t} measure needs a time_column")
            if self.formula is not None:
                problems.append(f"a {t} measure takes no formula")
        return problems

    def _ratio_problems(self) -> list[str]:
        """A ratio has a numerator and a denominator (and no expression); nothing else has them."""
        problems: list[str] = []
        if self.type == "ratio":
            if self.numerator is None or self.denominator is None:
                problems.append("a ratio needs a numerator and a denominator")
            if self.expression is not None:
                problems.append("a ratio takes no expression (numerator/denominator have their own)")
        elif self.numerator is not None or self.denominator is not None:
            problems.append(f"a {self.type} measure takes no numerator/denominator")
        return problems

    @property
    def is_additive(self) -> bool:
        return self.type in ("sum", "count")


class Thresholds(_Strict):
    amber: float = Field(0.9, gt=0, le=1)
    cap: float = Field(1.2, ge=1)


class Target(_Strict):
    rule: Literal["growth_vs_last_year", "fixed", "none"] = "none"
    value: float | None = None
    by_grain: dict[Literal["month", "quarter", "year"], float] | None = None
    low: float | None = None
    high: float | None = None
    org_units: list[str] | None = Field(
        None, description="fixed rule of an additive KPI: where the value applies (default: scope roots)"
    )
    unit_types: list[str] | None = Field(
        None, description="fixed rule of an additive KPI: applies to every in-scope unit of these types"
    )

    @model_validator(mode="after")
    def _rule_fields(self) -> Target:
        if self.rule == "growth_vs_last_year":
            if self.value is None:
                raise ValueError("growth_vs_last_year needs value (e.g. 0.10 for +10 %, -0.10 for -10 %)")
            if self.value <= -1:
                raise ValueError("growth_vs_last_year value must be greater than -1")
        if self.rule == "fixed":
            has_range = self.low is not None or self.high is not None
            if self.value is None and not self.by_grain and not has_range:
                raise ValueError("fixed needs value, by_grain or low/high")
            if has_range and (self.low is None or self.high is None or self.low >= self.high):
                raise ValueError("a target range needs low < high")
        if self.rule == "none" and (self.value is not None or self.by_grain):
            raise ValueError("rule none takes no value")
        return self


class ValueRange(_Strict):
    """The values a KPI can possibly take (either end optional)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("range needs min < max")
        return self


class Weights(_Strict):
    by_unit_type: dict[str, float] = Field(default_factory=dict)
    units: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "units" in data or set(data) <= {"by_unit_type"}:
            return data
        by_type = data.get("by_unit_type") or {}
        units = {k: v for k, v in data.items() if k != "by_unit_type"}
        return {"by_unit_type": by_type, "units": units}

    @field_validator("by_unit_type", "units")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for key, weight in value.items():
            if weight is None or weight <= 0 or weight > 100:
                raise ValueError(f"weight of {key} must be in (0, 100]")
        return value


class KpiSpec(_Strict):
    """One resolved version of a KPI: every field, validated."""

    name: str = Field(min_length=1)
    name_zh: str | None = None
    description: str = Field(min_length=1)
    objective: str = Field(pattern=ID_PATTERN)
    owner: Owner
    unit: str = Field(min_length=1)
    direction: Literal["higher_is_better", "lower_is_better", "target_range"]
    measure: Measure
    grains: list[Literal["day", "week", "month", "quarter", "year"]] = Field(min_length=1)
    scope: list[str] = Field(min_length=1)
    scope_max_depth: int | None = Field(
        None, ge=0, description="only units at most this many levels below a scope root (0 = the roots)"
    )
    thresholds: Thresholds = Thresholds()
    target: Target = Target()
    weights: Weights = Weights()
    range: ValueRange | None = Field(
        None, description="possible values (default: inferred from the unit, measure or formula)"
    )
    critical: bool = Field(
        False, description="a missing, stale or far too small feed of its inputs on the run date blocks publishing"
    )
    maturity_days: int | None = Field(
        None, ge=0, le=366,
        description="days a daily value takes to settle (counted on a date that later events complete, e.g. "
                    "resolution time by opening date); optional: learned from the data when absent",
    )

    @field_validator("grains")
    @classmethod
    def _unique_grains(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("grains repeat")
        return [g for g in GRAINS if g in value]

    @model_validator(mode="after")
    def _range_target(self) -> KpiSpec:
        has_range = self.target.low is not None
        if self.direction == "target_range" and self.target.rule == "fixed" and not has_range:
            raise ValueError("a target_range KPI with a fixed target needs target.low and target.high")
        if self.direction != "target_range" and has_range:
            raise ValueError("target.low/high only apply to target_range KPIs")
        return self


class Version(_Strict):
    version: int = Field(ge=1)
    valid_from: date
    reason: str | None = None
    changes: dict[str, Any] | None = None


class KpiVersion(BaseModel):
    """A KPI version as the compiler sees it."""

    model_config = ConfigDict(frozen=True)

    kpi_id: str
    version: int
    valid_from: date
    valid_to: date | None
    reason: str | None
    spec: KpiSpec
    catalog_file: str


class Kpi(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    catalog_file: str
    versions: list[KpiVersion]

    @property
    def current(self) -> KpiVersion:
        return self.versions[-1]


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    objectives: list[Objective]
    objective_files: dict[str, str]
    kpis: list[Kpi]

    def kpi(self, kpi_id: str) -> Kpi:
        for kpi in self.kpis:
            if kpi.id == kpi_id:
                return kpi
        raise KeyError(kpi_id)
