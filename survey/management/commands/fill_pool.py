"""manage.py fill_pool STUDY --checkpoint CKPT --per-disorder N [--classifier C --training-data D]

Fills a study's synthetic pool and latent averages from a generator checkpoint. Synthetic portraits enter
only if they pass the generator's gates (a face, the disorder's features, not a near-copy of a training
portrait); rejected seeds are skipped and counted. The report ends with the pool's brightness beside the
real bank's, and warns when the face gate passes dark and light portraits at different rates. The generator
(and torch) is imported here, in a batch command, never by the web process; its gate settings module is
torch-free.
"""

from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from generator.gates.settings import DEFAULTS, GateSettings
from survey.image_bank import portrait_add
from survey.imaging import stored_path
from survey.management.study_lookup import study_by_slug
from survey.models import Portrait, PortraitKind


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
        parser.add_argument("--classifier", type=Path, default=None,
                            help="Disorder classifier for the disorder and privacy gates (default: the bundled "
                                 "phantom judge when the checkpoint's disorders are phantom ones).")
        parser.add_argument("--training-data", type=Path, default=None,
                            help="Manifest folder of the training portraits (used_in_training=1) and held-out "
                                 "ones (0); the privacy gate runs only with it.")
        parser.add_argument("--face-detector", default="auto", help="auto, phantom, mtcnn or none.")
        parser.add_argument("--skip-gates", default="",
                            help="Comma-separated gates to turn off: face, disorder, privacy, or all.")
        parser.add_argument("--face-calibration", type=Path, default=None,
                            help="Real portraits (folder with manifest.csv) or a calibration JSON that set the face "
                                 "threshold (default: the bundled face check's stored calibration).")
        parser.add_argument("--face-calibration-percentile", type=float,
                            default=DEFAULTS.face_calibration_percentile,
                            help="Face threshold = this percentile of the real portraits' face scores.")
        parser.add_argument("--face-threshold", type=float, default=DEFAULTS.face_threshold,
                            help="A fixed face threshold instead of the calibrated one.")
        parser.add_argument("--brightness-tolerance", type=float, default=DEFAULTS.brightness_tolerance,
                            help="Warn when the face gate's pass rates across brightness quartiles differ by more.")
        parser.add_argument("--top-k", type=int, default=DEFAULTS.top_k,
                            help="The disorder must be in the classifier's top k (default: the largest k whose "
                                 f"chance pass rate is at most {DEFAULTS.max_chance_pass:g}).")
        parser.add_argument("--privacy-percentile", type=float, default=DEFAULTS.privacy_percentile)
        parser.add_argument("--max-tries-factor", type=int, default=10,
                            help="Give up on a disorder after per-disorder x this many seeds.")

    def handle(self, *args, study: str, checkpoint: Path, per_disorder: int, truncation: float, seed_start: int,
               latent_samples: int, device: str, batch: int, **options):
        gate_options = {key: options.get(key, default) for key, default in (
            ("classifier", None), ("training_data", None), ("face_detector", "auto"), ("skip_gates", ""),
            ("face_calibration", None))}
        try:  # call_command skips argparse, so the defaults come from the one settings object too
            gate_settings = GateSettings(**{name: options.get(name, getattr(DEFAULTS, name)) for name in (
                "face_threshold", "face_calibration_percentile", "brightness_tolerance", "top_k",
                "privacy_percentile")})
        except ValueError as error:
            raise CommandError(f"Bad gate setting: {error}") from None
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

        gates = self._gates(api, model, gate_options, gate_settings)
        max_seeds = per_disorder * max(int(options.get("max_tries_factor") or 10), 1)
        added = 0
        tried_luma, face_passed, pool_hashes = [], [], []
        for code in codes:
            batch_result = api.gated_samples(model, gates, code, per_disorder, seed_start, truncation,
                                             batch=batch, max_seeds=max_seeds)
            tried_luma += batch_result.tried_luma
            face_passed += batch_result.face_passed
            for image, provenance in batch_result.accepted:
                portrait = portrait_add(study=target, image=image, kind=PortraitKind.SYNTHETIC, disorder_code=code,
                                        checkpoint_id=provenance["checkpoint_id"], seed=provenance["seed"],
                                        truncation=provenance["truncation"])
                pool_hashes.append(portrait.content_hash)
                added += 1
            average, provenance = api.latent_average_image(model, code, n_samples=latent_samples)
            portrait_add(study=target, image=average, kind=PortraitKind.LATENT_AVERAGE, disorder_code=code,
                         checkpoint_id=provenance["checkpoint_id"])
            self.stdout.write(f"  {code}: {len(batch_result.accepted)} synthetic portraits and a latent average; "
                              f"{self._rejections(api, batch_result)}")
            if len(batch_result.accepted) < per_disorder:
                self.stderr.write(f"  {code}: only {len(batch_result.accepted)} of {per_disorder} passed within "
                                  f"{batch_result.tried} seeds; raise --max-tries-factor or check the model.")
        self._brightness_report(target, pool_hashes, tried_luma, face_passed, gate_settings)
        self.stdout.write(self.style.SUCCESS(f"Added {added} synthetic portraits and {len(codes)} latent averages to {target.slug}."))

    def _brightness_report(self, target, pool_hashes, tried_luma, face_passed, gate_settings) -> None:
        """The pool's brightness beside the real bank's (both measured on the stored images), and the face
        gate's pass rate by brightness quartile over every seed generated."""
        from generator.gates.brightness import (
            QUARTILES,
            brightness_bias,
            distribution_line,
            quartile_edges,
            share_by_quartile,
        )

        real_hashes = list(Portrait.objects.filter(study=target, kind=PortraitKind.REAL)
                           .values_list("content_hash", flat=True))
        real, pool = _stored_luma(real_hashes), _stored_luma(pool_hashes)
        self.stdout.write("  brightness (mean luma of the central square, 0-255):")
        self.stdout.write(f"    real bank, {len(real)} portraits: {distribution_line(real)}")
        self.stdout.write(f"    synthetic added now, {len(pool)} portraits: {distribution_line(pool)}")
        if len(real) and len(pool):
            shares = share_by_quartile(pool, quartile_edges(real))
            self.stdout.write("    synthetic per quartile of the real bank, " + ", ".join(
                f"{name} {share:.2f}" for name, share in zip(QUARTILES, shares)) + " (0.25 each: the same spread)")
        if face_passed and len(face_passed) == len(tried_luma):
            bias = brightness_bias(np.array(tried_luma), np.array(face_passed), gate_settings.brightness_tolerance)
            self.stdout.write(f"  {bias.line()}")
            if not bias.within_tolerance:
                self.stderr.write(f"  WARNING: {bias.line()}; calibrate the face gate on the study's real portraits "
                                  "(--face-calibration) or check the detector before running the study.")

    def _gates(self, api, model, options, gate_settings):
        skip_spec = {name.strip() for name in str(options["skip_gates"]).split(",") if name.strip()}
        skip = frozenset(("face", "disorder", "privacy")) if "all" in skip_spec else frozenset(skip_spec)
        try:
            gates, notes = api.load_gates(model, classifier=options["classifier"],
                                          face_detector=options["face_detector"],
                                          training_data=options["training_data"],
                                          face_calibration=options["face_calibration"], skip=skip,
                                          settings=gate_settings)
        except (ValueError, OSError, ImportError) as error:
            raise CommandError(f"Cannot set up the gates: {error}") from None
        for line in notes:
            self.stdout.write(f"  {line}")
        return gates

    @staticmethod
    def _rejections(api, result) -> str:
        # seeds are generated in batches, so a few passing portraits beyond the quota may go unused
        unused = result.tried - result.rejected - len(result.accepted)
        extra = f"; {unused} passing left unused" if unused else ""
        if not result.rejected:
            return f"rejected 0 of {result.tried} generated{extra}"
        why = ", ".join(f"{api.REASONS[gate]}: {count}" for gate, count in sorted(result.reasons.items()))
        return f"rejected {result.rejected} of {result.tried} generated ({why}){extra}"


def _stored_luma(content_hashes: list[str]) -> np.ndarray:
    """Brightness of stored bank images, one at a time (a bank may hold several sizes)."""
    from generator.gates.brightness import luminance

    root = Path(settings.IMAGE_BANK_ROOT)
    values = []
    for content_hash in content_hashes:
        with Image.open(stored_path(root, content_hash)) as image:
            values.append(float(luminance(np.asarray(image.convert("RGB"))[None])[0]))
    return np.array(values)
