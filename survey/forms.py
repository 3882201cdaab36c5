"""Forms of the participant flow."""

from django import forms

from survey.models import Profession


class ConsentForm(forms.Form):
    agree = forms.BooleanField(required=True, label="I have read the above and agree to take part.")


class ProfileForm(forms.Form):
    profession = forms.ChoiceField(choices=[("", "Choose…"), *Profession.choices])
    years_experience = forms.IntegerField(min_value=0, max_value=70, label="Years of experience with rare disorders")


class ParticipantIdForm(forms.Form):
    """Asked on a reusable link whose study allows one attempt per person."""

    participant_id = forms.CharField(
        max_length=200,
        label="Your participant identifier",
        help_text="The identifier the study's coordinator gave you, or your e-mail address. It is stored only as "
        "a keyed hash, so that each person takes the study once.",
    )


class ResumeForm(forms.Form):
    code = forms.CharField(
        max_length=20,
        label="Resume code",
        help_text="The code shown when you started, e.g. 1A2B-3C4D-5E6F.",
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        return [single(item, initial) for item in data] if isinstance(data, list | tuple) else [single(data, initial)]


class PortraitUploadForm(forms.Form):
    """A coordinator's upload: the manifest with a ZIP of the images, or the images picked one by one."""

    manifest = forms.FileField(
        help_text="CSV with the columns filename, disorder, kind and, for real portraits, used_in_training "
        "(1 if the generator was trained on it); optionally source, checkpoint_id, seed, truncation.",
    )
    archive = forms.FileField(required=False, label="ZIP of the images", help_text="Folders inside it are ignored.")
    images = MultipleFileField(required=False, label="Or the images themselves")

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("archive") and not [f for f in cleaned.get("images") or [] if f]:
            raise forms.ValidationError("Add the images: a ZIP archive, or the image files themselves.")
        return cleaned

    def uploaded_files(self) -> list[tuple[str, bytes]]:
        """(name, bytes) of every image, from the archive and the picked files."""
        from survey.image_bank import files_in_zip

        files = [(f.name, f.read()) for f in self.cleaned_data.get("images") or [] if f]
        archive = self.cleaned_data.get("archive")
        if archive:
            files += files_in_zip(archive.read(), name=archive.name)
        return files


class PoolFillForm(forms.Form):
    """A coordinator's pool fill: which checkpoint (only those the server offers), how many portraits per
    disorder, the truncation, and which quality gates decide what enters the bank."""

    checkpoint = forms.ChoiceField(
        help_text="The bundled demo model, and any model placed in the server's "
        "checkpoint folder (SURVEY_CHECKPOINT_DIR)."
    )
    per_disorder = forms.IntegerField(
        min_value=1,
        max_value=2000,
        initial=50,
        label="Portraits per disorder",
        help_text="Synthetic portraits to add for each of the study's disorders; each "
        "disorder also gets one latent average.",
    )
    truncation = forms.FloatField(
        min_value=0.05,
        max_value=1.0,
        initial=0.7,
        label="Truncation (psi)",
        help_text="Closer to 0: more typical faces of the disorder; 1: the model's full range.",
    )
    gates = forms.MultipleChoiceField(
        choices=[
            ("face", "Face check: the portrait shows a face"),
            ("disorder", "Disorder check: a classifier recognises the disorder (in its top 5)"),
        ],
        initial=["face", "disorder"],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Quality gates",
        help_text="Portraits failing a ticked gate are skipped and counted in the report.",
    )

    def __init__(self, *args, checkpoints: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.paths = {path.name: path for path in checkpoints}
        self.fields["checkpoint"].choices = [(name, name) for name in self.paths]

    def skipped_gates(self) -> list[str]:
        """The privacy gate needs the training portraits, which only `manage.py fill_pool --training-data`
        can name: from the browser it is off, and the report says so."""
        return sorted({"face", "disorder"} - set(self.cleaned_data["gates"]))
