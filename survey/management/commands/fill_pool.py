"""manage.py fill_pool STUDY --checkpoint CKPT --per-disorder N

Fills a study's synthetic pool and latent averages from a generator checkpoint. The generator (and torch)
is imported here, in a batch command, never by the web process.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from survey.image_bank import portrait_add
from survey.management.study_lookup import study_by_slug
from survey.models import PortraitKind


def parse_seed_start(value: str) -> int:
    seed = int(value)
    if seed < 0:
        raise ValueError("seeds are non-negative")
    return seed


class Command(BaseCommand):
    help = "Generate synthetic portraits and one latent average per disorder into a study's image bank."

    def add_arguments(self, parser):
        parser.add_argument("study", help="Slug of the study.")
        parser.add_argument("--checkpoint", type=Path, required=True, help="Generator checkpoint file.")
        parser.add_argument("--per-disorder", type=int, required=True, help="Synthetic portraits per disorder.")
        parser.add_argument("--truncation", type=float, default=0.7, help="Truncation psi toward the disorder's mean w.")
        parser.add_argument("--seed-start", type=parse_seed_start, default=0, help="First generator seed.")
        parser.add_argument("--latent-samples", type=int, default=10_000, help="w samples averaged per latent average.")
        parser.add_argument("--device", default="auto", help="auto, cpu or cuda.")
        parser.add_argument("--batch", type=int, default=64)

    def handle(self, *args, study: str, checkpoint: Path, per_disorder: int, truncation: float, seed_start: int,
               latent_samples: int, device: str, batch: int, **options):
        checkpoint = Path(checkpoint)  # call_command passes keyword options unconverted
        if per_disorder < 1:
            raise CommandError("--per-disorder must be at least 1.")
        if not checkpoint.is_file():
            raise CommandError(f"Checkpoint {checkpoint} does not exist.")
        target = study_by_slug(study)
        try:
            from generator import api
        except ImportError as error:
            raise CommandError(f"The generator is not installed ({error}): pip install -r requirements-generator.txt") from None

        try:
            model = api.load_checkpoint(checkpoint, device=device)
        except (ValueError, OSError) as error:
            raise CommandError(f"Cannot load {checkpoint}: {error}") from None
        known = set(api.disorders(model))
        codes = sorted(target.disorders.values_list("code", flat=True))
        missing = [c for c in codes if c not in known]
        if missing:
            raise CommandError(f"The checkpoint was not trained on {', '.join(missing)}; it knows {', '.join(sorted(known))}.")

        seeds = list(range(seed_start, seed_start + per_disorder))
        added = 0
        for code in codes:
            for image, provenance in api.sample_images(model, code, seeds, truncation, batch=batch):
                portrait_add(study=target, image=image, kind=PortraitKind.SYNTHETIC, disorder_code=code,
                             checkpoint_id=provenance["checkpoint_id"], seed=provenance["seed"],
                             truncation=provenance["truncation"])
                added += 1
            average, provenance = api.latent_average_image(model, code, n_samples=latent_samples)
            portrait_add(study=target, image=average, kind=PortraitKind.LATENT_AVERAGE, disorder_code=code,
                         checkpoint_id=provenance["checkpoint_id"])
            self.stdout.write(f"  {code}: {len(seeds)} synthetic portraits and a latent average")
        self.stdout.write(self.style.SUCCESS(f"Added {added} synthetic portraits and {len(codes)} latent averages to {target.slug}."))
