"""Forms of the coordinators' admin: a study's clock in seconds, and issuing invite links."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from survey.models import Study

# Form field (seconds) -> model field (milliseconds), with the limits the model sets, in seconds. The upper
# bound of the unbounded ones only keeps the value inside the database's integer.
SECONDS_FIELDS: dict[str, tuple[str, str, Decimal, Decimal]] = {
    "time_limit_real_vs_synthetic_s": (
        "time_limit_real_vs_synthetic_ms",
        "Time limit, real vs synthetic",
        Decimal(1),
        Decimal(86_400),
    ),
    "time_limit_reidentification_s": (
        "time_limit_reidentification_ms",
        "Time limit, re-identification",
        Decimal(1),
        Decimal(86_400),
    ),
    "time_limit_diagnosis_s": ("time_limit_diagnosis_ms", "Time limit, diagnosis", Decimal(1), Decimal(86_400)),
    "grace_s": ("grace_ms", "Grace", Decimal(0), Decimal(86_400)),
    "load_allowance_s": ("load_allowance_ms", "Load allowance", Decimal(0), Decimal(86_400)),
    "transfer_allowance_s": ("transfer_allowance_ms", "Transfer allowance", Decimal(0), Decimal(5)),
    "arming_delay_s": ("arming_delay_ms", "Arming delay", Decimal(0), Decimal(2)),
}
MS_FIELDS = [ms for ms, *_ in SECONDS_FIELDS.values()]


def _seconds(ms: int) -> Decimal:
    return (Decimal(ms) / 1000).normalize() + 0  # "+ 0" turns 3E+1 back into 30


def _seconds_field(model_field: str, label: str, low: Decimal, high: Decimal) -> forms.DecimalField:
    help_text = Study._meta.get_field(model_field).help_text
    return forms.DecimalField(
        label=f"{label} (seconds)",
        min_value=low,
        max_value=high,
        max_digits=9,
        decimal_places=3,
        help_text=f"{help_text} In seconds; decimals allowed (e.g. 0.4).".strip(),
        error_messages={
            "min_value": "At least %(limit_value)s seconds.",
            "max_value": "At most %(limit_value)s seconds.",
            "max_decimal_places": "At most 3 decimals: the clock counts whole milliseconds.",
            "invalid": "Enter a number of seconds, e.g. 30 or 0.4.",
        },
    )


class StudyAdminForm(forms.ModelForm):
    """A study with its clock entered in seconds and stored in milliseconds, as the model, the API and the
    export keep it."""

    time_limit_real_vs_synthetic_s = _seconds_field(*SECONDS_FIELDS["time_limit_real_vs_synthetic_s"])
    time_limit_reidentification_s = _seconds_field(*SECONDS_FIELDS["time_limit_reidentification_s"])
    time_limit_diagnosis_s = _seconds_field(*SECONDS_FIELDS["time_limit_diagnosis_s"])
    grace_s = _seconds_field(*SECONDS_FIELDS["grace_s"])
    load_allowance_s = _seconds_field(*SECONDS_FIELDS["load_allowance_s"])
    transfer_allowance_s = _seconds_field(*SECONDS_FIELDS["transfer_allowance_s"])
    arming_delay_s = _seconds_field(*SECONDS_FIELDS["arming_delay_s"])

    class Meta:
        model = Study
        exclude = MS_FIELDS  # noqa: DJ006 - every field but the milliseconds, which the seconds fields replace

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (model_field, *_) in SECONDS_FIELDS.items():
            if name in self.fields and name not in self.initial:
                self.initial[name] = _seconds(getattr(self.instance, model_field))

    def clean(self):
        cleaned = super().clean()
        for name, (model_field, *_) in SECONDS_FIELDS.items():
            if cleaned.get(name) is not None:
                setattr(self.instance, model_field, int(cleaned[name] * 1000))
        return cleaned


class IssueInvitesForm(forms.Form):
    """The admin's intermediate page for issuing invite links to the selected studies."""

    count = forms.IntegerField(label="How many links", min_value=1, max_value=1000, initial=10)
    label_prefix = forms.CharField(
        label="Label",
        max_length=180,
        required=False,
        help_text="For your own bookkeeping (e.g. \u201cWard A\u201d): each link is labelled with it and a number. "
        "Labels are never exported.",
    )
    reusable = forms.BooleanField(
        label="Reusable links",
        required=False,
        help_text="A reusable link starts a new session for each visitor (post it to a mailing list); a single-use "
        "link belongs to one expert.",
    )
    expires_at = forms.DateTimeField(
        label="Expires",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty for links that do not expire.",
    )

    def clean_expires_at(self):
        from django.utils import timezone

        value = self.cleaned_data["expires_at"]
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must lie in the future.")
        return value
