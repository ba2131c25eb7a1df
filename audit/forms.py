"""The filters of the audit trail pages (the list and its export take the same ones)."""

import datetime

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AuditEvent
from audit.registry import target_types


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class EventFilterForm(forms.Form):
    actor = forms.CharField(
        required=False, max_length=150, help_text="Username, exactly (blank: anyone)."
    )
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *AuditEvent.Action.choices]
    )
    target_type = forms.ChoiceField(required=False, label="Record type")
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *AuditEvent.Outcome.choices]
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Inclusive.",
    )
    q = forms.CharField(
        required=False, max_length=200, label="Search", help_text="In the record's name or path."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_type"].choices = [
            ("", "Any record"),
            *((label, label) for label in target_types()),
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "The end of the range is before its start.")
        return cleaned

    def filters(self) -> dict[str, str]:
        """The valid filters that are set, as query-string values (for links and the log)."""
        if not hasattr(self, "cleaned_data"):
            return {}
        return {
            name: value.isoformat() if isinstance(value, datetime.date) else value
            for name, value in self.cleaned_data.items()
            if value not in ("", None)
        }

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        """`events` narrowed by the valid filters (call is_valid() first)."""
        data = getattr(self, "cleaned_data", {})
        if data.get("actor"):
            events = events.filter(actor_username=data["actor"])
        for name in ("action", "target_type", "outcome"):
            if data.get(name):
                events = events.filter(**{name: data[name]})
        if data.get("since"):
            events = events.filter(occurred_at__gte=_start_of(data["since"]))
        if data.get("until"):
            next_day = data["until"] + datetime.timedelta(days=1)
            events = events.filter(occurred_at__lt=_start_of(next_day))
        if data.get("q"):
            events = events.filter(
                Q(target_label__icontains=data["q"]) | Q(path__icontains=data["q"])
            )
        return events
