"""Charts for decision support tests, built in code with dates relative to today, so the rules' time windows hold.

Rosa Diaz (68, female): type 2 diabetes with a last HbA1c of 8.7 % a month ago, chronic kidney disease stage 3 with
creatinine rising from 1.2 to 1.6 mg/dL, a penicillin allergy, lisinopril, a flu shot this season, no pneumococcal
or tetanus vaccine.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import uuid
from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"


def days_ago(days: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).replace(microsecond=0).isoformat()


def concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def resource(rtype: str, body: dict[str, Any], patient_id: str, rid: str | None = None) -> dict[str, Any]:
    subject = "patient" if rtype in ("AllergyIntolerance", "Immunization") else "subject"
    return {"resourceType": rtype, "id": rid or str(uuid.uuid4()), subject: {"reference": f"Patient/{patient_id}"}, **body}


def condition(pid: str, code: str, display: str, onset_days: int = 400) -> dict[str, Any]:
    body = {
        "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
        "code": concept(SNOMED, code, display),
        "onsetDateTime": days_ago(onset_days),
    }
    return resource("Condition", body, pid)


def lab(pid: str, code: str, display: str, value: float, unit: str, days: int) -> dict[str, Any]:
    body = {
        "status": "final",
        "category": [concept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")],
        "code": concept(LOINC, code, display),
        "effectiveDateTime": days_ago(days),
        "valueQuantity": {"value": value, "unit": unit},
    }
    return resource("Observation", body, pid)


def medication(pid: str, code: str, display: str, status: str = "active", rid: str | None = None) -> dict[str, Any]:
    body = {
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept(RXNORM, code, display),
        "authoredOn": days_ago(300),
    }
    return resource("MedicationRequest", body, pid, rid)


def rosa_resources(pid: str) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"type": {"coding": [{"code": "MR"}]}, "system": "urn:mrn", "value": f"MRN-{pid[:8]}"}],
            "name": [{"given": ["Rosa"], "family": "Diaz"}],
            "gender": "female",
            "birthDate": (dt.date.today() - dt.timedelta(days=68 * 365 + 30)).isoformat(),
        },
        condition(pid, "44054006", "Diabetes mellitus type 2 (disorder)", onset_days=60),
        condition(pid, "433144002", "Chronic kidney disease stage 3 (disorder)", onset_days=700),
        lab(pid, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", 8.7, "%", 30),
        lab(pid, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", 1.2, "mg/dL", 400),
        lab(pid, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", 1.6, "mg/dL", 20),
        medication(pid, "314076", "Lisinopril 10 MG Oral Tablet"),
        resource(
            "AllergyIntolerance",
            {
                "clinicalStatus": concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
                ),
                "criticality": "high",
                "code": concept(SNOMED, "764146007", "Penicillin (substance)"),
            },
            pid,
        ),
        resource(
            "Immunization",
            {
                "status": "completed",
                "vaccineCode": concept(CVX, "140", "Influenza, seasonal"),
                "occurrenceDateTime": days_ago(60),
            },
            pid,
        ),  # fmt: skip
    ]


def bundle(resources: list[dict[str, Any]], bundle_type: str = "transaction") -> dict[str, Any]:
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    if bundle_type == "transaction":
        for entry in entries:
            entry["request"] = {"method": "PUT", "url": f"{entry['resource']['resourceType']}/{entry['resource']['id']}"}
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def starter_rules_ensure() -> None:
    """The starter rules as their data migration writes them: a transactional test (a browser test) runs after
    others have flushed the database, and a flush takes a data migration's rows with it."""
    from django.apps import apps

    importlib.import_module("cds.migrations.0002_starter_rules").starter_rules(apps, None)


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()
