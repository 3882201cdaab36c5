"""manage.py fill_pool STUDY --checkpoint CKPT --per-disorder N [--classifier C --training-data D]

Fills a study's synthetic pool and latent averages from a generator checkpoint. Synthetic portraits enter
only if they pass the generator's gates (a face, the disorder's features, not a near-copy of a training
portrait); rejected seeds are skipped and counted. The generator (and torch) is imported here, in a batch
command, never by the web process. The work is `survey.management.commands._pool_fill.pool_fill`, the same service the
coordinators' "Fill the pool" page queues: all portraits are added at the end, in one transaction, or none.
The report ends with the pool's brightness beside the real bank's, and warns when the face gate passes dark
and light portraits at different rates. The gates' defaults come from their one settings object.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from generator.cli.options import gate_options, skipped_gates
from survey.management.commands._pool_fill import PoolFillError, PoolFillRequest, pool_fill
from survey.management.study_lookup import study_by_slug

# Options that are fields of the gates' settings (call_command may leave any out: then the default holds).
GATE_OPTIONS = ("face_threshold", "face_calibration_percentile", "brightness_tolerance", "top_k", "privacy_percentile")


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
        parser.add_argument(
            "--truncation", type=float, default=0.7, help="Truncation psi toward the disorder's mean w."
        )
        parser.add_argument("--seed-start", type=parse_seed_start, default=0, help="First generator seed.")
        parser.add_argument("--latent-samples", type=int, default=10_000, help="w samples averaged per latent average.")
        parser.add_argument("--device", default="auto", help="auto, cpu or cuda.")
        parser.add_argument("--batch", type=int, default=64)
        parser.add_argument(
            "--training-data",
            type=Path,
            default=None,
            help="Manifest folder of the training portraits (used_in_training=1) and held-out "
            "ones (0); the privacy gate runs only with it.",
        )
        gate_options(parser)  # the gates' options, the same as `python -m generator evaluate` takes
        parser.add_argument(
            "--max-tries-factor",
            type=int,
            default=10,
            help="Give up on a disorder after per-disorder x this many seeds.",
        )

    def handle(
        self,
        *args,
        study: str,
        checkpoint: Path,
        per_disorder: int,
        truncation: float,
        seed_start: int,
        latent_samples: int,
        device: str,
        batch: int,
        **options,
    ):
        skip = skipped_gates(str(options.get("skip_gates") or ""))
        request = PoolFillRequest(
            checkpoint=Path(checkpoint),  # call_command passes keyword options unconverted
            per_disorder=per_disorder,
            truncation=truncation,
            seed_start=seed_start,
            latent_samples=latent_samples,
            device=device,
            batch=batch,
            classifier=options.get("classifier"),
            training_data=options.get("training_data"),
            face_detector=options.get("face_detector") or "auto",
            skip_gates=skip,
            face_calibration=options.get("face_calibration"),
            gate_settings={name: options[name] for name in GATE_OPTIONS if name in options},
            max_tries_factor=int(options.get("max_tries_factor") or 10),
        )
        target = study_by_slug(study)
        try:
            report = pool_fill(target, request)
        except PoolFillError as error:
            raise CommandError(str(error)) from None
        for line in report.gate_notes:
            self.stdout.write(f"  {line}")
        for fill in report.disorders:
            self.stdout.write(f"  {fill.line()}")
            if shortfall := fill.shortfall():
                self.stderr.write(f"  {shortfall}")
        for line in report.brightness:
            self.stdout.write(f"  {line}")
        for warning in report.warnings:
            self.stderr.write(f"  {warning}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {report.added_synthetic} synthetic portraits and {len(report.disorders)} latent averages to {target.slug}."
            )
        )
