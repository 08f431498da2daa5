"""Clinical prose for synthetic notes, with the section headings the chunker recognises."""

from __future__ import annotations

import random
from typing import Any

from clinic.synthetic.tables import FAMILY_HISTORY, LABS, PROGRESSIVE_LABS, Problem, Visit


class NoteWriter:
    """Clinical prose with the sections the chunker recognises (Chief Complaint, HPI, Assessment, Plan)."""

    def __init__(
        self, rng: random.Random, person: dict[str, Any], visit: Visit, problems: list[Problem], allergies: list[str]
    ) -> None:
        self.rng, self.person, self.visit, self.problems, self.allergies = rng, person, visit, problems, allergies
        self.new = [p for p in problems if visit.start <= p.onset <= visit.end]  # diagnosed at this visit
        self.known = [p for p in problems if p not in self.new]
        age = (visit.start.date() - person["birth"]).days // 365
        self.intro = f"{person['given']} {person['family']} is a {age}-year-old {_noun(person['gender'])}"
        self.she = "She" if person["gender"] == "female" else "He"
        self.family = person.get("family_history") or FAMILY_HISTORY[sum(map(ord, person["mrn"])) % len(FAMILY_HISTORY)]

    def history(self) -> str:
        if not self.known:
            return "with no significant past medical history"
        return "with a history of " + _join([p.chronic.phrase for p in self.known])

    def meds(self) -> str:
        v = self.visit
        active = [m.short for p in self.problems for m, start, stop in p.meds if start <= v.end and (stop is None or stop > v.start)]  # fmt: skip
        return _join(active) if active else "no regular medications"

    def medication_sentence(self, adherence: str) -> str:
        meds = [m.short for p in self.known for m, start, stop in p.meds if start < self.visit.start and stop is None]
        return f"{self.she} {adherence} {_join(meds)}." if meds else f"{self.she} takes no regular medications."

    def new_diagnoses(self) -> str:
        sentences = []
        for problem in self.new:
            started = [m.short for m, start, _ in problem.meds if start <= self.visit.end]
            treatment = f"; starting {_join(started)}" if started else ""
            sentences.append(f"{problem.chronic.presenting} Diagnosed today with {problem.chronic.phrase}{treatment}.")
        return " ".join(sentences)

    def allergy_line(self) -> str:
        return "Allergies: " + ("; ".join(self.allergies) if self.allergies else "no known drug allergies") + "."

    def vitals_line(self) -> str:
        v = self.visit.vitals
        if not v:
            return ""
        return f"Vitals: BP {v['sbp']}/{v['dbp']} mmHg, HR {v['hr']}, weight {v['weight']} kg, BMI {v['bmi']}.\n"

    def labs_line(self) -> str:
        if not self.visit.labs:
            return ""
        return "Results: " + "; ".join(_lab_text(k, v) for k, v in self.visit.labs.items()) + ".\n"

    def assessment(self) -> list[str]:
        return [f"{n}. {p.chronic.phrase.capitalize()}: {self._status(p)}" for n, p in enumerate(self.problems, start=1)]

    def _status(self, problem: Problem) -> str:
        v, key = self.visit, problem.chronic.key
        if problem in self.new:
            return "new diagnosis" + (f", {_lab_text(problem.chronic.labs[0], v.labs[problem.chronic.labs[0]])}." if problem.chronic.labs and problem.chronic.labs[0] in v.labs else ".")  # fmt: skip
        if key == "hypertension" and v.vitals:
            controlled = v.vitals["sbp"] < 140 and v.vitals["dbp"] < 90
            return f"BP {v.vitals['sbp']}/{v.vitals['dbp']}, {'at goal' if controlled else 'above goal'}."
        lab_keys = [k for k in problem.chronic.labs if k in v.labs]
        if not lab_keys:
            return "stable on current management."
        k = lab_keys[0]
        value, start, treated = v.labs[k], problem.start_values[k], problem.treated_values[k]
        if k in PROGRESSIVE_LABS:
            judged = "slowly declining, monitor closely" if value < start - 3 else "stable"
        else:
            judged = "improving on treatment" if abs(value - treated) < abs(value - start) else "not yet at goal"
        return f"{_lab_text(k, value)}, {judged}."

    def progress(self) -> str:
        rng = self.rng
        adherence = rng.choice(["reports good adherence to", "occasionally misses doses of", "is taking"])
        if self.new:
            complaint = f"New concern: {self.new[0].chronic.presenting.removeprefix('Reports ').rstrip('.')}."
            interval = self.new_diagnoses()
        else:
            focus = rng.choice(self.known) if self.known else None
            complaint = f"Follow-up of {focus.chronic.phrase}." if focus else "Annual wellness visit."
            interval = f"{self.she} {focus.chronic.review}" if focus else ""
        review = rng.choice([f"{self.she} denies chest pain, shortness of breath or palpitations.", f"{self.she} denies fever, weight loss or night sweats.", ""])  # fmt: skip
        plans = [f"- {p.chronic.phrase.capitalize()}: {p.chronic.plan}" for p in self.problems]
        plans.append(f"- Return to clinic in {rng.choice([3, 4, 6])} months, sooner if symptoms worsen.")
        return (
            f"Chief Complaint: {complaint}\n\n"
            f"HPI: {self.intro} {self.history()} who presents for a scheduled visit. "
            f"{self.medication_sentence(adherence)} {interval} {review}".rstrip()
            + f"\nFamily History: {self.family}\n{self.allergy_line()}\n\n"
            f"Exam: {self.vitals_line()}Lungs clear to auscultation. Regular rate and rhythm, no murmurs. No pedal edema.\n"
            f"{self.labs_line()}\n"
            "Assessment:\n" + "\n".join(self.assessment()) + "\n\n"
            "Plan:\n" + "\n".join(plans) + "\n"
        )

    def emergency(self) -> str:
        assert self.visit.ed is not None
        _, _, complaint, hpi, assessment = self.visit.ed
        return (
            f"Chief Complaint: {complaint}.\n\n"
            f"HPI: {self.intro} {self.history()} who presents to the emergency department. {hpi}\n"
            f"Medications: {self.meds()}.\n{self.allergy_line()}\nFamily History: {self.family}\n\n"
            f"Exam: {self.vitals_line()}Alert and oriented, in no acute distress.\n\n"
            f"Assessment: {assessment}\n\n"
            "Plan: Symptomatic treatment, return precautions discussed, follow up with primary care within one week.\n"
        )

    def admission(self) -> str:
        return (
            "Chief Complaint: Fever, productive cough and shortness of breath for three days.\n\n"
            f"HPI: {self.intro} {self.history()} admitted with fever to 38.9 C, rigors and productive cough. "
            f"{self.she} denies chest pain or hemoptysis. Oxygen saturation 89% on room air.\n"
            f"Medications: {self.meds()}.\n{self.allergy_line()}\nFamily History: {self.family}\n\n"
            "Exam: Crackles at the right base. Tachycardic, regular rhythm.\n"
            "Results: WBC 15.2 x10^3/uL. Chest X-ray with right lower lobe consolidation.\n\n"
            "Assessment: Community acquired pneumonia, right lower lobe; rule out sepsis. "
            "Possible aspiration considered but unlikely.\n\n"
            "Plan: Admit to medicine. Ceftriaxone and azithromycin, supplemental oxygen, blood cultures, "
            "continue home medications, VTE prophylaxis.\n"
        )

    def discharge(self) -> str:
        penicillin = any(a.startswith("penicillin") for a in self.allergies)
        antibiotic = "doxycycline (penicillin allergy)" if penicillin else "amoxicillin-clavulanate"
        return (
            "Chief Complaint: Community acquired pneumonia.\n\n"
            f"HPI: {self.intro} {self.history()} admitted for right lower lobe pneumonia. "
            "Treated with ceftriaxone and azithromycin with defervescence within 48 hours. Blood cultures negative. "
            "Weaned to room air.\n\n"
            "Assessment: Community acquired pneumonia, resolving. No evidence of sepsis. "
            + " ".join(line.split(". ", 1)[-1] for line in self.assessment())
            + "\n\n"
            f"Plan: Discharge home. Complete 5 days of oral {antibiotic}. Continue {self.meds()}. "
            "Follow up with primary care in one week; repeat chest X-ray in 6 weeks.\n"
        )


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _noun(gender: str) -> str:
    return "woman" if gender == "female" else "man"


def _lab_text(key: str, value: float) -> str:
    lab = LABS[key]
    return f"{lab.short} {value} {lab.unit.replace('{score}', '').strip()}".strip()
