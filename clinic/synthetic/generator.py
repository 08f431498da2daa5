"""The synthetic chart: one patient's FHIR R4 transaction Bundle, built resource by resource from a seeded RNG."""

from __future__ import annotations

import base64
import datetime as dt
import random
import uuid
from typing import Any

from clinic.synthetic.genome import syndrome_for
from clinic.synthetic.notes import NoteWriter
from clinic.synthetic.results import observations
from clinic.synthetic.tables import (
    ALLERGIES,
    AMLODIPINE,
    CHRONIC,
    CITIES,
    CVX,
    DICOM,
    ED_VISITS,
    ENCOUNTER_TYPES,
    FAMILY,
    GIVEN,
    HISTORY_END,
    HISTORY_START,
    IMMUNIZATIONS,
    LABS,
    LISINOPRIL,
    LOINC,
    MRN_SYSTEM,
    NAMESPACE,
    NOTE_TYPES,
    PNEUMONIA,
    PRACTITIONERS,
    PREVALENCE,
    RXNORM,
    SNOMED,
    STREETS,
    Chronic,
    Med,
    PatientBuilder,
    Problem,
    Resource,
    Visit,
    concept,
    when,
)


def synthesize_patients(*, patients: int, seed: int) -> list[tuple[str, Resource]]:
    """(file name, transaction Bundle) for each synthetic patient."""
    return [synthesize_patient(seed=seed, index=i) for i in range(patients)]


def synthesize_patient(*, seed: int, index: int) -> tuple[str, Resource]:
    b = PatientBuilder(seed, index, random.Random(f"carebase-synthetic/{seed}/{index}"))
    org_ref, practitioner_refs = _shared(b)
    person = _patient(b)
    if syndrome := syndrome_for(seed=seed, index=index):
        person["family_history"] = syndrome.family_history
    visits = _visits(b)
    problems = _problems(b, visits)
    for problem in problems:
        _condition(b, person, problem)
        for med, start, stop in problem.meds:
            _medication(b, person, problem, med, start, stop)
    allergies = _allergies(b, person, visits[0].start)
    for number, visit in enumerate(visits):
        practitioner = practitioner_refs[(index + number) % len(practitioner_refs) if visit.kind != "ambulatory" else index % 5]
        _encounter(b, person, visit, org_ref, practitioner)
        observations(b, person, visit, problems)
        _visit_extras(b, person, visit, problems)
        _notes(b, person, visit, problems, allergies, practitioner)
    _immunizations(b, person, visits)
    bundle_id = str(uuid.uuid5(NAMESPACE, f"{seed}/{index}/bundle"))
    name = f"{person['family']}_{person['given']}_{bundle_id[:8]}.json"
    return name, {"resourceType": "Bundle", "id": bundle_id, "type": "transaction", "entry": b.entries}


def _shared(b: PatientBuilder) -> tuple[str, list[str]]:
    org_id = str(uuid.uuid5(NAMESPACE, "organization/carebase-general"))
    org = {
        "resourceType": "Organization",
        "identifier": [{"system": "urn:carebase:org", "value": "CBG-001"}],
        "name": "Carebase General Hospital",
        "address": [{"line": ["1 Hospital Drive"], "city": "Boston", "state": "MA", "postalCode": "02118"}],
    }
    org_ref = b.add(org, rid=org_id, shared=True)
    refs = []
    for n, (given, family) in enumerate(PRACTITIONERS):
        npi = f"99990{n:05d}"
        practitioner = {
            "resourceType": "Practitioner",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": npi}],
            "name": [{"use": "official", "family": family, "given": [given], "prefix": ["Dr."]}],
        }
        refs.append(b.add(practitioner, rid=str(uuid.uuid5(NAMESPACE, f"practitioner/{npi}")), shared=True))
    return org_ref, refs


