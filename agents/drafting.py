"""Extractive drafting: each note kind is a list of sections, each filled from tool facts with their citations.

Nothing is invented: a section whose tools find nothing says what was not found, citing the encounter the draft
is about, or is left out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from agents import tools
from agents.tools import Citation, Fact, cite, clean, day, join_names, number
from clinic import models as m

GROUP = 6  # names per list sentence: a summary, not one line per record
PLAIN = {  # medical terms explained in plain words, for patient instructions
    "hypertension": "high blood pressure",
    "hyperlipidemia": "high fat levels in the blood",
    "hypertriglyceridemia": "high fat levels in the blood",
    "prediabetes": "blood sugar that is higher than normal",
    "diabetes": "high blood sugar",
    "anemia": "too few red blood cells",
    "obesity": "extra body weight",
    "sinusitis": "an infection of the sinuses",
    "pharyngitis": "a sore throat",
    "bronchitis": "swelling of the airways in the lungs",
    "asthma": "a lung condition that makes breathing hard",
    "osteoarthritis": "wear of the joints",
    "gingivitis": "swollen gums",
    "neuropathy": "nerve damage",
    "nephropathy": "kidney damage",
    "retinopathy": "eye damage",
    "hypothyroidism": "a slow thyroid gland",
    "concussion": "a head injury",
    "osteoporosis": "weak bones",
    "fracture": "a broken bone",
    "dementia": "memory loss",
    "alzheimer": "memory loss",
    "atrial fibrillation": "an uneven heartbeat",
    "coronary": "narrow heart blood vessels",
    "myocardial infarction": "a heart attack",
    "chronic kidney disease": "kidneys that do not work well",
    "copd": "long-term lung disease",
    "emphysema": "long-term lung disease",
    "sepsis": "a body-wide infection",
    "otitis media": "an ear infection",
    "laceration": "a cut",
    "sprain": "a stretched joint",
    "migraine": "bad headaches",
    "appendicitis": "a swollen appendix",
}


def encounter_for(
    *, patient: m.Patient, encounter_id: int | None, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> m.Encounter | None:
    """The chosen encounter, else the last inpatient or emergency stay (in the period, when given), else the last encounter."""
    if encounter_id is not None:
        return m.Encounter.objects.get(pk=encounter_id, patient=patient)
    rows = m.Encounter.objects.filter(patient=patient).exclude(start=None).order_by("-start", "-id")
    if date_from:
        rows = rows.filter(start__date__gte=date_from)
    if date_to:
        rows = rows.filter(start__date__lte=date_to)
    return rows.filter(class_code__in=["IMP", "EMER", "ACUTE"]).first() or rows.first()


def grouped(prefix: str, facts: list[Fact], name: Callable[[Fact], str]) -> list[Fact]:
    """List sentences of at most GROUP names each, every one citing the records it names."""
    out = []
    for i in range(0, len(facts), GROUP):
        chunk = facts[i : i + GROUP]
        citations: list[Citation] = [c for f in chunk for c in f.citations]
        out.append(Fact(f"{prefix} {join_names([name(f) for f in chunk])}.", citations))
    return out


def first_label(f: Fact) -> str:
    return f.citations[0]["label"]


def reason(encounter: m.Encounter | None, lead: str) -> list[Fact]:
    if encounter is None:
        return []
    why = f" for {clean(encounter.reason_display)}" if encounter.reason_display else ""
    until = f" until {day(encounter.end)}" if encounter.end else ""
    what = encounter.type_display or encounter.class_code or "encounter"
    return [Fact(f"{lead} {clean(what)} on {day(encounter.start)}{until}{why}.", [cite("encounter", encounter)])]


def results(*, patient: m.Patient, encounter: m.Encounter | None, limit: int = 10) -> list[Fact]:
    """The latest value of each test in the period (the encounter's day, else the last year); abnormal first."""
    rows = m.Observation.objects.filter(patient=patient).exclude(effective=None).exclude(value=None)
    if encounter is not None and encounter.start:
        end = (encounter.end or encounter.start) + dt.timedelta(days=1)
        period = rows.filter(effective__gte=encounter.start - dt.timedelta(days=1), effective__lte=end)
        rows = period if period.exists() else rows.filter(effective__lte=end)
    latest: dict[str, m.Observation] = {}
    for obs in rows.order_by("effective", "id"):
        if "pain severity" not in obs.display.lower():
            latest[obs.code] = obs
    chosen = sorted(latest.values(), key=lambda o: (o.flag == "", o.display.lower()))[:limit]
    facts = []
    for o in chosen:
        flag = {"H": " (high)", "L": " (low)"}.get(o.flag, "")
        text = f"{o.display}: {number(o.value or 0.0)} {o.unit}{flag} on {day(o.effective)}."
        facts.append(Fact(re.sub(r" +", " ", text), [cite("observation", o, o.display)]))
    return facts


def follow_up(*, patient: m.Patient) -> list[Fact]:
    facts = []
    for plan in m.CarePlan.objects.filter(patient=patient, status="active").order_by("-period_start")[:4]:
        acts = list(dict.fromkeys(a["display"] for a in plan.activities if a.get("display")))[:4]
        doing = f", including {join_names([clean(a) for a in acts])}" if acts else ""
        title = clean(plan.display or plan.category or "care plan")
        facts.append(Fact(f"Continue the care plan {title}{doing}.", [cite("careplan", plan, title)]))
    return facts


def none_recorded(what: str, encounter: m.Encounter | None) -> list[Fact]:
    """A negative finding, cited to the encounter it is stated for (left out without one)."""
    if encounter is None:
        return []
    what_encounter = clean(encounter.type_display or encounter.class_code or "encounter")
    text = f"No {what} recorded as of the {what_encounter} on {day(encounter.start)}."
    return [Fact(text, [cite("encounter", encounter)])]


def _section(title: str, facts: list[Fact]) -> dict[str, Any]:
    return {"title": title, "sentences": [f.as_sentence() for f in facts if f.citations]}


def discharge_summary(patient: m.Patient, encounter: m.Encounter | None) -> list[dict[str, Any]]:
    problems = tools.problem_list(patient=patient)
    meds = tools.medication_list(patient=patient)
    allergies = tools.allergy_list(patient=patient)
    active_allergies = [f for f in allergies if "(inactive" not in f.text and "(resolved" not in f.text] or allergies
    during = tools.procedures(patient=patient, encounter=encounter) if encounter else []
    return [
        _section("Reason for admission", reason(encounter, "Admitted for")),
        _section(
            "Hospital course and active problems",
            grouped("Active problems include", problems, first_label) or none_recorded("active problems are", encounter),
        ),
        _section("Procedures", during or none_recorded("procedures were", encounter)),
        _section("Results", results(patient=patient, encounter=encounter)),
        _section("Allergies", grouped("Allergies:", active_allergies, first_label) or none_recorded("allergies are", encounter)),
        _section(
            "Discharge medications",
            grouped("Discharge medications:", meds, first_label) or none_recorded("active medications are", encounter),
        ),
        _section("Follow-up", follow_up(patient=patient)),
    ]


def progress_note(patient: m.Patient, encounter: m.Encounter | None) -> list[dict[str, Any]]:
    problems = tools.problem_list(patient=patient)
    subjective = reason(encounter, "Seen for") + tools.chart_search(
        patient=patient, query="chief complaint history of present illness", limit=2
    )
    allergies = tools.allergy_list(patient=patient)
    subjective += grouped("Allergies:", allergies, first_label) or none_recorded("allergies are", encounter)
    return [
        _section("Subjective", subjective),
        _section("Objective", results(patient=patient, encounter=encounter, limit=8)),
        _section(
            "Assessment",
            grouped("Active problems include", problems, first_label) or none_recorded("active problems are", encounter),
        ),
        _section(
            "Plan",
            grouped("Continue", tools.medication_list(patient=patient), first_label) + follow_up(patient=patient),
        ),
    ]


def referral_letter(patient: m.Patient, encounter: m.Encounter | None) -> list[dict[str, Any]]:
    problems = tools.problem_list(patient=patient)
    return [
        _section("Reason for referral", reason(encounter, "Referred after")),
        _section(
            "Relevant history",
            grouped("Active problems include", problems, first_label) + tools.procedures(patient=patient, limit=4),
        ),
        _section("Current medications", grouped("Current medications:", tools.medication_list(patient=patient), first_label)),
        _section(
            "Allergies",
            grouped("Allergies:", tools.allergy_list(patient=patient), first_label) or none_recorded("allergies are", encounter),
        ),
        _section("Recent results", results(patient=patient, encounter=encounter, limit=6)),
    ]


def plain(name: str) -> str:
    for term, words in PLAIN.items():
        if term in name.lower():
            return f"{name} ({words})"
    return name


def short_drug(display: str) -> str:
    for w in re.findall(r"[A-Za-z]{4,}", display):
        if not w.isupper() and w.lower() not in {"oral", "tablet", "solution", "extended", "release", "capsule", "dose"}:
            return w.lower()
    return display


def allergy_instruction(name: str) -> str:
    if "allerg" in name.lower():
        article = "an" if name[:1].lower() in "aeiou" else "a"
        return f"You have {article} {name.lower()}, so stay away from it."
    return f"You are allergic to {name.lower()}, so do not take it."


def patient_instructions(patient: m.Patient, encounter: m.Encounter | None) -> list[dict[str, Any]]:
    problems = [
        Fact(f"You have {plain(f.citations[0]['label']).lower()}.", f.citations) for f in tools.problem_list(patient=patient)
    ]
    meds = [
        Fact(f"Take {short_drug(f.citations[0]['label'])} as your doctor told you.", f.citations)
        for f in tools.medication_list(patient=patient)
    ]
    allergies = [Fact(allergy_instruction(f.citations[0]["label"]), f.citations) for f in tools.allergy_list(patient=patient)]
    visit = [Fact(f"You were seen on {day(encounter.start)}.", [cite("encounter", encounter)])] if encounter else []
    plans = []
    for plan in m.CarePlan.objects.filter(patient=patient, status="active").order_by("-period_start")[:4]:
        source = [cite("careplan", plan, clean(plan.display or plan.category or "care plan"))]
        plans.append(Fact(f"Keep to your plan: {clean(plan.display or plan.category or 'care plan').lower()}.", source))
        for activity in dict.fromkeys(clean(a["display"]) for a in plan.activities if a.get("display")):
            plans.append(Fact(f"Your plan has {activity.lower()}.", source))
    return [
        _section("Your visit", visit),
        _section("Your health problems", problems[:12]),
        _section("Your medicines", meds),
        _section("Allergies", allergies),
        _section("Next steps", plans[:10]),
    ]


BUILDERS: dict[str, Callable[[m.Patient, m.Encounter | None], list[dict[str, Any]]]] = {
    "discharge_summary": discharge_summary,
    "progress_note": progress_note,
    "referral_letter": referral_letter,
    "patient_instructions": patient_instructions,
}


def draft_sections(*, kind: str, patient: m.Patient, encounter: m.Encounter | None) -> list[dict[str, Any]]:
    """The sections of a draft, empty ones left out."""
    return [s for s in BUILDERS[kind](patient, encounter) if s["sentences"]]
