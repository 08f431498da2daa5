"""The decision support panel of the patient page: cards with the records they cite, accepted or dismissed there."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cds import hooks, selectors, services
from cds.models import CardDecision, RuleFiring
from clinic.access import request_actor
from clinic.errors import InvalidInput
from clinic.views.chart import chart_or_403

PAGE = "cds/patient_cards.html"


def patient_cards(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The panel (htmx) or a page of its own. `?since=<version>` from the panel's poll: 204 while nothing the cards
    rest on has changed, so the panel refreshes when records, rules or decisions change and costs little otherwise."""
    patient = chart_or_403(request, patient_id)
    version = selectors.chart_version(patient_id=patient.pk)
    htmx = bool(getattr(request, "htmx", False))
    if htmx and request.GET.get("since") == version:
        return HttpResponse(status=204)
    cards = services.patient_cards(actor=request_actor(request), patient=patient)
    context = {
        "patient": patient,
        "cards": [card_view(c.firing, c.finding.detail, c.decision) for c in cards],
        "version": version,
    }
    return render(
        request, f"{PAGE}#panel" if htmx else PAGE, context | {"reasons": CardDecision.Reason.choices, "in_chart": htmx}
    )


@require_POST
def card_decision(request: HttpRequest, card_uuid: Any) -> HttpResponse:
    """Accept or dismiss (with a reason) one card; the card comes back decided, or with the problem (400)."""
    post = request.POST
    try:
        decision = services.card_decide(
            actor=request_actor(request), card_uuid=card_uuid, outcome=post.get("outcome", ""),
            reason=post.get("reason", ""), comment=post.get("comment", ""),
        )  # fmt: skip
    except RuleFiring.DoesNotExist:
        raise Http404(f"no card {card_uuid}") from None
    except InvalidInput as e:
        firing = selectors.firing_get(card_uuid=card_uuid)
        context = {"c": card_view(firing, "", None), "error": str(e), "reasons": CardDecision.Reason.choices, "in_chart": True}
        return render(request, f"{PAGE}#card", context, status=400)
    if not getattr(request, "htmx", False):
        return redirect("clinic:patient_detail", decision.patient_id)
    context = {"c": card_view(decision.firing, "", decision), "in_chart": True}
    return render(request, f"{PAGE}#card", context)


def card_view(firing: RuleFiring, detail: str, decision: CardDecision | None) -> dict[str, Any]:
    """What the card template shows: the firing as recorded, its citations as links into the chart."""
    citations = []
    for cited in firing.citations:
        url = hooks.citation_url(cited, firing.patient_id)
        citations.append({**cited, "url": url, "internal": url.startswith("/")})
    return {
        "uuid": firing.uuid,
        "summary": firing.summary,
        "indicator": firing.indicator,
        "rule": firing.rule,
        "detail": detail,
        "citations": citations,
        "decision": decision,
    }