def _patient(b: PatientBuilder) -> dict[str, Any]:
    rng = b.rng
    gender = rng.choice(["female", "male"])
    given, family = rng.choice(GIVEN[gender]), rng.choice(FAMILY)
    birth = dt.date(rng.randint(1938, 1975), rng.randint(1, 12), rng.randint(1, 28))
    city, state, postal = rng.choice(CITIES)
    mrn = f"CB{b.seed % 1000:03d}{b.index:05d}"
    resource = {
        "resourceType": "Patient",
        "identifier": [
            {
                "type": concept("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number"),
                "system": MRN_SYSTEM,
                "value": mrn,
            }
        ],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth.isoformat(),
        "address": [
            {"line": [f"{rng.randint(2, 980)} {rng.choice(STREETS)}"], "city": city, "state": state, "postalCode": postal}
        ],
        "communication": [{"language": concept("urn:ietf:bcp:47", "en-US", "English (United States)")}],
    }
    ref = b.add(resource)
    return {"ref": ref, "given": given, "family": family, "gender": gender, "birth": birth, "mrn": mrn}


def _visits(b: PatientBuilder) -> list[Visit]:
    rng = b.rng
    count = rng.randint(10, 40)
    span = (HISTORY_END - HISTORY_START).total_seconds()
    days = sorted(rng.sample(range(int(span // 86400)), count))
    inpatient_at = rng.randint(count // 3, count - 2)
    visits = []
    for n, day in enumerate(days):
        start = (HISTORY_START + dt.timedelta(days=day)).replace(hour=rng.choice([8, 9, 10, 11, 13, 14, 15]), minute=rng.choice([0, 15, 30, 45]))  # fmt: skip
        if n == inpatient_at:
            visits.append(Visit("inpatient", start, start + dt.timedelta(days=rng.randint(2, 5), hours=3)))
        elif n > 0 and rng.random() < 0.12:
            ed = rng.choice(ED_VISITS)
            arrival = start.replace(hour=rng.randint(0, 23))  # at any hour: the stay is counted from it
            visits.append(Visit("emergency", arrival, arrival + dt.timedelta(hours=5), ed=ed))
        else:
            visits.append(Visit("ambulatory", start, start + dt.timedelta(minutes=30)))
    return visits


def _problems(b: PatientBuilder, visits: list[Visit]) -> list[Problem]:
    rng = b.rng
    # weighted sampling without replacement (Efraimidis-Spirakis): common conditions come up more often
    ranked = sorted(CHRONIC, key=lambda c: rng.random() ** (1 / PREVALENCE[c.key]), reverse=True)
    chosen = ranked[: rng.randint(3, 6)]
    clinic_visits = [v for v in visits if v.kind == "ambulatory"]
    problems = []
    for chronic in chosen:
        if rng.random() < 0.3:  # diagnosed before our records begin: already on treatment
            onset = visits[0].start - dt.timedelta(days=rng.randint(200, 3000))
        else:
            onset = rng.choice(clinic_visits[: max(1, len(clinic_visits) // 3)]).start
        start_values = {key: rng.uniform(*LABS[key].start) for key in chronic.labs}
        treated_values = {key: rng.uniform(*LABS[key].treated) for key in chronic.labs}
        if chronic.key == "hypertension":
            start_values |= {"sbp": rng.uniform(148, 166), "dbp": rng.uniform(92, 102)}
            treated_values |= {"sbp": rng.uniform(124, 136), "dbp": rng.uniform(76, 84)}
        problem = Problem(chronic, onset, start_values, treated_values)
        problem.meds = _treatment(rng, chronic, onset)
        problems.append(problem)
    return problems


def _treatment(rng: random.Random, chronic: Chronic, onset: dt.datetime) -> list[tuple[Med, dt.datetime, dt.datetime | None]]:
    started = onset + dt.timedelta(minutes=20)  # prescribed during the diagnosing visit
    if chronic.key == "hypertension" and rng.random() < 0.4:
        # lisinopril stopped for a dry cough, amlodipine started instead
        switch = min(started + dt.timedelta(days=rng.randint(60, 240)), max(started, HISTORY_END - dt.timedelta(days=30)))
        return [(LISINOPRIL, started, switch), (AMLODIPINE, switch, None)]
    return [(med, started, None) for med in chronic.meds]


def _status(active: bool) -> Resource:
    code = "active" if active else "resolved"
    return concept("http://terminology.hl7.org/CodeSystem/condition-clinical", code, code.capitalize())


def _condition(b: PatientBuilder, person: dict[str, Any], problem: Problem) -> None:
    resource = {
        "resourceType": "Condition",
        "clinicalStatus": _status(True),
        "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"),
        "category": [
            concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")
        ],
        "code": concept(SNOMED, problem.chronic.code, problem.chronic.display),
        "subject": {"reference": person["ref"]},
        "onsetDateTime": when(problem.onset),
        "recordedDate": when(max(problem.onset, HISTORY_START)),
    }
    problem.condition_ref = b.add(resource)


def _resolved_condition(b: PatientBuilder, person: dict[str, Any], visit: Visit, code: str, display: str) -> None:
    b.add(
        {
            "resourceType": "Condition",
            "clinicalStatus": _status(False),
            "category": [
                concept("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis")
            ],
            "code": concept(SNOMED, code, display),
            "subject": {"reference": person["ref"]},
            "encounter": {"reference": visit.ref},
            "onsetDateTime": when(visit.start),
            "abatementDateTime": when(visit.end + dt.timedelta(days=10)),
            "recordedDate": when(visit.start),
        }
    )


def _medication(
    b: PatientBuilder, person: dict[str, Any], problem: Problem, med: Med, start: dt.datetime, stop: dt.datetime | None
) -> None:
    resource: Resource = {
        "resourceType": "MedicationRequest",
        "status": "active" if stop is None else "stopped",
        "intent": "order",
        "medicationCodeableConcept": concept(RXNORM, med.code, med.display),
        "subject": {"reference": person["ref"]},
        "authoredOn": when(start),
        "reasonReference": [{"reference": problem.condition_ref, "display": problem.chronic.display}],
        "reasonCode": [concept(SNOMED, problem.chronic.code, problem.chronic.display)],
        "dosageInstruction": [{"text": med.dosage}],
    }
    if stop is not None:
        resource["statusReason"] = concept(SNOMED, "59320004", "Drug-induced cough")
        resource["dispenseRequest"] = {"validityPeriod": {"start": when(start), "end": when(stop)}}
    b.add(resource)


def _allergies(b: PatientBuilder, person: dict[str, Any], first_visit: dt.datetime) -> list[str]:
    rng = b.rng
    if rng.random() < 0.45:
        return []
    names = []
    for code, substance, category, m_code, manifestation, criticality in rng.sample(ALLERGIES, rng.randint(1, 2)):
        b.add(
            {
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
                ),
                "verificationStatus": concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed"
                ),
                "type": "allergy",
                "category": [category],
                "criticality": criticality,
                "code": concept(SNOMED, code, substance),
                "patient": {"reference": person["ref"]},
                "recordedDate": when(first_visit),
                "reaction": [
                    {
                        "manifestation": [concept(SNOMED, m_code, manifestation)],
                        "severity": "severe" if criticality == "high" else "mild",
                    }
                ],
            }
        )
        names.append(f"{substance.split(' (')[0].lower()} ({manifestation.split(' (')[0].lower()})")
    return names


def _encounter(b: PatientBuilder, person: dict[str, Any], visit: Visit, org_ref: str, practitioner: str) -> None:
    klass, klass_display, type_code, type_display = ENCOUNTER_TYPES[visit.kind]
    resource: Resource = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass, "display": klass_display},
        "type": [concept(SNOMED, type_code, type_display)],
        "subject": {"reference": person["ref"]},
        "participant": [{"individual": {"reference": practitioner}}],
        "period": {"start": when(visit.start), "end": when(visit.end)},
        "serviceProvider": {"reference": org_ref},
    }
    if visit.kind == "inpatient":
        resource["reasonCode"] = [concept(SNOMED, *PNEUMONIA)]
        resource["hospitalization"] = {
            "dischargeDisposition": concept("http://terminology.hl7.org/CodeSystem/discharge-disposition", "home", "Home")
        }
    elif visit.ed:
        resource["reasonCode"] = [concept(SNOMED, visit.ed[0], visit.ed[1])]
    visit.ref = b.add(resource)


def _procedure(b: PatientBuilder, person: dict[str, Any], visit: Visit, code: str, display: str, reason: str = "") -> None:
    resource: Resource = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": concept(SNOMED, code, display),
        "subject": {"reference": person["ref"]},
        "encounter": {"reference": visit.ref},
        "performedPeriod": {
            "start": when(visit.start + dt.timedelta(minutes=15)),
            "end": when(visit.start + dt.timedelta(minutes=40)),
        },  # fmt: skip
    }
    if reason:
        resource["reasonCode"] = [{"text": reason}]
    b.add(resource)


def _visit_extras(b: PatientBuilder, person: dict[str, Any], visit: Visit, problems: list[Problem]) -> None:
    """Procedures and imaging that go with the visit."""
    rng = b.rng
    keys = {p.chronic.key for p in problems}
    if visit.kind == "inpatient":
        _resolved_condition(b, person, visit, *PNEUMONIA)
        _procedure(b, person, visit, "399208008", "Plain chest X-ray (procedure)", "Community acquired pneumonia")
        _imaging(b, person, visit, "DX", "Chest X-ray, 2 views", ("51185008", "Thoracic structure"), 2,
                 "Right lower lobe consolidation consistent with pneumonia. No pleural effusion. Heart size normal.")  # fmt: skip
    elif visit.kind == "emergency" and visit.ed and visit.ed[0] != "29857009":
        _resolved_condition(b, person, visit, visit.ed[0], visit.ed[1])
    elif visit.kind == "emergency" and visit.ed:
        _procedure(b, person, visit, "29303009", "Electrocardiographic procedure (procedure)", "Chest pain")
        if rng.random() < 0.5:
            _imaging(b, person, visit, "CT", "CT angiography chest", ("51185008", "Thoracic structure"), 1,
                     "No pulmonary embolism. No aortic dissection. Lungs clear.")  # fmt: skip
    elif visit.kind == "ambulatory" and rng.random() < 0.25:
        options = [("171207006", "Depression screening (procedure)")]
        options += [("127783003", "Spirometry (procedure)")] if keys & {"asthma", "copd"} else []
        options += [("29303009", "Electrocardiographic procedure (procedure)")] if "afib" in keys else []
        options += [("401191002", "Diabetic foot examination (regime/therapy)")] if "diabetes" in keys else []
        _procedure(b, person, visit, *rng.choice(options))
        if "osteoarthritis" in keys and rng.random() < 0.4:
            _imaging(b, person, visit, "DX", "X-ray knee, 3 views", ("72696002", "Knee region structure"), 1,
                     "Medial joint space narrowing and marginal osteophytes, moderate osteoarthritis.")  # fmt: skip


def _imaging(
    b: PatientBuilder,
    person: dict[str, Any],
    visit: Visit,
    modality: str,
    description: str,
    site: tuple[str, str],
    series_count: int,
    impression: str,
) -> None:
    rng = b.rng
    study_id = b.new_id("ImagingStudy")
    series = []
    for number in range(1, series_count + 1):
        instances = rng.randint(1, 3) if modality == "DX" else rng.randint(120, 420)
        series.append(
            {
                "uid": f"2.25.{uuid.uuid5(NAMESPACE, f'{study_id}/series/{number}').int}",
                "number": number,
                "modality": {"system": DICOM, "code": modality},
                "description": description if series_count == 1 else f"{description} ({['PA', 'lateral'][number - 1]})",
                "numberOfInstances": instances,
                "bodySite": {"system": SNOMED, "code": site[0], "display": site[1]},
            }
        )
    started = visit.start + dt.timedelta(minutes=50)
    study_ref = b.add(
        {
            "resourceType": "ImagingStudy",
            "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:2.25.{uuid.UUID(study_id).int}"}],
            "status": "available",
            "modality": [{"system": DICOM, "code": modality}],
            "subject": {"reference": person["ref"]},
            "encounter": {"reference": visit.ref},
            "started": when(started),
            "numberOfSeries": len(series),
            "numberOfInstances": sum(s["numberOfInstances"] for s in series),
            "procedureCode": [concept(LOINC, "36643-5" if modality == "DX" else "24627-2", description)],
            "description": description,
            "series": series,
        },
        rid=study_id,
    )
    report = f"EXAM: {description}\nCOMPARISON: None.\nFINDINGS: {impression}\nIMPRESSION: {impression.split('.')[0]}.\n"
    b.add(
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": [concept("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology")],
            "code": concept(LOINC, "18748-4", "Diagnostic imaging study"),
            "subject": {"reference": person["ref"]},
            "encounter": {"reference": visit.ref},
            "effectiveDateTime": when(started),
            "issued": when(started + dt.timedelta(hours=1)),
            "imagingStudy": [{"reference": study_ref}],
            "conclusion": impression.split(".")[0] + ".",
            "presentedForm": [{"contentType": "text/plain", "data": base64.b64encode(report.encode()).decode()}],
        }
    )


