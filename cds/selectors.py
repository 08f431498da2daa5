"""Reads of decision support: live rules, findings on a chart (nothing recorded), decisions, a chart's version."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from django.apps import apps
from django.db.models import Count, Max, Q, QuerySet

from cds import engine
from cds import parameters as p
from cds.chart import Chart
from cds.models import CardDecision, Rule, RuleFiring
from clinic import models as m
from clinic.dates import years_before

logger = logging.getLogger(__name__)


def rules_live(*, hook: str = "patient-view") -> list[Rule]:
    hook = "patient-view" if hook == "assistant" else hook
    return [rule for rule in Rule.objects.filter(enabled=True).order_by("key") if hook in rule.hooks]


def findings_for(
    *, chart: Chart, as_of: dt.datetime, hook: str = "patient-view", rules: list[Rule] | None = None
) -> list[engine.Finding]:
    """What the live rules (or `rules`) find in a chart, critical first. A rule that fails (parameters edited outside
    the admin that no longer parse, say) is skipped and logged: never a failed page or a missing set of cards."""
    findings = []
    for rule in rules if rules is not None else rules_live(hook=hook):
        try:
            findings += engine.evaluate(
                rule=rule, chart=chart, as_of=as_of, hook="order-select" if hook == "order-select" else "patient-view"
            )
        except Exception:  # one broken rule must not take every other card down with it
            logger.exception("rule %s could not be evaluated; skipped", rule.key)
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (order.get(f.rule.indicator, 3), f.rule.name))


def knowledge_passage(*, rule: Rule) -> dict[str, Any] | None:
    """The knowledge passage a rule cites (when the corpus holds it), else the guideline it names, as a citation.

    Read through the app registry: decision support depends on clinic alone, and works without the search app."""
    if rule.knowledge_doc_id and apps.is_installed("search"):
        document = apps.get_model("search", "KnowledgeDocument").objects.filter(doc_id=rule.knowledge_doc_id).first()
        if document is not None:
            label = f"{document.title} ({document.source})" if document.source else document.title
            return {
                "source_type": "knowledge",
                "source_id": None,
                "doc_id": document.doc_id,
                "label": label[:300],
                "url": document.url,
                "reference": "",
            }
    if rule.reference:
        return {
            "source_type": "knowledge",
            "source_id": None,
            "doc_id": rule.knowledge_doc_id,
            "label": rule.reference,
            "url": rule.reference_url,
            "reference": "",
        }
    return None


def decisions_latest(*, patient_id: int, fingerprints: list[str]) -> dict[str, CardDecision]:
    """The last decision about each finding (by fingerprint) of this patient."""
    rows = (
        CardDecision.objects.filter(patient_id=patient_id, fingerprint__in=fingerprints)
        .select_related("user")
        .order_by("at", "id")
    )
    return {d.fingerprint: d for d in rows}


def firing_get(*, card_uuid: Any) -> RuleFiring:
    return RuleFiring.objects.select_related("rule", "patient").get(uuid=card_uuid)


def chart_version(*, patient_id: int) -> str:
    """Changes when anything the cards rest on changes: records (new, or a status updated), rules, decisions."""
    parts: list[Any] = list(
        m.TimelineEvent.objects.filter(patient_id=patient_id).aggregate(n=Count("id"), last=Max("id")).values()
    )
    for model in (m.Condition, m.MedicationRequest, m.AllergyIntolerance, m.Immunization, m.Procedure):
        parts.append(model._default_manager.filter(patient_id=patient_id).aggregate(last=Max("updated_at"))["last"])
    parts.append(m.GenomicVariant.objects.filter(patient_id=patient_id).count())
    parts.append(Rule.objects.aggregate(last=Max("updated_at"))["last"])
    parts.append(CardDecision.objects.filter(patient_id=patient_id).aggregate(last=Max("id"))["last"])
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def _code_filter(codes: p.CodeSet) -> Q:
    """A superset of what CodeSet.matches accepts, in SQL: narrows the patients a trial reads."""
    match = Q(pk__in=[])
    for code in codes.codes:
        code = code.strip().rpartition("|")[2]
        match |= Q(code__startswith=code[:-1]) if code.endswith("*") else Q(code=code)
    for word in codes.synonyms:
        if word.strip():
            match |= Q(display__icontains=word.strip())
    return match


def trial_candidates(*, rule: Rule, as_of: dt.datetime) -> QuerySet[m.Patient]:
    """The living patients a rule could fire for (by condition, allergy, variant gene, age, sex)."""
    params = p.parse(rule.kind, rule.parameters)
    patients = m.Patient.objects.filter(Q(deceased_at=None) | Q(deceased_at__gt=as_of))
    condition = getattr(params, "condition", None)
    if condition is not None:
        patients = patients.filter(pk__in=m.Condition.objects.filter(_code_filter(condition)).values("patient_id"))
    if rule.kind == Rule.Kind.ALLERGY_MEDICATION:
        patients = patients.filter(pk__in=m.AllergyIntolerance.objects.values("patient_id"))
    if rule.kind == Rule.Kind.VARIANT_SCREENING:
        genes = Q(pk__in=[])
        for gene in params.genes:  # type: ignore[attr-defined]
            genes |= Q(gene__icontains=gene.strip())
        patients = patients.filter(pk__in=m.GenomicVariant.objects.filter(genes).values("patient_id"))
    if params.min_age is not None:
        patients = patients.filter(birth_date__lte=years_before(day=as_of.date(), years=int(params.min_age)))
    if params.sex:
        patients = patients.filter(sex__iexact=params.sex)
    return patients.order_by("pk")
