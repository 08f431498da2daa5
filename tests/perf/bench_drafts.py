"""Drafting quality and speed on the shared Synthea patients, per note kind (extractive backend):
coverage of the facts a reviewer looks for (active problems, active medications, active allergies), read from
the FHIR bundles independently of the drafting code; citation precision (the cited record's term or value is in
the sentence); unsupported-sentence rate (grounding support < 0.8); time per draft."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from _setup import SHARED, django_on_fresh_database, percentiles

KINDS = ["discharge_summary", "progress_note", "referral_letter", "patient_instructions"]
TARGETS = {"coverage": 0.95, "precision": 0.98, "unsupported": 0.0, "seconds": 2.0}


def drug_word(display: str) -> str:
    stop = {
        "oral",
        "tablet",
        "solution",
        "injector",
        "auto",
        "metered",
        "dose",
        "inhaler",
        "extended",
        "release",
        "capsule",
        "topical",
        "cream",
        "injection",
        "prefilled",
        "syringe",
        "chewable",
        "suspension",
        "hour",
    }
    return next(
        (w.lower() for w in re.findall(r"[A-Za-z]{4,}", display) if not w.isupper() and w.lower() not in stop), display.lower()
    )


def expected_facts(bundle: Path) -> tuple[str, set[str]]:
    res = [e["resource"] for e in json.loads(bundle.read_text())["entry"]]
    want = set()
    for x in res:
        active = (x.get("clinicalStatus", {}).get("coding") or [{}])[0].get("code") == "active"
        if x["resourceType"] in ("Condition", "AllergyIntolerance") and active:
            want.add(x["code"]["coding"][0]["display"].split(" (")[0].lower())
        if x["resourceType"] == "MedicationRequest" and x.get("status") == "active":
            display = ((x.get("medicationCodeableConcept") or {}).get("coding") or [{}])[0].get("display")
            if display:
                want.add(drug_word(display))
    return next(x["id"] for x in res if x["resourceType"] == "Patient"), want


def cited_term_present(sentence: str, citation: dict, rows: dict) -> bool:
    row = rows.get((citation["source_type"], citation["source_id"]))
    if row is None:
        return False
    text = sentence.lower()
    terms = [str(row.get("display") or ""), str(row.get("type_display") or ""), str(row.get("description") or "")]
    terms += [str(a.get("display", "")) for a in row.get("activities") or [] if isinstance(a, dict)]
    terms = [re.sub(r"\s*\([^()]*\)$", "", t) for t in terms if t]
    terms = [t.lower() for t in terms] + [drug_word(t) for t in terms]
    dates = [str(v.date()) for k, v in row.items() if hasattr(v, "date") and callable(getattr(v, "date", None)) and v]
    return any(t and t in text for t in terms) or any(d in text for d in dates)


def main() -> int:
    django_on_fresh_database("drafts")
    from django.core.management import call_command

    from agents import drafting, grounding
    from clinic import models as m
    from clinic.timeline import KIND_MODELS
    from tests.agents.readability import reading_grade

    bundles = sorted((SHARED / "fhir" / "synthea-r4").glob("*.json"))
    if not bundles:
        print(f"no Synthea bundles under {SHARED}/fhir/synthea-r4")
        return 1
    call_command("import_fhir", *map(str, bundles), verbosity=0)
    failed = False
    for kind in KINDS:
        coverage, times, cited, precise, sentences, unsupported, grades = [], [], 0, 0, 0, 0, []
        for bundle in bundles:
            fhir_id, want = expected_facts(bundle)
            patient = m.Patient.objects.get(fhir_id=fhir_id)
            start = time.perf_counter()
            encounter = drafting.encounter_for(patient=patient, encounter_id=None)
            sections = grounding.ground_sections(drafting.draft_sections(kind=kind, patient=patient, encounter=encounter))
            times.append(time.perf_counter() - start)
            all_sentences = [s for sec in sections for s in sec["sentences"]]
            text = " ".join(s["text"] for s in all_sentences).lower()
            if kind == "patient_instructions":
                grades.append(reading_grade(" ".join(s["text"] for s in all_sentences)))
            if want:
                coverage.append(sum(1 for w in want if w in text) / len(want))
            rows = {}
            for s in all_sentences:
                for c in s["citations"]:
                    model = KIND_MODELS[c["source_type"]]
                    rows[(c["source_type"], c["source_id"])] = model.objects.filter(pk=c["source_id"]).values().first()
            sentences += len(all_sentences)
            unsupported += sum(1 for s in all_sentences if not s["supported"])
            for s in all_sentences:
                for c in s["citations"]:
                    cited += 1
                    precise += cited_term_present(s["text"], c, rows)
        cov = sum(coverage) / len(coverage)
        p50, p95 = percentiles(times)
        precision = precise / cited if cited else 0.0
        rate = unsupported / sentences if sentences else 1.0
        print(
            f"{kind:22} {len(bundles)} patients: coverage {cov:.3f}, citation precision {precision:.3f}, "
            f"unsupported {rate:.3f} of {sentences} sentences, time per draft p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
        )
        if grades:
            print(
                f"{'':22} reading grade (Flesch-Kincaid): mean {sum(grades) / len(grades):.1f}, max {max(grades):.1f} (target <= 8)"
            )
            failed |= max(grades) > 8
        if kind != "patient_instructions" and cov < TARGETS["coverage"]:
            failed = True
        if precision < TARGETS["precision"] or rate > TARGETS["unsupported"] or p95 > TARGETS["seconds"]:
            failed = True
    print("targets (extractive): coverage >= 0.95, citation precision >= 0.98, unsupported 0, <= 2 s per draft")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
