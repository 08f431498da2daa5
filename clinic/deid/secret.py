"""The key of surrogates and date shifts (settings.DEID_SECRET) and a Deidentifier for a patient of the record."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from clinic.deid.engine import Deidentifier


def deid_secret(*, salt: str = "") -> str:
    """DEID_SECRET (never SECRET_KEY: rotating the session key must not move every date), optionally salted."""
    secret = getattr(settings, "DEID_SECRET", "")
    if not secret:
        raise ImproperlyConfigured("DEID_SECRET is not set: de-identification needs its own secret")
    return f"{secret}:{salt}" if salt else secret


def deidentifier_for(*, patient: Any = None, key: str = "", secret: str | None = None) -> Deidentifier:
    """A Deidentifier keyed by the patient's FHIR id (or `key` for text that belongs to no patient), knowing the
    patient's names, MRN, identifiers, address and city and the names of the practitioners who saw them."""
    secret = secret if secret is not None else deid_secret()
    if patient is None:
        return Deidentifier(secret=secret, patient_key=key)
    from clinic import models as m

    raw = patient.raw or {}
    practitioners = list(
        m.Practitioner.objects.filter(encounter__patient=patient).exclude(name="").values_list("name", flat=True).distinct()
    )
    names = [patient.name, patient.given_name, patient.family_name, *practitioners]
    for entry in raw.get("name") or []:
        names += [*(entry.get("given") or []), entry.get("family") or "", entry.get("text") or ""]
    identifiers = [patient.mrn, patient.fhir_id] + [i.get("value") or "" for i in raw.get("identifier") or []]
    identifiers += [t.get("value") or "" for t in raw.get("telecom") or []]
    addresses: list[str] = []
    places: list[str] = [patient.city]
    for address in raw.get("address") or []:
        addresses += address.get("line") or []
        places.append(address.get("city") or "")
        identifiers.append(address.get("postalCode") or "")
    return Deidentifier(
        secret=secret,
        patient_key=patient.fhir_id,
        names=[n for n in names if n],
        identifiers=[i for i in identifiers if i],
        places=[p for p in places if p],
        addresses=[a for a in addresses if a],
    )
