"""What this FHIR server supports, said the two ways clients ask: the CapabilityStatement (`metadata`) and the SMART
configuration (`.well-known/smart-configuration`). Both are generated from the tables that drive search and
access (clinic.fhir.search, clinic.access), so they cannot drift from what the server does."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from clinic.access import ROLE_SCOPES
from clinic.fhir.export import PATIENT_SCOPED
from clinic.fhir.search import SEARCH_PARAMS, includes_of

FHIR_VERSION = "4.0.1"
SCOPES_SUPPORTED = sorted(
    {s for scopes in ROLE_SCOPES.values() for s in scopes.split()} | {"patient/*.read", "patient/*.write", "system/*.read"}
) + ["user/<Type>.read", "system/<Type>.read", "patient/<Type>.read"]
TOKENS = (
    "Bearer tokens (`Authorization: Bearer <token>`) are issued by an administrator: `python manage.py create_api_token "
    "USERNAME [--scopes 'system/*.read …'] [--patient FHIR_ID] [--days N]` or the admin (API tokens). Scopes are SMART "
    "on FHIR v1 scopes (patient|user|system / * or a type . read|write), narrowed by the user's role and care team."
)
BULK = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"


def capability_statement(*, base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": timezone.now().date().isoformat(),
        "publisher": "Carebase",
        "kind": "instance",
        "software": {"name": "Carebase", "version": "1"},
        "implementation": {"description": "Carebase clinical data ecosystem, FHIR R4 API", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "application/fhir+json"],
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Search results are filtered to the charts the caller may read; a search naming a "
                "patient the caller may not read answers 403. Paging: _count (default 50, at most 1000) and the "
                "Bundle's next link. Unknown parameters answer 400 unless the request says Prefer: handling=lenient.",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": TOKENS,
                },
                "resource": [*(_resource(rtype) for rtype in SEARCH_PARAMS), group_resource()],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                "operation": [{"name": "export", "definition": f"{BULK}/export"}],
            }
        ],
    }


def _resource(rtype: str) -> dict[str, Any]:
    interactions = ["read", "search-type", "update"]
    resource: dict[str, Any] = {
        "type": rtype,
        "interaction": [{"code": code} for code in interactions],
        "versioning": "no-version",
        "updateCreate": True,
        "searchInclude": includes_of(rtype),
        "searchParam": [
            {"name": p.name, "type": p.type, "documentation": p.doc + (f"; sortable (_sort={p.name})" if p.sort else "")}
            for p in SEARCH_PARAMS[rtype]
        ],
    }
    if not resource["searchInclude"]:
        del resource["searchInclude"]
    operations = []
    if rtype == "Patient":
        operations = [
            {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
            {"name": "export", "definition": f"{BULK}/patient-export"},
        ]
    if operations:
        resource["operation"] = operations
    if rtype not in PATIENT_SCOPED and rtype != "Patient":
        resource["documentation"] = "Shared by every chart: readable with a scope for the type."
    return resource


def group_resource() -> dict[str, Any]:
    """Group is not stored as FHIR: a saved cohort is one, and only its $export is offered."""
    return {
        "type": "Group",
        "documentation": "A saved cohort (search) is a Group; Group/{cohort id}/$export exports its members.",
        "operation": [{"name": "export", "definition": f"{BULK}/group-export"}],
    }


def smart_configuration(*, base_url: str) -> dict[str, Any]:
    return {
        "capabilities": ["permission-patient", "permission-user", "permission-v1"],
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": [],
        "grant_types_supported": [],
        "code_challenge_methods_supported": [],
        "token_endpoint_auth_methods_supported": [],
        "fhir_base": base_url,
        "token_issuance": TOKENS,
    }
