"""CDS Hooks 2.0: the services Carebase offers, the checks on a request, prefetch as a chart, and cards as JSON.

Prefetched resources are checked against the FHIR R4 models (fhir.resources.R4B) and mapped by the importer's own
mappers (clinic.fhir.mapping), so a prefetched Condition is read exactly as an imported one. Every problem is a
400 naming the place: `context.patientId`, `prefetch.conditions.entry[2].resource.code.coding.0.code`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from django.urls import reverse

from cds import chart as c
from cds.chart import Chart, Item
from cds.models import CardDecision
from clinic import models as m
from clinic.errors import InvalidInput
from clinic.fhir import mapping
from clinic.fhir.values import FieldError

PATIENT = "{{context.patientId}}"
PREFETCH = {
    "patient": f"Patient/{PATIENT}",
    "conditions": f"Condition?patient={PATIENT}",
    "medications": f"MedicationRequest?patient={PATIENT}&status=active",
    "allergies": f"AllergyIntolerance?patient={PATIENT}",
    "observations": f"Observation?patient={PATIENT}&category=laboratory",
    "immunizations": f"Immunization?patient={PATIENT}",
    "procedures": f"Procedure?patient={PATIENT}",
}
# prefetch key -> (resource type, chart kind, mapper, item builder)
SEARCHES: dict[str, tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]], Callable[[dict[str, Any]], Any]]] = {
    "conditions": ("Condition", "condition", mapping.condition, c.condition_item),
    "medications": ("MedicationRequest", "medication", mapping.medication_request, c.medication_item),
    "allergies": ("AllergyIntolerance", "allergy", mapping.allergy_intolerance, c.allergy_item),
    "observations": ("Observation", "observation", mapping.observation, c.observation_items),
    "immunizations": ("Immunization", "immunization", mapping.immunization, c.immunization_item),
    "procedures": ("Procedure", "procedure", mapping.procedure, c.procedure_item),
}
MODELS: dict[str, Any] = {
    "Condition": m.Condition,
    "MedicationRequest": m.MedicationRequest,
    "AllergyIntolerance": m.AllergyIntolerance,
    "Observation": m.Observation,
    "Immunization": m.Immunization,
    "Procedure": m.Procedure,
}


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str


SERVICES = {
    s.id: s
    for s in [
        Service(
            "carebase-patient-view",
            "patient-view",
            "Carebase care gaps and alerts",
            "Care gaps, lab thresholds and trends, variants without screening, overdue immunizations and "
            "conflicts in the active medications; every card cites the chart records it rests on.",
        ),
        Service(
            "carebase-order-select",
            "order-select",
            "Carebase medication order checks",
            "Allergy–ingredient and condition–drug conflicts in the selected medication orders (MedicationRequest).",
        ),
    ]
}


def discovery() -> dict[str, Any]:
    return {
        "services": [
            {"hook": s.hook, "id": s.id, "title": s.title, "description": s.description, "prefetch": PREFETCH}
            for s in SERVICES.values()
        ]
    }


@dataclass
class HookCall:
    service: Service
    hook_instance: str
    patient_fhir_id: str
    user_id: str
    encounter_id: str
    prefetch: dict[str, Any]
    draft_orders: dict[str, Any] | None
    selections: list[str]


def call_parse(*, service_id: str, body: Any) -> HookCall:
    """The request's envelope and context, checked; InvalidInput naming the field otherwise (404 for a service)."""
    service = SERVICES.get(service_id)
    if service is None:
        raise Http404(f"no CDS service {service_id!r}; GET /cds-services lists them")
    if not isinstance(body, dict):
        raise InvalidInput("body: expected a JSON object with hook, hookInstance and context")
    if body.get("hook") != service.hook:
        raise InvalidInput(f"hook: this service answers {service.hook!r}, not {body.get('hook')!r}")
    hook_instance = _text(body, "hookInstance", "hookInstance")
    context = body.get("context")
    if not isinstance(context, dict):
        raise InvalidInput("context: expected an object with patientId and userId")
    prefetch = body.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        raise InvalidInput("prefetch: expected an object of prefetch keys")
    call = HookCall(
        service=service,
        hook_instance=hook_instance,
        patient_fhir_id=_text(context, "patientId", "context.patientId"),
        user_id=_text(context, "userId", "context.userId"),
        encounter_id=_text(context, "encounterId", "context.encounterId", required=False),
        prefetch=prefetch,
        draft_orders=None,
        selections=[],
    )
    if service.hook == "order-select":
        call.draft_orders = context.get("draftOrders")
        if not isinstance(call.draft_orders, dict) or call.draft_orders.get("resourceType") != "Bundle":
            raise InvalidInput("context.draftOrders: expected a FHIR Bundle of the orders being written")
        selections = context.get("selections")
        if not isinstance(selections, list) or not selections or not all(isinstance(s, str) for s in selections):
            raise InvalidInput("context.selections: expected a list of the selected orders, e.g. ['MedicationRequest/1']")
        call.selections = selections
    return call


