"""FHIR R4 resources → row values for the clinic tables.

Each mapper takes a resource whose references the importer has already rewritten to `Type/id` and returns
the model's field values. References to other rows come back under `*_ref` keys for the importer to resolve.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from clinic import models as m
from clinic.fhir.values import (
    FieldError,
    coding,
    concept_text,
    date_value,
    datetime_value,
    human_name,
    period_values,
    quantity,
    reference,
    status_code,
)

Row = dict[str, Any]


def _identifier(resource: dict[str, Any]) -> tuple[str, str]:
    identifiers = resource.get("identifier") or []
    if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], dict):
        return str(identifiers[0].get("system") or ""), str(identifiers[0].get("value") or "")
    return "", ""


def _coded(resource: dict[str, Any], field: str) -> Row:
    system, code, display = coding(resource.get(field), field)
    return {"code_system": system[:200], "code": code[:64], "display": display[:500]}


def _subject(resource: dict[str, Any]) -> Row:
    patient_ref = reference(resource, "subject") or reference(resource, "patient")
    if not patient_ref:
        raise FieldError("subject", "a reference to the Patient is required")
    return {"patient_ref": patient_ref, "encounter_ref": reference(resource, "encounter") or reference(resource, "context")}


def _decoded_attachment(attachment: dict[str, Any], where: str) -> str:
    if attachment.get("data"):
        try:
            return base64.b64decode(attachment["data"], validate=False).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError, TypeError):
            raise FieldError(f"{where}.data", "is not valid base64") from None
    return ""


def organization(r: dict[str, Any]) -> Row:
    system, value = _identifier(r)
    address = (r.get("address") or [{}])[0] if isinstance(r.get("address"), list) else {}
    return {
        "name": str(r.get("name") or "")[:300],
        "identifier_system": system[:200],
        "identifier_value": value[:200],
        "city": str(address.get("city") or "")[:120] if isinstance(address, dict) else "",
    }


def practitioner(r: dict[str, Any]) -> Row:
    system, value = _identifier(r)
    given, family, display = human_name(r.get("name"))
    prefix = ""
    names = r.get("name")
    if isinstance(names, list) and names and isinstance(names[0], dict) and names[0].get("prefix"):
        prefix = str(names[0]["prefix"][0]) + " "
    return {"name": (prefix + display)[:300], "identifier_system": system[:200], "identifier_value": value[:200]}


def _extension_text(r: dict[str, Any], suffix: str) -> str:
    for ext in r.get("extension") or []:
        if isinstance(ext, dict) and str(ext.get("url", "")).endswith(suffix):
            for sub in ext.get("extension") or []:
                if isinstance(sub, dict) and sub.get("url") == "text":
                    return str(sub.get("valueString") or "")
    return ""


def patient(r: dict[str, Any]) -> Row:
    given, family, display = human_name(r.get("name"))
    mrn = ""
    for ident in r.get("identifier") or []:
        if not isinstance(ident, dict):
            continue
        codes = {c.get("code") for c in ((ident.get("type") or {}).get("coding") or []) if isinstance(c, dict)}
        if "MR" in codes or not mrn:
            mrn = str(ident.get("value") or "")
            if "MR" in codes:
                break
    deceased = datetime_value(r, "deceasedDateTime")
    address = (r.get("address") or [{}])[0] if isinstance(r.get("address"), list) else {}
    address = address if isinstance(address, dict) else {}
    communication = r.get("communication") or []
    language = concept_text(communication[0].get("language")) if communication and isinstance(communication[0], dict) else ""
    return {
        "mrn": mrn[:120],
        "given_name": given[:200],
        "family_name": family[:200],
        "name": display[:300],
        "birth_date": date_value(r, "birthDate"),
        "sex": str(r.get("gender") or "")[:20],
        "deceased_at": deceased,
        "city": str(address.get("city") or "")[:120],
        "state": str(address.get("state") or "")[:120],
        "race": _extension_text(r, "us-core-race")[:120],
        "ethnicity": _extension_text(r, "us-core-ethnicity")[:120],
        "language": language[:120],
    }


def encounter(r: dict[str, Any]) -> Row:
    start, end = period_values(r, "period")
    klass = r.get("class")
    class_code = str(klass.get("code") or "") if isinstance(klass, dict) else ""
    _, type_code, type_display = coding(r.get("type"), "type")
    _, reason_code, reason_display = coding(r.get("reasonCode"), "reasonCode")
    participants = r.get("participant") or []
    practitioner_ref = None
    if isinstance(participants, list) and participants and isinstance(participants[0], dict):
        practitioner_ref = reference(participants[0], "individual")
    patient_ref = reference(r, "subject")
    if not patient_ref:
        raise FieldError("subject", "a reference to the Patient is required")
    return {
        "patient_ref": patient_ref,
        "status": str(r.get("status") or "")[:40],
        "class_code": class_code[:40],
        "type_code": type_code[:64],
        "type_display": type_display[:500],
        "reason_code": reason_code[:64],
        "reason_display": reason_display[:500],
        "start": start,
        "end": end,
        "practitioner_ref": practitioner_ref,
        "organization_ref": reference(r, "serviceProvider"),
    }


def condition(r: dict[str, Any]) -> Row:
    return {
        **_subject(r),
        **_coded(r, "code"),
        "clinical_status": status_code(r.get("clinicalStatus"))[:40],
        "verification_status": status_code(r.get("verificationStatus"))[:40],
        "category": concept_text(r.get("category"))[:120],
        "onset": datetime_value(r, "onsetDateTime") or period_values(r, "onsetPeriod")[0],
        "abatement": datetime_value(r, "abatementDateTime") or period_values(r, "abatementPeriod")[0],
        "recorded": datetime_value(r, "recordedDate"),
    }


def _reference_range(r: dict[str, Any]) -> Row:
    ranges = r.get("referenceRange") or []
    if not isinstance(ranges, list) or not ranges or not isinstance(ranges[0], dict):
        return {"ref_low": None, "ref_high": None, "ref_text": ""}
    low, _ = quantity(ranges[0].get("low"), "referenceRange[0].low")
    high, _ = quantity(ranges[0].get("high"), "referenceRange[0].high")
    return {"ref_low": low, "ref_high": high, "ref_text": str(ranges[0].get("text") or "")[:200]}


def _observation_value(r: dict[str, Any], where: str) -> tuple[float | None, str, str]:
    """(number, unit, text) from whichever value[x] is present."""
    if "valueQuantity" in r:
        number, unit = quantity(r["valueQuantity"], f"{where}valueQuantity")
        return number, unit, ""
    if "valueCodeableConcept" in r:
        return None, "", concept_text(r["valueCodeableConcept"])
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in r:
            return None, "", str(r[key])
    return None, "", ""


def observation(r: dict[str, Any]) -> Row:
    number, unit, text = _observation_value(r, "")
    components = []
    for i, comp in enumerate(r.get("component") or []):
        if not isinstance(comp, dict):
            raise FieldError(f"component[{i}]", "expected an object")
        c_system, c_code, c_display = coding(comp.get("code"), f"component[{i}].code")
        c_value, c_unit, c_text = _observation_value(comp, f"component[{i}].")
        components.append({"code": c_code, "display": c_display, "value": c_value, "unit": c_unit, "value_text": c_text})
    effective = datetime_value(r, "effectiveDateTime") or period_values(r, "effectivePeriod")[0]
    effective = effective or datetime_value(r, "issued")
    return {
        **_subject(r),
        **_coded(r, "code"),
        "status": str(r.get("status") or "")[:40],
        "category": concept_text(r.get("category"))[:120],
        "effective": effective,
        "value": number,
        "unit": unit[:60],
        "value_text": text[:500],
        "interpretation": coding(r.get("interpretation"), "interpretation")[1][:40],
        **_reference_range(r),
        "components": components,
    }


def medication_request(r: dict[str, Any]) -> Row:
    if "medicationCodeableConcept" in r:
        coded = _coded(r, "medicationCodeableConcept")
    else:
        med = r.get("medicationReference")
        display = str(med.get("display") or "") if isinstance(med, dict) else ""
        coded = {"code_system": "", "code": "", "display": display[:500]}
    dosage = r.get("dosageInstruction") or []
    dosage_text = ""
    if isinstance(dosage, list) and dosage and isinstance(dosage[0], dict):
        dosage_text = str(dosage[0].get("text") or "")
        if not dosage_text and isinstance(dosage[0].get("timing"), dict):
            repeat = dosage[0]["timing"].get("repeat") or {}
            if repeat.get("frequency") and repeat.get("period"):
                dosage_text = f"{repeat['frequency']} time(s) per {repeat['period']} {repeat.get('periodUnit', '')}".strip()
    return {
        **_subject(r),
        **coded,
        "status": str(r.get("status") or "")[:40],
        "intent": str(r.get("intent") or "")[:40],
        "authored_on": datetime_value(r, "authoredOn"),
        "dosage_text": dosage_text[:500],
        "reason_display": concept_text(r.get("reasonCode"))[:500],
        "requester_ref": reference(r, "requester"),
    }


def allergy_intolerance(r: dict[str, Any]) -> Row:
    reactions = []
    for reaction in r.get("reaction") or []:
        if isinstance(reaction, dict):
            reactions.append(
                {"manifestation": concept_text(reaction.get("manifestation")), "severity": str(reaction.get("severity") or "")}
            )
    category = r.get("category") or []
    return {
        "patient_ref": reference(r, "patient") or reference(r, "subject"),
        "encounter_ref": reference(r, "encounter"),
        **_coded(r, "code"),
        "clinical_status": status_code(r.get("clinicalStatus"))[:40],
        "verification_status": status_code(r.get("verificationStatus"))[:40],
        "allergy_type": str(r.get("type") or "")[:40],
        "category": ", ".join(str(c) for c in category)[:120] if isinstance(category, list) else "",
        "criticality": str(r.get("criticality") or "")[:40],
        "recorded": datetime_value(r, "recordedDate") or datetime_value(r, "onsetDateTime"),
        "reactions": reactions,
    }


def procedure(r: dict[str, Any]) -> Row:
    start, end = period_values(r, "performedPeriod")
    start = datetime_value(r, "performedDateTime") or start
    return {
        **_subject(r),
        **_coded(r, "code"),
        "status": str(r.get("status") or "")[:40],
        "performed_start": start,
        "performed_end": end,
        "reason_display": concept_text(r.get("reasonCode"))[:500],
    }


def immunization(r: dict[str, Any]) -> Row:
    return {
        "patient_ref": reference(r, "patient") or reference(r, "subject"),
        "encounter_ref": reference(r, "encounter"),
        **_coded(r, "vaccineCode"),
        "status": str(r.get("status") or "")[:40],
        "occurrence": datetime_value(r, "occurrenceDateTime"),
    }


def diagnostic_report(r: dict[str, Any]) -> Row:
    texts = [
        _decoded_attachment(form, f"presentedForm[{i}]")
        for i, form in enumerate(r.get("presentedForm") or [])
        if isinstance(form, dict) and str(form.get("contentType", "text/plain")).startswith("text/")
    ]
    results = [str(x.get("reference", "")).split("/")[-1] for x in r.get("result") or [] if isinstance(x, dict)]
    effective = datetime_value(r, "effectiveDateTime") or period_values(r, "effectivePeriod")[0]
    return {
        **_subject(r),
        **_coded(r, "code"),
        "status": str(r.get("status") or "")[:40],
        "category": concept_text(r.get("category"))[:200],
        "effective": effective or datetime_value(r, "issued"),
        "issued": datetime_value(r, "issued"),
        "conclusion": str(r.get("conclusion") or ""),
        "text": "\n".join(texts),
        "result_ids": results,
    }


def care_plan(r: dict[str, Any]) -> Row:
    start, end = period_values(r, "period")
    activities = []
    for activity in r.get("activity") or []:
        detail = activity.get("detail") if isinstance(activity, dict) else None
        if isinstance(detail, dict):
            activities.append({"display": concept_text(detail.get("code")), "status": str(detail.get("status") or "")})
    category = r.get("category") or []
    system, code, display = coding(category[-1] if isinstance(category, list) and category else None, "category")
    addresses = [str(a.get("display") or a.get("reference") or "") for a in r.get("addresses") or [] if isinstance(a, dict)]
    return {
        **_subject(r),
        "code_system": system[:200],
        "code": code[:64],
        "display": display[:500],
        "status": str(r.get("status") or "")[:40],
        "intent": str(r.get("intent") or "")[:40],
        "category": concept_text(category)[:300],
        "period_start": start,
        "period_end": end,
        "activities": activities,
        "addresses": ", ".join(addresses)[:500],
    }


def document_reference(r: dict[str, Any]) -> Row:
    texts, content_type = [], ""
    for i, content in enumerate(r.get("content") or []):
        attachment = content.get("attachment") if isinstance(content, dict) else None
        if isinstance(attachment, dict):
            content_type = content_type or str(attachment.get("contentType") or "")
            if str(attachment.get("contentType", "text/plain")).startswith("text/"):
                texts.append(_decoded_attachment(attachment, f"content[{i}].attachment"))
    context = r.get("context") if isinstance(r.get("context"), dict) else {}
    encounter_ref = reference(context, "encounter") if context else None
    _, _, type_display = coding(r.get("type"), "type")
    return {
        **_subject(r),
        **_coded(r, "type"),
        "encounter_ref": encounter_ref,
        "status": str(r.get("status") or "")[:40],
        "category": concept_text(r.get("category"))[:200],
        "date": datetime_value(r, "date") or (period_values(context, "period")[0] if context else None),
        "title": str(r.get("description") or type_display or "Clinical note")[:300],
        "text": "\n".join(texts).strip(),
        "content_type": content_type[:100],
        "author_ref": reference(r, "author"),
    }


def imaging_study(r: dict[str, Any]) -> Row:
    study_uid = ""
    for ident in r.get("identifier") or []:
        if isinstance(ident, dict) and str(ident.get("value", "")).startswith("urn:oid:"):
            study_uid = str(ident["value"])[len("urn:oid:") :]
    modalities = r.get("modality") or []
    series = r.get("series") or []
    first_series = series[0] if isinstance(series, list) and series and isinstance(series[0], dict) else {}
    body_site: dict[str, Any] = first_series["bodySite"] if isinstance(first_series.get("bodySite"), dict) else {}
    _, proc_code, proc_display = coding(r.get("procedureCode"), "procedureCode")
    return {
        **_subject(r),
        "code_system": "",
        "code": proc_code[:64],
        "display": proc_display[:500],
        "status": str(r.get("status") or "")[:40],
        "study_uid": study_uid[:128] or None,
        "started": datetime_value(r, "started"),
        "modalities": ", ".join(str(x.get("code") or "") for x in modalities if isinstance(x, dict))[:100],
        "description": str(r.get("description") or proc_display or "")[:500],
        "body_site": str(body_site.get("display") or "")[:200],
        "num_series": int(r.get("numberOfSeries") or len(series) or 0),
        "num_instances": int(r.get("numberOfInstances") or 0),
        "series": imaging_series(series),  # not a column: the importer writes them as ImagingSeries rows
    }


def imaging_series(series: Any) -> list[Row]:
    """ImagingStudy.series → ImagingSeries values (uid and modality are required in R4)."""
    if not isinstance(series, list):
        raise FieldError("series", "must be a list")
    rows = []
    for i, s in enumerate(series):
        if not isinstance(s, dict):
            raise FieldError(f"series[{i}]", "must be an object")
        uid = s.get("uid")
        if not isinstance(uid, str) or not uid.strip():
            raise FieldError(f"series[{i}].uid", "a series instance UID is required")
        modality = s.get("modality")
        if not isinstance(modality, dict):
            raise FieldError(f"series[{i}].modality", f"a Coding is required, not {modality!r}")
        # R4 has a Coding here; R5 a CodeableConcept.
        modality = str(modality.get("code") or coding(modality, f"series[{i}].modality")[1])
        instances = s.get("instance") or []
        if not isinstance(instances, list):
            raise FieldError(f"series[{i}].instance", "must be a list")
        number, count = s.get("number"), s.get("numberOfInstances")
        for field, value in ((f"series[{i}].number", number), (f"series[{i}].numberOfInstances", count)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise FieldError(field, f"must be a non-negative integer, not {value!r}")
        body_site: dict[str, Any] = s["bodySite"] if isinstance(s.get("bodySite"), dict) else {}
        rows.append(
            {
                "series_uid": uid.strip()[:128],
                "number": number,
                "modality": modality[:16],
                "body_part": str(body_site.get("display") or body_site.get("code") or "")[:100],
                "description": str(s.get("description") or "")[:500],
                "num_instances": count if count is not None else len(instances),
            }
        )
    return rows


# FHIR R4 Consent about research: scope `research` (consentscope) or a provision whose purpose is research
# (v3-ActReason: healthcare, biomedical, clinical-trial, disease-specific, population-origin research …).
RESEARCH_PURPOSES = frozenset("HRESCH BIORCH CLINTRCH CLINTRCHNPC CLINTRCHPC DSRCH PATRCH POARCH TRANSRCH".split())


def _codes(value: Any) -> set[str]:
    """Every code in a Coding, a CodeableConcept or a list of either."""
    if isinstance(value, list):
        return set().union(*(_codes(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    own = {str(value["code"])} if value.get("code") else set()
    return own | _codes(value.get("coding") or [])


def _provisions(provision: Any) -> list[dict[str, Any]]:
    if not isinstance(provision, dict):
        return []
    nested = provision.get("provision") or []
    return [provision, *(p for child in (nested if isinstance(nested, list) else []) for p in _provisions(child))]


def research_decision(r: dict[str, Any]) -> str:
    """deny (an opt-out), permit, or "" when the Consent says nothing about research. A provision is about research
    when its purpose is one, or when the whole Consent is scoped to research and the provision names no purpose."""
    scoped = "research" in _codes(r.get("scope")) | _codes(r.get("category"))
    found = set()
    for provision in _provisions(r.get("provision")):
        purposes = _codes(provision.get("purpose"))
        if purposes & RESEARCH_PURPOSES or (scoped and not purposes):
            found.add(str(provision.get("type") or ""))
    return "deny" if "deny" in found else "permit" if "permit" in found else ""


def consent(r: dict[str, Any]) -> Row:
    return {
        "patient_ref": _subject(r)["patient_ref"],
        "status": str(r.get("status") or "")[:40],
        "decision": research_decision(r),
        "decided_at": datetime_value(r, "dateTime"),
        "source": "fhir",
    }


MapFn = Callable[[dict[str, Any]], Row]

# The resource types we store, in the order they must be written (what others refer to comes first).
MAPPERS: dict[str, tuple[Any, MapFn]] = {  # model classes typed loosely: each has its own fields
    "Organization": (m.Organization, organization),
    "Practitioner": (m.Practitioner, practitioner),
    "Patient": (m.Patient, patient),
    "Encounter": (m.Encounter, encounter),
    "Condition": (m.Condition, condition),
    "Observation": (m.Observation, observation),
    "MedicationRequest": (m.MedicationRequest, medication_request),
    "AllergyIntolerance": (m.AllergyIntolerance, allergy_intolerance),
    "Procedure": (m.Procedure, procedure),
    "Immunization": (m.Immunization, immunization),
    "DiagnosticReport": (m.DiagnosticReport, diagnostic_report),
    "CarePlan": (m.CarePlan, care_plan),
    "DocumentReference": (m.ClinicalNote, document_reference),
    "ImagingStudy": (m.ImagingStudy, imaging_study),
    "Consent": (m.ResearchConsent, consent),
}
