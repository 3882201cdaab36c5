"""manage.py build_demo: a demo study anyone can take, from phantoms and the bundled generator."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from PIL import Image, JpegImagePlugin

from survey import image_bank, imaging, services
from survey.management.commands._leakage import audit_study
from survey.management.commands.build_demo import checkpoint_resolution
from survey.models import Invite, Portrait, Study

BUNDLED = "fixtures/models/generator-demo64.safetensors"


def build(*args: str) -> str:
    out = io.StringIO()
    call_command("build_demo", *args, "--synthetic-per-disorder", "11", stdout=out)
    return out.getvalue()


def take_a_session(study: Study) -> None:
    """Practice and timed questions, each answered a second after it is shown (the demo arms its questions)."""
    session = services.session_start(invite=Invite.objects.filter(study=study).first())
    services.session_profile_submit(session=session, profession="other", years_experience=1)
    services.session_quiz_begin(session=session)
    now = timezone.now()
    while (question := services.session_current_question(session=session, now=now)) is not None:
        services.question_clock_start(session=session, question_id=question.pk, now=now)
        now += timedelta(seconds=1)
        services.answer_submit(session=session, question_id=question.pk, choice=question.correct_choice, now=now)


@pytest.mark.slow
def test_the_renderer_only_demo_is_complete_and_leaks_nothing(db, image_bank_root, monkeypatch):
    """Without the generator (or without torch) the demo is whole, and its real phantoms are still rendered
    at the bundled generator's resolution, read from the checkpoint's header without torch."""
    entered = spy_on_the_pipeline(monkeypatch)
    output = build("--renderer-only")
    assert {size for size, *_ in entered} == {(checkpoint_resolution(Path(BUNDLED)),) * 2}
    study = Study.objects.get(slug="demo")
    assert output.count("  pretend expert ") == 8 and "user: coordinator  password: " in output
    assert not Invite.objects.filter(study=study, reusable=True).exists()  # one link per person, single-use
    assert set(Portrait.objects.filter(study=study, kind="synthetic").values_list("checkpoint_id", flat=True)) == {
        "phantom-renderer"
    }  # provenance says where the pool came from
    take_a_session(study)
    assert audit_study(study).clean


def spy_on_the_pipeline(monkeypatch) -> list[tuple[tuple[int, int], str, int, int]]:
    """Every image that enters the bank's one pipeline: its size and mode, and the size and quality asked for.

    Imports (the real phantoms) reach `normalise_image` through `normalise_bytes`, generated portraits through
    `portrait_add`; both names are watched, so a kind that skipped the pipeline would be missing from the list.
    """
    entered = []
    normalise = imaging.normalise_image

    def watched(image, *, size: int, quality: int):
        entered.append((image.size, image.mode, size, quality))
        return normalise(image, size=size, quality=quality)

    monkeypatch.setattr(imaging, "normalise_image", watched)
    monkeypatch.setattr(image_bank, "normalise_image", watched)
    return entered


def encoding_of(portrait: Portrait) -> tuple:
    """What a file says about how it was made: size, mode, format, chroma subsampling, quantisation tables
    (the JPEG quality) and metadata keys."""
    with Image.open(imaging.stored_path(settings.IMAGE_BANK_ROOT, portrait.content_hash)) as image:
        tables = tuple(tuple(table) for _, table in sorted(image.quantization.items()))
        return (
            image.size,
            image.mode,
            image.format,
            JpegImagePlugin.get_sampling(image),
            tables,
            tuple(sorted(image.info)),
        )


@pytest.mark.slow
def test_the_demo_draws_its_pool_from_the_bundled_generator_at_the_real_portraits_resolution_and_path(
    db, image_bank_root, monkeypatch
):
    """The demo's synthetic portraits and latent averages come from the bundled generator, and a session can
    be taken. The kind must not show in sharpness, size or compression: the real phantoms are rendered at
    the generator's resolution (read from its checkpoint) and every portrait, of either kind, is upscaled
    and encoded by the same call with the same settings."""
    api = pytest.importorskip("generator.api")
    resolution = api.load_checkpoint(BUNDLED, device="cpu").config.resolution
    assert checkpoint_resolution(Path(BUNDLED)) == resolution  # the torch-free header read agrees
    entered = spy_on_the_pipeline(monkeypatch)
    output = build()
    study = Study.objects.get(slug="demo")
    portraits = list(Portrait.objects.filter(study=study))
    assert len(entered) == len(portraits)  # none stored without passing through the pipeline
    assert set(entered) == {
        ((resolution, resolution), "RGB", settings.SURVEY_IMAGE_SIZE, settings.SURVEY_IMAGE_QUALITY)
    }
    assert f"real phantoms rendered at {resolution} px, the bundled generator's portraits at {resolution} px" in output
    encodings = {kind: {encoding_of(p) for p in portraits if p.kind == kind} for kind in ("real", "synthetic")}
    assert len(encodings["real"]) == 1 and encodings["real"] == encodings["synthetic"]

    generated = [p for p in portraits if p.kind in ("synthetic", "latent_average")]
    assert len(generated) == 8 * 11 + 8
    checkpoints = {p.checkpoint_id for p in generated}
    assert len(checkpoints) == 1 and "phantom" not in checkpoints.pop()  # provenance: the bundled generator
    take_a_session(study)


@pytest.mark.slow
def test_rebuilding_the_demo_replaces_it_even_after_sessions(db, image_bank_root):
    build("--renderer-only")
    take_a_session(Study.objects.get(slug="demo"))
    build("--renderer-only")
    assert Study.objects.filter(slug="demo").count() == 1
    assert not Study.objects.get(slug="demo").sessions.exists()


def test_the_demo_consent_breaks_lines_only_between_paragraphs():
    """The consent page keeps the text's line breaks, so a wrapped source line would break a sentence."""
    from survey.management.commands.build_demo import CONSENT

    paragraphs = CONSENT.split("\n\n")
    assert len(paragraphs) == 2
    assert all("\n" not in paragraph for paragraph in paragraphs)
