"""The evaluators: one per rule kind, each reading a Chart and returning findings that cite their records.

Nothing here writes: services record firings and audit. `as_of` is the moment the rules are judged at (now,
unless a test or a trial says otherwise); records dated after it are not seen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cds import parameters as p
from cds.chart import Chart, Item
from cds.models import Rule

SUMMARY_MAX = 140  # CDS Hooks: a card's summary is under 140 characters
NOT_GIVEN = ("not-done", "entered-in-error")


@dataclass
class Finding:
    """A rule that fires for a chart: what fills its templates, and the records it rests on."""

    rule: Rule
    facts: dict[str, str]
    evidence: list[Item]
    order: Item | None = None  # the draft order it is about (order-select)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        text = re.sub(r"\s+", " ", self.rule.summary.format_map(_Blank(self.facts))).strip()
        return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"

    @property
    def detail(self) -> str:
        return self.rule.detail.format_map(_Blank(self.facts)).strip()

    @property
    def citations(self) -> list[dict[str, Any]]:
        seen: dict[tuple[str, Any, str], dict[str, Any]] = {}
        for item in self.evidence:
            seen.setdefault((item.source_type, item.source_id, item.reference), item.citation())
        return list(seen.values())

    @property
    def fingerprint(self) -> str:
        """The same rule on the same records (and the same order) gives the same fingerprint: a decision holds until
        the chart changes what the card rests on."""
        keys = sorted(f"{c['source_type']}:{c['source_id'] or c['reference']}" for c in self.citations)
        order = self.order.name.lower() if self.order else ""
        return hashlib.sha1("|".join([self.rule.key, order, *keys]).encode()).hexdigest()


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def evaluate(*, rule: Rule, chart: Chart, as_of: dt.datetime, hook: str = "patient-view") -> list[Finding]:
    """The findings of one rule on one chart at `as_of` (conflict rules check the draft orders on order-select)."""
    if hook == "order-select" and hook not in rule.hooks:
        return []
    params = p.parse(rule.kind, rule.parameters)
    if chart.deceased_at is not None or not _applies(params, chart, as_of):
        return []
    findings = EVALUATORS[rule.kind](rule, params, chart, as_of, hook)
    if params.min_age is not None or params.max_age is not None or params.sex:
        for finding in findings:  # the card rests on the patient's age or sex too
            finding.evidence.append(chart.patient_item(as_of.date()))
    return findings


def _applies(params: p.Common, chart: Chart, as_of: dt.datetime) -> bool:
    """Age in completed months against min_age (so 0.5 is 'from 6 months'), completed years against max_age."""
    months = chart.age_months(as_of.date())
    if (params.min_age is not None or params.max_age is not None) and months is None:
        return False  # an unknown age is never assumed to fit
    if params.min_age is not None and months is not None and months < params.min_age * 12:
        return False
    if params.max_age is not None and months is not None and months // 12 > params.max_age:
        return False
    return not params.sex or chart.sex.lower() == params.sex


def _seen(items: list[Item], codes: p.CodeSet, as_of: dt.datetime) -> list[Item]:
    """Matching items dated up to `as_of`, oldest first."""
    found = [i for i in items if codes.matches(i.system, i.code, i.display) and i.time is not None and i.time <= as_of]
    return sorted(found, key=lambda i: (i.time, i.source_id or 0))  # type: ignore[arg-type, return-value]


def _active_conditions(chart: Chart, codes: p.CodeSet | None) -> list[Item] | None:
    """The active conditions matching `codes`, most recent onset first; None when no condition is asked for."""
    if codes is None:
        return None
    found = [c for c in chart.of("condition") if c.is_active() and codes.matches(c.system, c.code, c.display)]
    return sorted(found, key=lambda c: c.time or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)


def _drugs(chart: Chart, hook: str) -> list[Item]:
    """What a conflict is checked against: the draft orders on order-select, the active medications otherwise."""
    drugs = chart.orders if hook == "order-select" else [d for d in chart.of("medication") if d.is_active()]
    unique: dict[str, Item] = {}
    for drug in drugs:
        unique.setdefault(drug.name.lower(), drug)
    return list(unique.values())


def window_text(days: int | None) -> str:
    if days is None:
        return "ever"
    if days % 365 == 0:
        years = days // 365
        return f"{years} year{'s' if years > 1 else ''}" if years > 1 else "12 months"
    if days >= 28:
        months = round(days / 30.4)
        return f"{months} month{'s' if months > 1 else ''}"
    return f"{days} day{'s' if days > 1 else ''}"


def _day(item: Item | None) -> str:
    return item.time.date().isoformat() if item is not None and item.time else ""


def _value(item: Item) -> str:
    return f"{item.value:g}" if item.value is not None else ""


def _first_word(codes: p.CodeSet, fallback: str) -> str:
    return next((s for s in codes.synonyms if s.strip()), fallback)


def care_gap(rule: Rule, params: Any, chart: Chart, as_of: dt.datetime, hook: str) -> list[Finding]:
    conditions = _active_conditions(chart, params.condition)
    if not conditions:
        return []
    done = _seen(chart.of(*params.expect_in), params.expect, as_of)
    last = done[-1] if done else None
    if last is not None and last.time is not None and last.time >= as_of - dt.timedelta(days=params.window_days):
        return []
    expected = _first_word(params.expect, last.name if last else "the expected test")
    facts = {
        "condition": conditions[0].name,
        "expected": expected,
        "window": window_text(params.window_days),
        "last": f"last {(_value(last) + ' ' + last.unit).strip() or last.name} on {_day(last)}" if last else "none recorded",
        "last_date": _day(last),
        "last_value": f"{_value(last)} {last.unit}".strip() if last else "",
    }
    return [Finding(rule, facts, [conditions[0], *([last] if last else [])])]


def _lab_facts(conditions: list[Item] | None, latest: Item) -> dict[str, str]:
    condition = conditions[0].name if conditions else ""
    return {"condition": condition, "lab": latest.name, "value": _value(latest), "unit": latest.unit, "date": _day(latest)}


def lab_threshold(rule: Rule, params: Any, chart: Chart, as_of: dt.datetime, hook: str) -> list[Finding]:
    conditions = _active_conditions(chart, params.condition)
    if conditions == []:
        return []
    values = [i for i in _seen(chart.of("observation"), params.lab, as_of) if i.value is not None]
    values = [i for i in values if not params.unit or i.unit == params.unit]
    if not values:
        return []
    latest = values[-1]
    if params.window_days and latest.time and latest.time < as_of - dt.timedelta(days=params.window_days):
        return []
    value = float(latest.value)  # type: ignore[arg-type]
    high = params.above is not None and value > params.above
    low = params.below is not None and value < params.below
    if not (high or low):
        return []
    facts = _lab_facts(conditions, latest) | {"threshold": f"{params.above if high else params.below:g}"}
    return [Finding(rule, facts, [*(conditions[:1] if conditions else []), latest])]


def lab_trend(rule: Rule, params: Any, chart: Chart, as_of: dt.datetime, hook: str) -> list[Finding]:
    conditions = _active_conditions(chart, params.condition)
    if conditions == []:
        return []
    since = as_of - dt.timedelta(days=params.window_days)
    points = [i for i in _seen(chart.of("observation"), params.lab, as_of) if i.value is not None and i.time >= since]  # type: ignore[operator]
    points = [i for i in points if not params.unit or i.unit == params.unit]
    if len(points) < params.min_points:
        return []
    latest = points[-1]
    earlier = [i for i in points[:-1] if i.unit == latest.unit]
    if not earlier:
        return []
    rising = params.direction == "rising"
    base = min(earlier, key=lambda i: i.value) if rising else max(earlier, key=lambda i: i.value)  # type: ignore[arg-type, return-value]
    change = (latest.value - base.value) if rising else (base.value - latest.value)  # type: ignore[operator]
    if change <= 0:
        return []
    low, high = (base.value, latest.value) if rising else (latest.value, base.value)
    ratio = high / low if low else float("inf")  # type: ignore[operator]
    if not (
        (params.min_change is not None and change >= params.min_change - 1e-9)
        or (params.min_ratio is not None and ratio >= params.min_ratio)
    ):
        return []
    facts = _lab_facts(conditions, latest) | {
        "first_value": _value(base),
        "first_date": _day(base),
        "change": f"{'+' if rising else '-'}{change:.3g}",
    }
    return [Finding(rule, facts, [*(conditions[:1] if conditions else []), base, latest])]


def condition_medication(rule: Rule, params: Any, chart: Chart, as_of: dt.datetime, hook: str) -> list[Finding]:
    conditions = _active_conditions(chart, params.condition)
    if not conditions:
        return []
    findings = []
    for drug in _drugs(chart, hook):
        if params.medication.matches(drug.system, drug.code, drug.display):
            facts = {"condition": conditions[0].name, "drug": drug.name}
            findings.append(Finding(rule, facts, [conditions[0], drug], order=drug if hook == "order-select" else None))
    return findings


def _allergen_name(allergy: Item) -> str:
    name = re.sub(r"(?i)^allergy to |\ballergy$|\bhypersensitivity\b", "", allergy.name).strip(" ,")
    return name.lower()


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _conflict(allergy: Item, drug: Item, params: Any) -> str:
    """The ingredient by which this drug conflicts with this allergy, or ''."""
    drug_words = _words(drug.display)
    for pair in params.pairs:
        if pair.allergen.matches(allergy.system, allergy.code, allergy.display):
            hit = next((w for w in pair.ingredients if _words(w) and _words(w) <= drug_words), "")
            if hit:
                return hit
    name = _allergen_name(allergy)
    significant = {w for w in _words(name) if len(w) >= 4}
    if params.match_allergen_name and significant and significant <= drug_words:
        return name
    return ""


def allergy_medication(rule: Rule, params: Any, chart: Chart, as_of: dt.datetime, hook: str) -> list[Finding]:
    allergies = [a for a in chart.of("allergy") if a.is_active()]
    findings = []
    for drug in _drugs(chart, hook):
        for allergy in allergies:
            ingredient = _conflict(allergy, drug, params)
            if ingredient:
                facts = {"allergen": allergy.name, "drug": drug.name, "ingredient": ingredient}
                findings.append(Finding(rule, facts, [allergy, drug], order=drug if hook == "order-select" else None))
                break  # one card per drug, citing the first allergy that rules it out
    return findings


def significance_terms(significance: str) -> set[str]:
    """ClinVar's labels as words: 'Pathogenic/Likely_pathogenic' -> {'pathogenic', 'likely pathogenic'}."""
    return {t.strip().replace("_", " ").lower() for t in re.split(r"[/,|;]", significance) if t.strip()}


