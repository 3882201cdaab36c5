"""manage.py build_demo: a complete demo study of phantom portraits, a coordinator login and an invite.

No real patient appears anywhere: real-kind portraits are the phantom renderer's. Synthetic portraits and
latent averages come from the bundled generator checkpoint when it and torch are present; otherwise from
the renderer, and their provenance says so.
"""

import csv
import json
import secrets
import struct
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse
from PIL import Image

import phantoms
from generator.bundled import model_path
from survey.image_bank import bank_import, portrait_add
from survey.management.commands._leakage import study_pixel_realism
from survey.models import Disorder, Invite, PortraitKind, QuizSession, Study

BUNDLED_CHECKPOINT = model_path("generator-demo64.safetensors")
RENDERER_PROVENANCE = "phantom-renderer"
# The resolution the real phantoms are rendered at when there is no checkpoint to read it from.
FALLBACK_RESOLUTION = 64
# Untruncated: the generator's own distribution. Truncation towards the mean w (psi < 1) makes the synthetic
# faces smoother and more alike than the phantoms they were trained on, which a viewer can see; psi > 1 would
# draw from beyond what the generator learned.
DEMO_TRUNCATION = 1.0
# One line per paragraph: the consent page keeps the coordinator's line breaks as they were typed.
CONSENT = (
    "This is a demonstration of the survey platform. Every portrait in it is a computer-drawn phantom of a "
    "fictional disorder; no real person is shown.\n\n"
    "You will see 30 timed questions in three categories. Your answers are stored under a pseudonym."
)
# The page keeps the study's line breaks: one paragraph per line.
INSTRUCTIONS = (
    "This demo shows phantom portraits that the platform draws itself: no real person appears. "
    "Take it as an expert would, and see in the admin what it records."
)


