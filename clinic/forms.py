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
