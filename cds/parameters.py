"""Rule parameters, checked per kind: pydantic models whose errors name the field (`parameters.window_days: …`).

Codes are lists, not a terminology server: Carebase has no SNOMED CT, LOINC or RxNorm hierarchy to expand, so a
code set lists the codes it means (descendants included, written out) and display words as synonyms. A code is
`CODE`, `SYSTEM|CODE`, or a prefix `E11*` (ICD-10 chapters); a synonym matches whole words of the display, in any
case ("diabetes" matches "Diabetes mellitus type 2", not "Prediabetes").
"""

from __future__ import annotations

import re
import string
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

EVIDENCE_KINDS = ("observation", "procedure", "immunization", "imaging", "report")
SEX = Literal["", "female", "male"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeSet(Strict):
    codes: list[str] = Field(default_factory=list, description="CODE, SYSTEM|CODE or a PREFIX*")
    synonyms: list[str] = Field(default_factory=list, description="words or phrases matched in the display")

    @model_validator(mode="after")
    def _something(self) -> CodeSet:
        if not any(c.strip() for c in self.codes) and not any(s.strip() for s in self.synonyms):
            raise ValueError("give at least one code or synonym")
        return self

    @cached_property
    def _patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(rf"(?<![a-z0-9]){re.escape(s.strip().lower())}(?![a-z0-9])") for s in self.synonyms if s.strip()]

    def matches(self, system: str, code: str, display: str) -> bool:
        for wanted in self.codes:
            wanted_system, _, wanted_code = wanted.strip().rpartition("|")
            if wanted_system and wanted_system != system:
                continue
            prefix = wanted_code.endswith("*") and code.startswith(wanted_code[:-1])
            if prefix or (code and code == wanted_code):
                return True
        text = display.lower()
        return any(p.search(text) for p in self._patterns)


class Common(Strict):
    """Who a rule is for: ages (completed years) and sex, on every kind."""

    min_age: float | None = Field(None, ge=0, le=150)
    max_age: float | None = Field(None, ge=0, le=150)
    sex: SEX = ""


class CareGap(Common):
    condition: CodeSet
    expect: CodeSet = Field(description="the test, procedure or vaccine that should be in the chart")
    expect_in: list[Literal["observation", "procedure", "immunization", "imaging", "report"]] = ["observation"]
    window_days: int = Field(ge=1, le=36500)


class LabThreshold(Common):
    condition: CodeSet | None = None
    lab: CodeSet
    above: float | None = None
    below: float | None = None
    unit: str = Field("", description="only values in this unit (empty: any)")
    window_days: int | None = Field(None, ge=1, le=36500, description="only a latest value this recent")

    @model_validator(mode="after")
    def _bound(self) -> LabThreshold:
        if self.above is None and self.below is None:
            raise ValueError("give 'above' or 'below' (or both)")
        return self


class LabTrend(Common):
    condition: CodeSet | None = None
    lab: CodeSet
    direction: Literal["rising", "falling"] = "rising"
    unit: str = Field("", description="only values in this unit (empty: any); min_change is in it")
    window_days: int = Field(ge=1, le=36500)
    min_change: float | None = Field(None, gt=0, description="absolute change from the lowest (highest) value")
    min_ratio: float | None = Field(None, gt=1, description="latest / lowest (highest / latest) at least this")
    min_points: int = Field(2, ge=2, le=50)

    @model_validator(mode="after")
    def _change(self) -> LabTrend:
        if self.min_change is None and self.min_ratio is None:
            raise ValueError("give 'min_change' or 'min_ratio' (or both)")
        return self


class ConditionMedication(Common):
    condition: CodeSet
    medication: CodeSet


class AllergenIngredients(Strict):
    allergen: CodeSet
    ingredients: list[str] = Field(min_length=1, description="ingredient words that an allergy to it rules out")


class AllergyMedication(Common):
    pairs: list[AllergenIngredients] = Field(default_factory=list)
    match_allergen_name: bool = Field(True, description="an allergy whose substance name is in the drug's name conflicts too")


class VariantScreening(Common):
    genes: list[str] = Field(min_length=1)
    significance: list[str] = Field(default_factory=lambda: ["pathogenic", "likely pathogenic"])
    screening: CodeSet
    screening_in: list[Literal["observation", "procedure", "immunization", "imaging", "report"]] = [
        "procedure",
        "imaging",
        "report",
    ]
    window_days: int = Field(ge=1, le=36500)


class ImmunizationDue(Common):
    vaccine: CodeSet
    window_days: int | None = Field(None, ge=1, le=36500, description="empty: once in a lifetime")
    condition: CodeSet | None = None


KINDS: dict[str, type[Common]] = {
    "care_gap": CareGap,
    "lab_threshold": LabThreshold,
    "lab_trend": LabTrend,
    "condition_medication": ConditionMedication,
    "allergy_medication": AllergyMedication,
    "variant_screening": VariantScreening,
    "immunization_due": ImmunizationDue,
}
# What each kind's summary and detail may say: the evaluator fills these in.
PLACEHOLDERS: dict[str, set[str]] = {
    "care_gap": {"condition", "expected", "window", "last", "last_date", "last_value"},
    "lab_threshold": {"condition", "lab", "value", "unit", "date", "threshold"},
    "lab_trend": {"condition", "lab", "value", "unit", "date", "first_value", "first_date", "change"},
    "condition_medication": {"condition", "drug"},
    "allergy_medication": {"allergen", "drug", "ingredient"},
    "variant_screening": {"gene", "variant", "significance", "screening", "window", "last"},
    "immunization_due": {"vaccine", "window", "last", "last_date"},
}


def parse(kind: str, parameters: Any) -> Common:
    """The parameters as the kind's model; ValueError naming each bad field (`parameters.lab.codes: …`)."""
    model = KINDS.get(kind)
    if model is None:
        raise ValueError(f"kind: unknown {kind!r}; use one of {', '.join(KINDS)}")
    try:
        return model.model_validate(parameters if parameters is not None else {})
    except ValidationError as e:
        raise ValueError("; ".join(_error_text(err) for err in e.errors())) from None


def _error_text(error: Any) -> str:
    place = ".".join(str(p) for p in ("parameters", *error["loc"]))
    return f"{place}: {error['msg']}"


def template_fields(text: str) -> set[str]:
    """The {placeholders} of a summary or detail template; ValueError for a broken template, or a placeholder that
    is more than a plain name ({value.x}, {value!r}, {value:>9} would fail or leak Python when filled)."""
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not re.fullmatch(r"[a-z_]+", name) or spec or conversion:
            raise ValueError(
                f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} is not a plain {{name}}"
            )
        names.add(name)
    return names


def rule_problems(*, kind: str, parameters: Any, summary: str, detail: str) -> list[tuple[str, str]]:
    """(field, message) for everything wrong with a rule; empty when it can go live."""
    problems: list[tuple[str, str]] = []
    try:
        parse(kind, parameters)
    except ValueError as e:
        problems.append(("kind" if str(e).startswith("kind:") else "parameters", str(e)))
    allowed = PLACEHOLDERS.get(kind, set())
    for field, text in (("summary", summary), ("detail", detail)):
        try:
            unknown = template_fields(text or "") - allowed
        except ValueError as e:
            problems.append((field, f"{field}: not a template ({e}); write placeholders as {{value}}"))
            continue
        if unknown:
            problems.append(
                (field, f"{field}: unknown placeholder(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(allowed))}")
            )
    return problems
