"""Forms of the participant flow."""
from django import forms


class ConsentForm(forms.Form):
    agree = forms.BooleanField(required=True, label="I have read the above and agree to take part.")


class ProfileForm(forms.Form):
    profession = forms.ChoiceField(
        choices=[
            ("", "Choose…"),
            ("clinical_geneticist", "Clinical geneticist / dysmorphologist"),
            ("genetic_counsellor", "Genetic counsellor"),
            ("paediatrician", "Paediatrician"),
            ("resident", "Resident / trainee in genetics"),
            ("researcher", "Researcher"),
            ("other", "Other"),
        ]
    )
    years_experience = forms.IntegerField(min_value=0, max_value=70, label="Years of experience with rare disorders")


class ParticipantIdForm(forms.Form):
    """Asked on a reusable link whose study allows one attempt per person."""

    participant_id = forms.CharField(
        max_length=200, label="Your participant identifier",
        help_text="The identifier the study's coordinator gave you, or your e-mail address. It is stored only as "
        "a keyed hash, so that each person takes the study once.",
    )


class ResumeForm(forms.Form):
    code = forms.CharField(
        max_length=20, label="Resume code",
        help_text="The code shown when you started, e.g. 1A2B-3C4D-5E6F.",
    )
