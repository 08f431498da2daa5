"""Small FHIR R4 bundles built in code, so tests need no outside data."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any


def note_text() -> str:
    return "# Chief Complaint\nCough.\n\n# Assessment\nPatient denies chest pain. Hypertension is controlled.\n"


def bundle(patient_id: str | None = None, *, observations: int = 3, bundle_type: str = "transaction") -> dict[str, Any]:
    """A transaction Bundle: a patient, one encounter, a condition, observations, a medication, an allergy, a note."""
    pid = patient_id or str(uuid.uuid4())
    enc = str(uuid.uuid4())
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{pid}",
            "resource": {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [{"type": {"coding": [{"code": "MR"}]}, "system": "urn:mrn", "value": f"MRN-{pid[:8]}"}],
                "name": [{"use": "official", "given": ["Ada"], "family": "Lovelace"}],
                "gender": "female",
                "birthDate": "1960-05-17",
            },
        },
        {
            "fullUrl": f"urn:uuid:{enc}",
            "resource": {
                "resourceType": "Encounter",
                "id": enc,
                "status": "finished",
                "class": {"code": "AMB"},
                "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003", "display": "Check up"}]}],
                "subject": {"reference": f"urn:uuid:{pid}"},
                "period": {"start": "2024-03-01T09:00:00+00:00", "end": "2024-03-01T09:30:00+00:00"},
            },
        },
        _entry(
            "Condition",
            {
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}]},
                "subject": {"reference": f"urn:uuid:{pid}"},
                "encounter": {"reference": f"urn:uuid:{enc}"},
                "onsetDateTime": "2020-01-10T00:00:00+00:00",
            },
        ),
        _entry(
            "MedicationRequest",
            {
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": "314076",
                            "display": "lisinopril 10 MG Oral Tablet",
                        }
                    ]
                },
                "subject": {"reference": f"urn:uuid:{pid}"},
                "encounter": {"reference": f"urn:uuid:{enc}"},
                "authoredOn": "2020-01-10T00:00:00+00:00",
            },
        ),
        _entry(
            "AllergyIntolerance",
            {
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "criticality": "high",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "764146007", "display": "Penicillin"}]},
                "patient": {"reference": f"urn:uuid:{pid}"},
                "recordedDate": "2019-06-01T00:00:00+00:00",
            },
        ),
        _entry(
            "DocumentReference",
            {
                "status": "current",
                "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]},
                "subject": {"reference": f"urn:uuid:{pid}"},
                "date": "2024-03-01T09:30:00+00:00",
                "content": [
                    {"attachment": {"contentType": "text/plain", "data": base64.b64encode(note_text().encode()).decode()}}
                ],
                "context": {"encounter": [{"reference": f"urn:uuid:{enc}"}]},
            },
        ),
    ]
    for i in range(observations):
        entries.append(
            _entry(
                "Observation",
                {
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "Hemoglobin A1c"}]},
                    "subject": {"reference": f"urn:uuid:{pid}"},
                    "encounter": {"reference": f"urn:uuid:{enc}"},
                    "effectiveDateTime": f"202{i}-02-01T08:00:00+00:00",
                    "valueQuantity": {"value": 6.5 + i / 10, "unit": "%"},
                    "referenceRange": [{"low": {"value": 4.0}, "high": {"value": 5.6}}],
                },
            )
        )
    for e in entries:
        e["request"] = {"method": "POST", "url": e["resource"]["resourceType"]}
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def _entry(rtype: str, body: dict[str, Any]) -> dict[str, Any]:
    rid = str(uuid.uuid4())
    return {"fullUrl": f"urn:uuid:{rid}", "resource": {"resourceType": rtype, "id": rid, **body}}


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()
