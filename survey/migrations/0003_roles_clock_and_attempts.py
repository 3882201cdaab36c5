"""Portrait roles, the server-evidenced clock with arming, one sequence of questions (practice included),
and sessions bound to the browser that started them."""

import django.core.validators
from django.db import migrations, models
from django.db.models import Q

import survey.models


def fill_new_columns(apps, schema_editor):
    """Existing sessions: practice first, then the timed questions; every study its own seed and secret."""
    Question = apps.get_model("survey", "Question")
    Study = apps.get_model("survey", "Study")
    for study in Study.objects.all():
        study.seed = survey.models.new_session_seed()
        study.secret = survey.models.new_study_secret()
        study.save(update_fields=["seed", "secret"])
    session_ids = Question.objects.values_list("session_id", flat=True).distinct()
    for session_id in session_ids:
        ordered = Question.objects.filter(session_id=session_id).order_by("-is_practice", "position")
        for sequence, question in enumerate(ordered, start=1):
            question.sequence = sequence
            question.save(update_fields=["sequence"])


class Migration(migrations.Migration):

    dependencies = [("survey", "0002_coordinators_and_erasure")]

    operations = [
        migrations.AddField(
            model_name="study", name="with_practice",
            field=models.BooleanField(
                default=True, help_text="Each category opens with one timed practice question whose answer the "
                "expert is told afterwards; practice answers are never exported."),
        ),
        migrations.AddField(
            model_name="study", name="transfer_allowance_ms",
            field=models.PositiveIntegerField(
                default=1000, validators=[django.core.validators.MaxValueValidator(5000)],
                help_text="Once the server has sent a question's last portrait, the clock starts at the latest this much later."),
        ),
        migrations.AddField(
            model_name="study", name="arming_delay_ms",
            field=models.PositiveIntegerField(
                default=400, validators=[django.core.validators.MaxValueValidator(2000)],
                help_text="A question accepts answers only this long after its portraits are shown: a click meant for "
                "the question before is refused."),
        ),
        migrations.AddField(
            model_name="study", name="expected_sessions",
            field=models.PositiveIntegerField(
                default=60, validators=[django.core.validators.MinValueValidator(1)],
                help_text="How many experts you expect: the bank's portraits are divided into roles for about this many."),
        ),
        migrations.AddField(
            model_name="study", name="require_participant_id",
            field=models.BooleanField(
                default=True,
                help_text="Reusable links ask each expert for an identifier (e.g. e-mail) and refuse a second attempt "
                "with the same one. It is stored only as a keyed hash."),
        ),
        migrations.AddField(
            model_name="study", name="seed",
            field=models.BigIntegerField(default=survey.models.new_session_seed, editable=False,
                                         help_text="Draws the portraits' roles when the bank is frozen."),
        ),
        migrations.AddField(
            model_name="study", name="secret",
            field=models.CharField(default=survey.models.new_study_secret, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="study", name="bank_frozen_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True,
                help_text="When the bank's roles were drawn (at the first session); portraits added later are not shown."),
        ),
        migrations.AddField(
            model_name="portrait", name="role",
            field=models.CharField(
                blank=True, editable=False, max_length=40, choices=survey.models.PortraitRole.choices,
                help_text="The one part this portrait plays in the study, drawn when the bank was frozen; empty: never shown."),
        ),
        migrations.AddField(
            model_name="quizsession", name="participant_key",
            field=models.CharField(blank=True, editable=False, max_length=64,
                                   help_text="Keyed hash of the identifier a reusable link asked for: one attempt per person."),
        ),
        migrations.AddField(
            model_name="quizsession", name="resume_code_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="quizsession", name="ended_at",
            field=models.DateTimeField(blank=True, null=True, help_text="Ended by a coordinator before it finished."),
        ),
        migrations.AddField(
            model_name="quizsession", name="end_reason", field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddConstraint(
            model_name="quizsession",
            constraint=models.UniqueConstraint(condition=~Q(participant_key=""), fields=("study", "participant_key"),
                                               name="session_one_attempt_per_participant"),
        ),
        migrations.AddField(
            model_name="question", name="sequence",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="1-based order in which the session asks its questions, practice included."),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="question", name="transfer_allowance_ms",
            field=models.PositiveIntegerField(default=1000), preserve_default=False,
        ),
        migrations.AddField(
            model_name="question", name="arming_delay_ms",
            field=models.PositiveIntegerField(default=0), preserve_default=False,
        ),
        migrations.AddField(
            model_name="question", name="portraits_delivered_at",
            field=models.DateTimeField(blank=True, null=True,
                                       help_text="When the server had delivered every portrait of the question."),
        ),
        migrations.AddField(
            model_name="question", name="clock_rule",
            field=models.CharField(blank=True, max_length=30, help_text="Which moment started the clock (survey/clock.py)."),
        ),
        migrations.AddField(
            model_name="shownimage", name="delivered_at",
            field=models.DateTimeField(blank=True, null=True, help_text="First sent to the participant's browser."),
        ),
        migrations.AlterModelOptions(name="question", options={"ordering": ["session", "sequence"]}),
        migrations.RunPython(fill_new_columns, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="question",
            constraint=models.UniqueConstraint(fields=("session", "sequence"), name="question_unique_sequence"),
        ),
    ]
