"""Lab results, vital signs and lab panel reports, with values that follow each problem's course."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

from clinic.synthetic.tables import (
    LABS,
    LOINC,
    PANELS,
    PROGRESSIVE_LABS,
    UCUM,
    PatientBuilder,
    Problem,
    Resource,
    Visit,
    concept,
    when,
)


def _trajectory(problem: Problem, key: str, moment: dt.datetime, rng: random.Random) -> float:
    """Where a value stands at `moment`: from its value at diagnosis towards the treated value (months after)."""
    months = max(0.0, (moment - problem.onset).days / 30.4)
    start, treated = problem.start_values[key], problem.treated_values[key]
    if key in PROGRESSIVE_LABS:  # kidney function keeps drifting slowly, treatment or not
        progress = min(1.0, months / 60)
    else:
        progress = 1 - math.exp(-months / 4)
    noise = abs(treated - start) * 0.06 * rng.uniform(-1, 1)
    return start + (treated - start) * progress + noise


def _lab_due(problem: Problem, visit: Visit, rng: random.Random) -> bool:
    return visit.start >= problem.onset and (abs((visit.start - problem.onset).days) < 2 or rng.random() < 0.65)


def _interpretation(value: float, low: float, high: float) -> Resource:
    code, display = ("H", "High") if value > high else ("L", "Low") if value < low else ("N", "Normal")
    return concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", code, display)


def _category(code: str) -> list[Resource]:
    display = {"laboratory": "Laboratory", "vital-signs": "Vital Signs", "survey": "Survey"}[code]
    return [concept("http://terminology.hl7.org/CodeSystem/observation-category", code, display)]


def _quantity(value: float, unit: str) -> Resource:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observation(
    b: PatientBuilder, person: dict[str, Any], visit: Visit, code: str, display: str, value: float, unit: str, **kw: Any
) -> str:
    resource: Resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": _category(kw.get("category", "laboratory")),
        "code": concept(LOINC, code, display),
        "subject": {"reference": person["ref"]},
        "encounter": {"reference": visit.ref},
        "effectiveDateTime": when(visit.start + dt.timedelta(minutes=10)),
        "issued": when(visit.start + dt.timedelta(hours=2)),
        "valueQuantity": _quantity(value, unit),
    }
    if "low" in kw:
        resource["referenceRange"] = [{"low": _quantity(kw["low"], unit), "high": _quantity(kw["high"], unit)}]
        resource["interpretation"] = [_interpretation(value, kw["low"], kw["high"])]
    return b.add(resource)


def observations(b: PatientBuilder, person: dict[str, Any], visit: Visit, problems: list[Problem]) -> None:
    rng = b.rng
    if visit.kind != "emergency" or rng.random() < 0.5:
        _vitals(b, person, visit, problems)
    results: dict[str, str] = {}
    for problem in problems:
        if not problem.chronic.labs or visit.kind == "emergency" or not _lab_due(problem, visit, rng):
            continue
        for key in problem.chronic.labs:
            lab = LABS[key]
            value = round(_trajectory(problem, key, visit.start, rng), lab.decimals)
            value = int(value) if lab.decimals == 0 else value
            visit.labs[key] = value
            category = "survey" if key == "phq9" else "laboratory"
            results[key] = _observation(
                b, person, visit, lab.code, lab.display, value, lab.unit, low=lab.low, high=lab.high, category=category
            )
    for code, display, keys in PANELS.values():
        members = [results[k] for k in keys if k in results]
        if members:
            _lab_report(b, person, visit, code, display, members, keys)


def _vitals(b: PatientBuilder, person: dict[str, Any], visit: Visit, problems: list[Problem]) -> None:
    rng = b.rng
    keys = {p.chronic.key: p for p in problems}
    base = 0.8 + (sum(ord(c) for c in person["mrn"]) % 30) / 100
    height = 1.62 if person["gender"] == "female" else 1.76
    weight = round(height**2 * (24 + base * 8 + ("diabetes" in keys) * 3) + rng.uniform(-1.5, 1.5), 1)
    sbp, dbp = rng.uniform(114, 128), rng.uniform(70, 80)
    if "hypertension" in keys and visit.start >= keys["hypertension"].onset:
        sbp = _trajectory(keys["hypertension"], "sbp", visit.start, rng)
        dbp = _trajectory(keys["hypertension"], "dbp", visit.start, rng)
    heart_rate = rng.randint(62, 84) + (18 if "afib" in keys and visit.start < keys["afib"].onset + dt.timedelta(days=30) else 0)
    visit.vitals = {"weight": weight, "bmi": round(weight / height**2, 1), "hr": heart_rate, "sbp": round(sbp), "dbp": round(dbp)}
    vital = {"category": "vital-signs"}
    _observation(b, person, visit, "29463-7", "Body weight", weight, "kg", **vital)
    _observation(b, person, visit, "39156-5", "Body mass index (BMI) [Ratio]", visit.vitals["bmi"], "kg/m2", **vital)
    _observation(b, person, visit, "8867-4", "Heart rate", heart_rate, "/min", low=60, high=100, **vital)
    components = [
        ("8480-6", "Systolic blood pressure", visit.vitals["sbp"], 90, 130),
        ("8462-4", "Diastolic blood pressure", visit.vitals["dbp"], 60, 80),
    ]
    b.add(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": _category("vital-signs"),
            "code": concept(LOINC, "85354-9", "Blood pressure panel with all children optional"),
            "subject": {"reference": person["ref"]},
            "encounter": {"reference": visit.ref},
            "effectiveDateTime": when(visit.start + dt.timedelta(minutes=5)),
            "component": [
                {
                    "code": concept(LOINC, code, display),
                    "valueQuantity": _quantity(value, "mm[Hg]"),
                    "referenceRange": [{"low": _quantity(low, "mm[Hg]"), "high": _quantity(high, "mm[Hg]")}],
                    "interpretation": [_interpretation(value, low, high)],
                }
                for code, display, value, low, high in components
            ],
        }
    )


def _lab_report(
    b: PatientBuilder, person: dict[str, Any], visit: Visit, code: str, display: str, members: list[str], keys: tuple[str, ...]
) -> None:
    flagged = [f"{LABS[k].short} {visit.labs[k]} {LABS[k].unit}" for k in keys if k in visit.labs and not LABS[k].low <= visit.labs[k] <= LABS[k].high]  # fmt: skip
    b.add(
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": [concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
            "code": concept(LOINC, code, display),
            "subject": {"reference": person["ref"]},
            "encounter": {"reference": visit.ref},
            "effectiveDateTime": when(visit.start + dt.timedelta(minutes=10)),
            "issued": when(visit.start + dt.timedelta(hours=2)),
            "result": [{"reference": ref} for ref in members],
            "conclusion": ("Abnormal: " + "; ".join(flagged)) if flagged else "All results within reference range.",
        }
    )