def checkpoint_resolution(path: Path) -> int:
    """The image size a generator checkpoint draws, read from its safetensors header without torch.

    A safetensors file starts with the header's length (8 bytes, little-endian) and the header as JSON; the
    checkpoint's own metadata (`generator/checkpoint.py`) is a JSON string under `__metadata__`.
    """
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    return int(json.loads(header["__metadata__"]["gestalt"])["config"]["resolution"])


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class Command(BaseCommand):
    help = (
        "Build (or rebuild) the demo study with phantom portraits; print one single-use link per pretend expert "
        "and the admin login."
    )

    def add_arguments(self, parser):
        parser.add_argument("--real-per-disorder", type=int, default=12)
        parser.add_argument(
            "--real-size",
            type=int,
            default=None,
            help="Pixels of the rendered 'real' phantoms (default: the bundled generator's resolution, read from "
            "its checkpoint, so that real and synthetic portraits enter the image bank's one pipeline at the "
            "same size and are upscaled and encoded alike; the generator was trained on phantoms rendered "
            "exactly so).",
        )
        parser.add_argument(
            "--truncation",
            type=float,
            default=DEMO_TRUNCATION,
            help="Truncation psi of the synthetic portraits (default 1: untruncated).",
        )
        parser.add_argument("--synthetic-per-disorder", type=int, default=12)
        parser.add_argument("--renderer-only", action="store_true", help="Do not use the generator checkpoint.")
        parser.add_argument("--experts", type=int, default=8, help="Single-use links to print, one per pretend expert.")
        parser.add_argument("--slug", default="demo")

    def handle(
        self,
        *args,
        real_per_disorder: int,
        real_size: int | None,
        truncation: float,
        synthetic_per_disorder: int,
        renderer_only: bool,
        slug: str,
        experts: int,
        **options,
    ):
        generator_size = checkpoint_resolution(BUNDLED_CHECKPOINT) if BUNDLED_CHECKPOINT.is_file() else None
        real_size = real_size or generator_size or FALLBACK_RESOLUTION
        study = self._study(slug)
        with tempfile.TemporaryDirectory() as folder:
            self._import_real(study, Path(folder), real_per_disorder, real_size)
        if not renderer_only and generator_size is not None and _torch_available():
            call_command(
                "fill_pool",
                study.slug,
                checkpoint=BUNDLED_CHECKPOINT,
                per_disorder=synthetic_per_disorder,
                truncation=truncation,
                stdout=self.stdout,
            )
            synthetic = f"the bundled generator's portraits at {generator_size} px (truncation psi {truncation:g})"
        else:
            self.stdout.write(
                "Generator checkpoint or torch not available: drawing the synthetic pool with the renderer."
            )
            self._renderer_pool(study, synthetic_per_disorder, real_size)
            synthetic = f"the renderer's portraits at {real_size} px"
        self.stdout.write(
            f"Resolution: real phantoms rendered at {real_size} px, {synthetic}; every portrait "
            f"upscaled to {settings.SURVEY_IMAGE_SIZE} px and re-encoded by the image bank's one "
            "pipeline."
        )
        realism = study_pixel_realism(study, permutations=0)
        if realism is not None:
            self.stdout.write(
                f"Pixel realism (manage.py audit_leakage {study.slug} for the details): {realism['summary']}"
            )
        self._announce(study, experts)

    @transaction.atomic
    def _study(self, slug: str) -> Study:
        # A rebuilt demo starts empty: its earlier sessions go first (sessions protect their study).
        QuizSession.objects.filter(study__slug=slug).delete()
        Study.objects.filter(slug=slug).delete()
        disorders = [
            Disorder.objects.update_or_create(code=d.code, defaults={"name": d.name, "description": d.features})[0]
            for d in phantoms.DISORDERS
        ]
        study = Study.objects.create(
            slug=slug,
            title="Phantom portrait study (demo)",
            consent_text=CONSENT,
            instructions=INSTRUCTIONS,
            show_feedback=True,
        )
        study.disorders.set(disorders)
        return study

    def _import_real(self, study: Study, folder: Path, per_disorder: int, size: int) -> None:
        manifest = phantoms.write_dataset(folder, per_class=per_disorder, size=size)
        codes = {d.code for d in phantoms.DISORDERS}
        with manifest.open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row["disorder"] in codes]
        study_manifest = folder / "study-manifest.csv"
        with study_manifest.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        portraits = bank_import(study=study, folder=folder, manifest=study_manifest)
        self.stdout.write(f"Imported {len(portraits)} phantom 'real' portraits through import_images' pipeline.")

    def _renderer_pool(self, study: Study, per_disorder: int, size: int) -> None:
        for disorder in phantoms.DISORDERS:
            # Individuals far from the real ones, so no 'synthetic' portrait repeats a 'real' person.
            for individual in range(100_000, 100_000 + per_disorder):
                portrait_add(
                    study=study,
                    image=phantoms.render_portrait(disorder.code, individual, size),
                    kind=PortraitKind.SYNTHETIC,
                    disorder_code=disorder.code,
                    checkpoint_id=RENDERER_PROVENANCE,
                    seed=individual,
                )
            renders = [
                np.asarray(phantoms.render_portrait(disorder.code, i, size), dtype=np.float64)
                for i in range(200_000, 200_050)
            ]
            average = Image.fromarray(np.mean(renders, axis=0).round().astype(np.uint8))
            portrait_add(
                study=study,
                image=average,
                kind=PortraitKind.LATENT_AVERAGE,
                disorder_code=disorder.code,
                checkpoint_id=f"{RENDERER_PROVENANCE}:pixel-average",
            )

    def _announce(self, study: Study, experts: int) -> None:
        user_model = get_user_model()
        password = secrets.token_urlsafe(9)
        user, _ = user_model.objects.get_or_create(
            username="coordinator", defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        # One single-use link per person, as a real study issues them: a link is its holder's, and a second
        # browser opening it gets "already in use", not the first one's session.
        invites = Invite.objects.bulk_create(
            Invite(study=study, label=f"pretend expert {n}") for n in range(1, experts + 1)
        )
        self.stdout.write(self.style.SUCCESS(f"Demo study '{study.slug}' ready: {study.portraits.count()} portraits."))
        self.stdout.write("Participant links (single-use, one per pretend expert):")
        for invite in invites:
            self.stdout.write(f"  {invite.label}: {settings.SITE_URL + reverse('survey:invite', args=[invite.token])}")
        self.stdout.write(f"Coordinator admin: {settings.SITE_URL}/admin/  user: coordinator  password: {password}")
