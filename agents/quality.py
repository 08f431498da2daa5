"""Reads for the steward's quality page: per ISO week, per backend and model, and per decision support rule.

Only counts and rates leave here, never a patient: the page is for stewards, who read no chart.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from agents.evaluation import run_comparison
from agents.models import Draft, EvaluationRun, Feedback
from cds.models import CardDecision, Rule, RuleFiring

NEGATIVE = (Feedback.Rating.WRONG, Feedback.Rating.UNSUPPORTED)


def iso_week(moment: dt.datetime) -> str:
    year, week, _ = timezone.localtime(moment).isocalendar()
    return f"{year}-W{week:02d}"


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class ModelWeek:
    """The assistant and drafting in one week, for one backend and model."""

    week: str
    backend: str
    model: str
    drafts: int = 0
    sentences: int = 0
    unsupported: int = 0
    answers: int = 0
    feedback: int = 0
    negative: int = 0
    signed: int = 0
    sections: int = 0
    words_changed: int = 0
    words_generated: int = 0

    @property
    def unsupported_rate(self) -> float | None:
        return _rate(self.unsupported, self.sentences)

    @property
    def negative_rate(self) -> float | None:
        return _rate(self.negative, self.feedback)

    @property
    def edit_distance(self) -> float | None:
        """Words changed per section of a signed draft."""
        return _rate(self.words_changed, self.sections)

    @property
    def edit_share(self) -> float | None:
        return _rate(self.words_changed, self.words_generated)


@dataclass
class RuleWeek:
    """A decision support rule in one week: cards shown, and what clinicians decided."""

    week: str
    rule: str
    name: str
    shown: int = 0  # distinct findings (patient and records) shown
    firings: int = 0
    accepted: int = 0
    dismissed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def acceptance(self) -> float | None:
        return _rate(self.accepted, self.accepted + self.dismissed)

    @property
    def reasons_by_count(self) -> list[tuple[str, int]]:
        return self.reasons.most_common()  # a template would read reasons.most_common as the key "most_common"


def model_weeks(*, since: dt.datetime) -> list[ModelWeek]:
    rows: dict[tuple[str, str, str], ModelWeek] = {}

    def row(moment: dt.datetime, backend: str, model: str) -> ModelWeek:
        key = (iso_week(moment), backend or "extractive", model or "")
        return rows.setdefault(key, ModelWeek(*key))

    for draft in (
        Draft.objects.filter(created_at__gte=since).exclude(generated=[]).only("created_at", "backend", "model_name", "generated")
    ):
        r = row(draft.created_at, draft.backend, draft.model_name)
        sentences = [s for section in draft.generated for s in section.get("sentences", [])]
        r.drafts, r.sentences = r.drafts + 1, r.sentences + len(sentences)
        r.unsupported += sum(1 for s in sentences if not s.get("supported", True))
    for draft in (
        Draft.objects.filter(signed_at__gte=since)
        .select_related("note")
        .only("signed_at", "backend", "model_name", "note__provenance")
    ):
        edits = (draft.note.provenance if draft.note else {}).get("edits") or {}
        r = row(draft.signed_at, draft.backend, draft.model_name)  # type: ignore[arg-type]
        r.signed += 1
        r.sections += len(edits.get("sections", []))
        r.words_changed += edits.get("distance", 0)
        r.words_generated += edits.get("generated_words", 0)
    for given in Feedback.objects.filter(at__gte=since).only("at", "backend", "model_name", "rating", "exchange_id"):
        r = row(given.at, given.backend, given.model_name)
        r.feedback += 1
        r.negative += given.rating in NEGATIVE
    return sorted(rows.values(), key=lambda r: (r.week, r.backend, r.model), reverse=True)


def rule_weeks(*, since: dt.datetime) -> list[RuleWeek]:
    names = dict(Rule.objects.values_list("key", "name"))
    rows: dict[tuple[str, str], RuleWeek] = {}
    shown: dict[tuple[str, str], set[tuple[int, str]]] = defaultdict(set)

    def row(moment: dt.datetime, key: str) -> RuleWeek:
        week = iso_week(moment)
        return rows.setdefault((week, key), RuleWeek(week, key, names.get(key, key)))

    for fired_at, key, patient, fingerprint in RuleFiring.objects.filter(fired_at__gte=since).values_list(
        "fired_at", "rule__key", "patient_id", "fingerprint"
    ):
        r = row(fired_at, key)
        r.firings += 1
        shown[(r.week, key)].add((patient, fingerprint))
    for (week, key), findings in shown.items():
        rows[(week, key)].shown = len(findings)
    for at, key, outcome, reason in CardDecision.objects.filter(at__gte=since).values_list(
        "at", "rule__key", "outcome", "reason"
    ):
        r = row(at, key)
        if outcome == CardDecision.Outcome.ACCEPTED:
            r.accepted += 1
        else:
            r.dismissed += 1
            r.reasons[CardDecision.Reason(reason).label if reason in CardDecision.Reason.values else reason or "none"] += 1
    return sorted(rows.values(), key=lambda r: (r.week, r.rule), reverse=True)


def evaluation_runs(*, limit: int = 20, base_id: int | None = None) -> tuple[list[dict[str, Any]], EvaluationRun | None]:
    """The latest runs, each compared with `base_id` (default: the run before it)."""
    runs = list(EvaluationRun.objects.order_by("-started_at", "-id")[:limit])
    base = EvaluationRun.objects.filter(pk=base_id).first() if base_id else None
    out = []
    for i, run in enumerate(runs):
        against = base or (runs[i + 1] if i + 1 < len(runs) else None)
        compared = run_comparison(run=run, base=against) if against is not None and against.pk != run.pk else None
        out.append({"run": run, "base": against if compared else None, "comparison": compared})
    return out, base