def _text(obj: dict[str, Any], key: str, place: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{place}: required, a non-empty string")
    return value.strip()


def _validated(resource: Any, place: str, types: tuple[str, ...]) -> dict[str, Any]:
    """A resource of one of `types`, valid against the FHIR R4 model; InvalidInput naming the field otherwise."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    if not isinstance(resource, dict) or resource.get("resourceType") not in types:
        found = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
        raise InvalidInput(f"{place}.resourceType: expected {' or '.join(types)}, got {found!r}")
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise InvalidInput(f"{place}.{where}: {error['msg']}", [{"field": f"{place}.{where}", "message": error["msg"]}]) from None
    return resource


def _entries(bundle: Any, place: str) -> list[tuple[str, Any]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidInput(f"{place}: expected a FHIR Bundle (the result of the search {place.split('.')[-1]} asked for)")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidInput(f"{place}.entry: expected a list")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            raise InvalidInput(f"{place}.entry[{i}].resource: expected a resource")
        if (entry.get("search") or {}).get("mode") == "outcome" or entry["resource"].get("resourceType") == "OperationOutcome":
            continue  # a search's notes, not results
        out.append((f"{place}.entry[{i}].resource", entry["resource"]))
    return out


def _row(
    resource: dict[str, Any], place: str, mapper: Callable[[dict[str, Any]], dict[str, Any]], patient_fhir_id: str
) -> dict[str, Any]:
    try:
        row = mapper(resource)
    except FieldError as e:
        raise InvalidInput(f"{place}.{e.field}: {e.message}") from None
    except (TypeError, AttributeError, ValueError) as e:
        raise InvalidInput(f"{place}: unreadable {resource.get('resourceType')} ({e})") from None
    subject = str(row.get("patient_ref") or "")
    if subject.split("/")[-2:] != ["Patient", patient_fhir_id]:
        raise InvalidInput(
            f"{place}.subject: refers to {subject or 'no patient'}, not Patient/{patient_fhir_id} of context.patientId"
        )
    return {**row, "fhir_id": str(resource.get("id") or "")}


def chart_for_call(*, call: HookCall, patient: m.Patient) -> Chart:
    """The chart the rules read: the EHR's prefetched resources where it sent them, Carebase's rows otherwise.
    Prefetched records that Carebase holds too (same FHIR id, same patient) cite Carebase's row."""
    sent = {key: value for key, value in call.prefetch.items() if key in PREFETCH and value is not None}
    chart = c.chart_from_database(patient=patient, skip=frozenset(SEARCHES[k][1] for k in sent if k in SEARCHES))
    if "patient" in sent:
        resource = _validated(sent["patient"], "prefetch.patient", ("Patient",))
        if resource.get("id") != call.patient_fhir_id:
            raise InvalidInput(f"prefetch.patient.id: {resource.get('id')!r} is not context.patientId {call.patient_fhir_id!r}")
        try:
            demographics = mapping.patient(resource)
        except FieldError as e:
            raise InvalidInput(f"prefetch.patient.{e.field}: {e.message}") from None
        chart.birth_date, chart.sex, chart.deceased_at = (
            demographics["birth_date"],
            demographics["sex"],
            demographics["deceased_at"],
        )
    for key in [k for k in sent if k in SEARCHES]:
        rtype, kind, mapper, build = SEARCHES[key]
        rows = [
            _row(_validated(r, place, (rtype,)), place, mapper, call.patient_fhir_id)
            for place, r in _entries(sent[key], f"prefetch.{key}")
        ]
        known = dict(
            MODELS[rtype].objects.filter(patient=patient, fhir_id__in=[r["fhir_id"] for r in rows]).values_list("fhir_id", "pk")
        )
        items: list[Any] = []
        for row in rows:
            built = build({**row, "id": known.get(row["fhir_id"])})
            items += built if isinstance(built, list) else [built]
        chart.items[kind] = items
    chart.prefetched = sorted(sent)
    if call.draft_orders is not None:
        chart.orders = _orders(call)
    return chart


def _orders(call: HookCall) -> list[Item]:
    """The selected medication orders of context.draftOrders (other resource types are not checked)."""
    drafts: dict[str, tuple[str, dict[str, Any]]] = {}
    for place, resource in _entries(call.draft_orders, "context.draftOrders"):
        rtype = resource.get("resourceType")
        if isinstance(rtype, str):
            _validated(resource, place, (rtype,))
            drafts[f"{rtype}/{resource.get('id')}"] = (place, resource)
    orders = []
    for i, selected in enumerate(call.selections):
        if selected not in drafts:
            raise InvalidInput(f"context.selections[{i}]: {selected} is not an entry of context.draftOrders")
        place, resource = drafts[selected]
        if resource["resourceType"] != "MedicationRequest":
            continue
        row = _row(resource, place, mapping.medication_request, call.patient_fhir_id)
        coded = {"system": row["code_system"], "code": row["code"], "display": row["display"]}
        orders.append(
            Item("order", **coded, time=row["authored_on"], status=row["status"], source_type="order", reference=selected)
        )
    return orders


OVERRIDE_SYSTEM = "https://carebase.example/cds/override-reason"


def card_json(*, card: Any, base_url: str) -> dict[str, Any]:
    """A card as CDS Hooks 2.0 has it; the records it rests on are in the detail (markdown links) and, as FHIR
    references, in the `org.carebase.citations` extension."""
    finding, rule = card.finding, card.finding.rule
    body: dict[str, Any] = {
        "uuid": str(card.firing.uuid),
        "summary": finding.summary,
        "indicator": rule.indicator,
        "detail": _detail(card, base_url),
        "source": {
            "label": "Carebase decision support",
            "url": base_url.rstrip("/") + reverse("cds:discovery"),
            "topic": {"system": "https://carebase.example/cds/rule", "code": rule.key, "display": rule.name},
        },
        "overrideReasons": [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": label} for code, label in CardDecision.Reason.choices
        ],
        "links": [
            {
                "label": "Open the chart in Carebase",
                "url": _url(base_url, reverse("clinic:patient_detail", args=[card.firing.patient_id])),
                "type": "absolute",
            }
        ],
        "extension": {"org.carebase.citations": card.citations, "org.carebase.rule": rule.key},
    }
    if card.knowledge and card.knowledge.get("url"):
        body["links"].append({"label": card.knowledge["label"][:200], "url": card.knowledge["url"], "type": "absolute"})
    suggestions = _suggestions(card)
    if suggestions:
        body["suggestions"], body["selectionBehavior"] = suggestions, "at-most-one"
    return body


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def citation_url(citation: dict[str, Any], patient_id: int) -> str:
    """Where a clinician opens a cited record in Carebase ('' for a record Carebase does not hold)."""
    kind, source_id = citation.get("source_type"), citation.get("source_id")
    if kind == "knowledge":
        return str(citation.get("url") or "")
    if kind == "patient":
        return reverse("clinic:patient_detail", args=[patient_id])
    if kind and source_id and kind != "order":
        return reverse("clinic:timeline_item", args=[patient_id, kind, source_id])
    return ""


def _detail(card: Any, base_url: str) -> str:
    lines = [card.finding.detail, "", "**Based on**"] if card.finding.detail else ["**Based on**"]
    for cited in card.citations:
        url = citation_url(cited, card.firing.patient_id)
        label = cited["label"].replace("[", "(").replace("]", ")")
        where = f" ({cited['reference']})" if cited.get("reference") else ""
        link = f"[{label}]({_url(base_url, url) if url.startswith('/') else url})" if url else label
        lines.append(f"- {'Knowledge: ' if cited['source_type'] == 'knowledge' else ''}{link}{where}")
    return "\n".join(lines).strip()


def _suggestions(card: Any) -> list[dict[str, Any]]:
    finding, rule = card.finding, card.finding.rule
    key = uuid.uuid5(card.firing.uuid, "suggestion")
    if finding.order is not None:
        label = f"Cancel the {finding.order.name} order"
        action = {"type": "delete", "description": label, "resourceId": [finding.order.reference]}
        return [{"label": label, "uuid": str(key), "isRecommended": True, "actions": [action]}]
    if not rule.suggestion:
        return []
    request = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": f"Patient/{card.firing.patient.fhir_id}"},
        "code": {"text": rule.suggestion},
    }
    return [
        {
            "label": rule.suggestion,
            "uuid": str(key),
            "actions": [{"type": "create", "description": rule.suggestion, "resource": request}],
        }
    ]


def decision_from_feedback(item: Any, place: str) -> tuple[str, str, str, str]:
    """(card uuid, outcome, reason, comment) of one CDS Hooks feedback entry."""
    if not isinstance(item, dict):
        raise InvalidInput(f"{place}: expected an object with card and outcome")
    card = _text(item, "card", f"{place}.card")
    outcome = item.get("outcome")
    if outcome not in ("accepted", "overridden"):
        raise InvalidInput(f"{place}.outcome: expected 'accepted' or 'overridden', got {outcome!r}")
    override = item.get("overrideReason") or {}
    if not isinstance(override, dict):
        raise InvalidInput(f"{place}.overrideReason: expected an object with reason and userComment")
    reason = (override.get("reason") or {}).get("code", "") if isinstance(override.get("reason"), dict) else ""
    if reason and reason not in CardDecision.Reason.values:
        raise InvalidInput(f"{place}.overrideReason.reason.code: {reason!r} is not one of the card's overrideReasons")
    comment = str(override.get("userComment") or "")
    return card, ("accepted" if outcome == "accepted" else "dismissed"), str(reason), comment