def variant_screening(rule: Rule, params: Any, chart: Chart, as_of: dt.datetime, hook: str) -> list[Finding]:
    genes = {g.strip().upper() for g in params.genes}
    wanted = {s.strip().lower() for s in params.significance}
    variants = [
        v
        for v in chart.of("variant")
        if {g.strip().upper() for g in re.split(r"[,|;]", v.gene)} & genes and significance_terms(v.significance) & wanted
    ]
    if not variants:
        return []
    done = _seen(chart.of(*params.screening_in), params.screening, as_of)
    last = done[-1] if done else None
    if last is not None and last.time is not None and last.time >= as_of - dt.timedelta(days=params.window_days):
        return []
    first = variants[0]
    facts = {
        "gene": first.gene,
        "variant": first.display,
        "significance": first.significance.replace("_", " "),
        "screening": _first_word(params.screening, "screening"),
        "window": window_text(params.window_days),
        "last": f"last on {_day(last)}" if last else "none recorded",
    }
    return [Finding(rule, facts, [*variants, *([last] if last else [])])]


def immunization_due(rule: Rule, params: Any, chart: Chart, as_of: dt.datetime, hook: str) -> list[Finding]:
    conditions = _active_conditions(chart, params.condition)
    if conditions == []:
        return []
    given = [i for i in _seen(chart.of("immunization"), params.vaccine, as_of) if i.status not in NOT_GIVEN]
    last = given[-1] if given else None
    if last is not None and (params.window_days is None or last.time >= as_of - dt.timedelta(days=params.window_days)):  # type: ignore[operator]
        return []
    facts = {
        "vaccine": _first_word(params.vaccine, last.name if last else "vaccine"),
        "window": window_text(params.window_days),
        "last": f"last given {_day(last)}" if last else "none recorded",
        "last_date": _day(last),
    }
    return [Finding(rule, facts, [*(conditions[:1] if conditions else []), *([last] if last else [])])]


EVALUATORS: dict[str, Callable[[Rule, Any, Chart, dt.datetime, str], list[Finding]]] = {
    "care_gap": care_gap,
    "lab_threshold": lab_threshold,
    "lab_trend": lab_trend,
    "condition_medication": condition_medication,
    "allergy_medication": allergy_medication,
    "variant_screening": variant_screening,
    "immunization_due": immunization_due,
}
