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
