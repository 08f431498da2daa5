"""The extractive assistant: a deterministic planner picks tools from the question and answers only with the
facts they return, each sentence with its citations. With nothing found it says so; it never guesses."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agents import tools
from agents.tools import Fact
from clinic import models as m

MAX_ANSWER_CHARS = 1200
NOTHING_FOUND = "I found no record in this chart that answers the question."
DISCLAIMER = "Extractive answer: sentences are taken from the chart records cited, not generated."
STOP = set(
    "a an and any are at be by current currently did do does for from has have her his how in is it last latest "
    "level levels me most of on or patient patients recent result results show tell that the their them there "
    "this to trend value values was were what when which who with".split()
)
GENERIC = set(
    "medication medications medicine medicines taking prescribed started drugs active problems problem conditions "
    "condition diagnoses diagnosis history allergies allergy allergic".split()
)
ALIASES = {
    "hba1c": "hemoglobin a1c",
    "a1c": "hemoglobin a1c",
    "bmi": "body mass index",
    "bp": "blood pressure",
    "weight": "body weight",
    "height": "body height",
    "ldl": "low density lipoprotein",
    "hdl": "hdl cholesterol",
    "egfr": "glomerular filtration rate",
    "temperature": "body temperature",
}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def lab_match(question: str, names: dict[str, str]) -> tuple[str, str] | None:
    """The lab display the question names: an exact mention first, else the best word overlap."""
    q = question.lower()
    for short, long in ALIASES.items():
        q = re.sub(rf"\b{short}\b", long, q)
    exact = [d for d in names if d.lower() in q]
    if exact:
        best = max(exact, key=len)
        return best, names[best]
    wanted = lab_words(q)
    full = [(-len(d), d) for d in names if wanted and wanted <= set(words(d))]  # every word asked for, or none
    if not full:
        return None
    _, best = max(full)
    return best, names[best]


def lab_words(question: str) -> set[str]:
    return {w for w in words(question) if w not in STOP and len(w) > 2}


def _named(facts: list[Fact], question: str) -> list[Fact]:
    """The facts about something the question names ("when was metformin started")."""
    wanted = [w for w in words(question) if len(w) > 4 and w not in STOP and w not in GENERIC]
    return [f for f in facts if any(w in f.text.lower() for w in wanted)]


def _medications(patient: m.Patient, question: str) -> list[Fact]:
    facts = tools.medication_list(patient=patient)
    wanted = [w for w in words(question) if len(w) > 4 and w not in STOP and w not in GENERIC]
    if wanted:  # a named drug: when it was first prescribed, active or not
        return tools.medication_history(patient=patient, names=wanted) or [
            Fact(f"No medication matching {' or '.join(wanted)} is recorded in this chart.", [])
        ]
    if not facts:
        return [Fact("No active medications are recorded in this chart.", [])]
    names = [f.citations[0]["label"] for f in facts]
    budget = MAX_ANSWER_CHARS - 200
    if len(", ".join(names)) > budget:  # long product names: keep the words up to the strength
        names = [re.split(r"\s\d", n, maxsplit=1)[0] if not n[:1].isdigit() else n[:40] for n in names]
    citations = [c for f in facts for c in f.citations]
    return [Fact(f"Active medications ({len(facts)}): {'; '.join(names)}.", citations)]


def _allergies(patient: m.Patient, question: str) -> list[Fact]:
    facts = tools.allergy_list(patient=patient)
    if not facts:
        return [Fact("No known allergies: no allergy is recorded in this chart.", [])]
    return facts


def _labs(patient: m.Patient, question: str) -> list[Fact]:
    match = lab_match(question, tools.observation_names(patient=patient))
    if match is None:
        asked = " ".join(sorted(lab_words(question)))
        return [Fact(f"No {asked} result is recorded in this chart.", [])] if asked else []
    display, code = match
    if "trend" in question.lower() or "over time" in question.lower():
        return tools.lab_trend(patient=patient, code=code, display=display)
    return tools.lab_latest(patient=patient, code=code, display=display)


def _problems(patient: m.Patient, question: str) -> list[Fact]:
    facts = tools.problem_list(patient=patient)
    named = _named(facts, question)
    return named or facts[:12] or [Fact("No active problems are recorded in this chart.", [])]


def _admission(patient: m.Patient, question: str) -> list[Fact]:
    inpatient = m.Encounter.objects.filter(patient=patient, class_code__in=["IMP", "EMER", "ACUTE"]).exclude(start=None)
    last = (
        inpatient.order_by("-start").first()
        or m.Encounter.objects.filter(patient=patient).exclude(start=None).order_by("-start").first()
    )
    if last is None:
        return []
    reason = f" for {tools.clean(last.reason_display)}" if last.reason_display else ""
    until = f" until {tools.day(last.end)}" if last.end else ""
    facts = [
        Fact(
            f"The last admission was {last.type_display or 'an encounter'} on {tools.day(last.start)}{until}{reason}.",
            [tools.cite("encounter", last)],
        )
    ]
    facts += tools.procedures(patient=patient, encounter=last, limit=4)
    return facts


def _care_gaps(patient: m.Patient, question: str) -> list[Fact]:
    return tools.care_gaps(patient=patient)


Intent = tuple[re.Pattern[str], Callable[[m.Patient, str], list[Fact]]]
INTENTS: list[Intent] = [
    (
        re.compile(r"care gap|gaps? in (?:the )?care|alert|recommend|overdue|\bdue for|decision support|what should (?:i|we)"),
        _care_gaps,
    ),
    (re.compile(r"allerg"), _allergies),
    (re.compile(r"medic|drug|taking|prescri|started|metformin|insulin|statin|tablet"), _medications),
    (
        re.compile(
            r"recent|latest|last (?!admission|visit|encounter)|value|level|trend|result|hba1c|a1c|pressure|weight|glucose"
        ),
        _labs,
    ),
    (re.compile(r"problem|condition|diagnos|history"), _problems),
    (re.compile(r"admission|admitted|hospital|encounter|visit|stay"), _admission),
    (re.compile(r"imaging|scan|x-ray|\bct\b|\bmri\b|ultrasound"), lambda p, q: tools.imaging_studies(patient=p)),
    (re.compile(r"variant|gene|genetic|genomic|mutation"), lambda p, q: tools.genomic_variants(patient=p)),
    (re.compile(r"procedure|surgery|operation"), lambda p, q: tools.procedures(patient=p)),
]


def answer_question(*, patient: m.Patient, question: str) -> dict[str, Any]:
    """{"answer", "sentences": [{text, citations}], "tools", "backend"} from the facts the chosen tools return."""
    used: list[str] = []
    facts: list[Fact] = []
    for part in re.split(r"\band (?=what|when|how|which|is|are|does|did|any|list|the)|[?;]", question):
        for pattern, tool in INTENTS:
            if pattern.search(part.lower()) and tool.__name__ not in used:
                used.append(tool.__name__)
                facts += tool(patient, part)
    if not [f for f in facts if f.citations]:
        used.append("chart_search")
        facts += tools.chart_search(patient=patient, query=question)
    if not facts:
        facts = [Fact(NOTHING_FOUND, [])]
    sentences = _fit([f for i, f in enumerate(facts) if f.text not in {g.text for g in facts[:i]}])
    return {
        "answer": " ".join(s["text"] for s in sentences),
        "sentences": sentences,
        "tools": used,
        "backend": "extractive",
        "note": DISCLAIMER,
    }


def _fit(facts: list[Fact]) -> list[dict[str, Any]]:
    """Whole sentences up to the answer budget: an answer is not a dump of the chart."""
    out: list[dict[str, Any]] = []
    size = 0
    for f in facts:
        if size + len(f.text) + 1 > MAX_ANSWER_CHARS and out:
            break
        out.append(f.as_sentence())
        size += len(f.text) + 1
    return out