def _immunizations(b: PatientBuilder, person: dict[str, Any], visits: list[Visit]) -> None:
    given_seasons: set[int] = set()
    once: set[str] = set()
    age = lambda v: (v.start.date() - person["birth"]).days // 365  # noqa: E731
    for visit in visits:
        if visit.kind != "ambulatory":
            continue
        due = []
        season = visit.start.year if visit.start.month >= 9 else visit.start.year - 1
        if visit.start.month in (9, 10, 11, 12, 1) and season not in given_seasons:
            given_seasons.add(season)
            due.append("flu")
        if visit.start.year >= 2021 and "covid" not in once:
            due.append("covid")
        if "tdap" not in once and b.rng.random() < 0.2:
            due.append("tdap")
        if "pcv" not in once and age(visit) >= 65:
            due.append("pcv")
        for key in due:
            once.add(key)
            code, display = IMMUNIZATIONS[key]
            b.add(
                {
                    "resourceType": "Immunization",
                    "status": "completed",
                    "vaccineCode": concept(CVX, code, display),
                    "patient": {"reference": person["ref"]},
                    "encounter": {"reference": visit.ref},
                    "occurrenceDateTime": when(visit.start + dt.timedelta(minutes=25)),
                    "primarySource": True,
                }
            )


def _notes(
    b: PatientBuilder,
    person: dict[str, Any],
    visit: Visit,
    problems: list[Problem],
    allergies: list[str],
    author: str,
) -> None:
    writer = NoteWriter(b.rng, person, visit, [p for p in problems if p.onset <= visit.end], allergies)
    if visit.kind == "ambulatory":
        _note(b, person, visit, author, "progress", writer.progress(), visit.end)
    elif visit.kind == "emergency":
        _note(b, person, visit, author, "hp", writer.emergency(), visit.end)
    else:
        _note(b, person, visit, author, "hp", writer.admission(), visit.start + dt.timedelta(hours=3))
        _note(b, person, visit, author, "discharge", writer.discharge(), visit.end)


def _note(
    b: PatientBuilder, person: dict[str, Any], visit: Visit, author: str, kind: str, text: str, moment: dt.datetime
) -> None:
    code, display = NOTE_TYPES[kind]
    b.add(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "docStatus": "final",
            "type": concept(LOINC, code, display),
            "category": [
                concept(
                    "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "clinical-note", "Clinical Note"
                )
            ],  # fmt: skip
            "subject": {"reference": person["ref"]},
            "date": when(moment),
            "author": [{"reference": author}],
            "description": display,
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                        "title": display,
                    }
                }
            ],
            "context": {"encounter": [{"reference": visit.ref}], "period": {"start": when(visit.start), "end": when(visit.end)}},
        }
    )
