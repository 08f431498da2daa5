"""Query-string forms of the clinician pages: they turn bad parameters into messages that name the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from clinic.models import TimelineEvent

ISO_DATE = "Enter a date as YYYY-MM-DD."


class TimelineFilterForm(forms.Form):
    kind = forms.MultipleChoiceField(choices=TimelineEvent.Kind.choices, required=False)
    date_from = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": ISO_DATE})
    date_to = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": ISO_DATE})
    cursor = forms.CharField(required=False, max_length=200)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: dt.date | None = data.get("date_from")
        end: dt.date | None = data.get("date_to")
        if start and end and start > end:
            self.add_error("date_from", f"{start} is after date_to {end}; swap them or clear one.")
        return data

    def error_message(self) -> str:
        """One line per bad parameter, e.g. `date_from: Enter a date as YYYY-MM-DD.`"""
        return "\n".join(f"{field}: {' '.join(str(e) for e in errors)}" for field, errors in self.errors.items())


class AuditFilterForm(forms.Form):
    """The steward's audit review filters (all optional)."""

    patient = forms.IntegerField(required=False, min_value=1, help_text="patient id")
    user = forms.CharField(required=False, max_length=150, label="username")
    action = forms.CharField(required=False, max_length=40, help_text="e.g. view.patient, break_glass, search")
    channel = forms.ChoiceField(
        required=False, choices=[("", "any channel"), *((c, c) for c in ("web", "api", "admin", "cli", "worker"))]
    )
    date_from = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": ISO_DATE})
    date_to = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": ISO_DATE})

    def criteria(self) -> dict[str, Any]:
        """Keyword arguments of selectors.audit_events."""
        d = self.cleaned_data
        since = dt.datetime.combine(d["date_from"], dt.time.min, tzinfo=dt.UTC) if d.get("date_from") else None
        until = dt.datetime.combine(d["date_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC) if d.get("date_to") else None
        return {
            "patient": d.get("patient"),
            "user": d.get("user") or "",
            "action": d.get("action") or "",
            "channel": d.get("channel") or "",
            "since": since,
            "until": until,
        }


class BreakGlassReviewForm(forms.Form):
    review = forms.ChoiceField(choices=[("reviewed", "reviewed: justified"), ("follow_up", "follow-up needed")])
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
