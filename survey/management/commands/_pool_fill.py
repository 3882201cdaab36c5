"""Filling a study's synthetic pool from a generator checkpoint: one service for `manage.py fill_pool` and
the coordinators' background job (survey/tasks.py). A batch module: the web process never imports it.

Every portrait is generated and gated first, in memory; only then are they all added, in one transaction,
so a run that fails (a bad checkpoint, a disorder the model never learned, a crash half-way) leaves the
bank as it was. The generator (and torch) is imported inside `pool_fill`, in the worker or the command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from PIL import Image

from survey.image_bank import portrait_add
from survey.models import Portrait, PortraitKind, Study
from survey.storage import bank_storage, stored_name


class PoolFillError(ValueError):
    """Nothing was added; the message says why, in one sentence."""


@dataclass(frozen=True)
class PoolFillRequest:
    checkpoint: Path
    per_disorder: int
    truncation: float = 0.7
    seed_start: int = 0
    latent_samples: int = 10_000
    device: str = "auto"
    batch: int = 64
    classifier: Path | None = None
    training_data: Path | None = None
    face_detector: str = "auto"
    # Gate names to turn off (a command line's "all" is expanded by generator.cli.options.skipped_gates).
    skip_gates: frozenset[str] = frozenset()
    # Real portraits (a manifest folder) or a calibration JSON that set the face threshold; None: the
    # detector's stored calibration.
    face_calibration: Path | None = None
    # Fields of generator.gates.settings.GateSettings to change; the defaults are written there, once.
    gate_settings: Mapping[str, Any] = field(default_factory=dict)
    max_tries_factor: int = 10


@dataclass
class DisorderFill:
    """What one disorder got: portraits that passed every gate, seeds tried, and why the others failed."""

    disorder: str
    accepted: int
    wanted: int
    tried: int
    rejected: int
    reasons: dict[str, int] = field(default_factory=dict)  # gate's reason in words -> portraits failing it

    def line(self) -> str:
        unused = self.tried - self.rejected - self.accepted  # a batch may pass more than the quota needs
        extra = f"; {unused} passing left unused" if unused else ""
        if not self.rejected:
            rejected = f"rejected 0 of {self.tried} generated{extra}"
        else:
            why = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.reasons.items()))
            rejected = f"rejected {self.rejected} of {self.tried} generated ({why}){extra}"
        return f"{self.disorder}: {self.accepted} synthetic portraits and a latent average; {rejected}"

    def shortfall(self) -> str | None:
        if self.accepted >= self.wanted:
            return None
        return (
            f"{self.disorder}: only {self.accepted} of {self.wanted} passed within {self.tried} seeds; "
            f"raise --max-tries-factor or check the model."
        )


@dataclass
class PoolFillReport:
    study: str
    checkpoint_id: str
    gate_notes: list[str]  # one line per gate: what ran, or that it was off
    disorders: list[DisorderFill]
    # the pool's brightness beside the real bank's, and the face gate's pass rate by brightness quartile
    brightness: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a face gate biased by brightness

    @property
    def added_synthetic(self) -> int:
        return sum(d.accepted for d in self.disorders)

    def as_json(self) -> dict:
        """For the job's row: the page renders the same lines the command prints."""
        return {
            **asdict(self),
            "lines": [d.line() for d in self.disorders],
            "shortfalls": [s for d in self.disorders if (s := d.shortfall())],
            "added_synthetic": self.added_synthetic,
            "added_averages": len(self.disorders),
        }


Progress = Callable[[int, int, str], None]  # (steps done, steps in all, what is happening now)


def _no_progress(done: int, total: int, note: str) -> None:
    return None


def pool_fill(study: Study, request: PoolFillRequest, *, progress: Progress = _no_progress) -> PoolFillReport:
    """Generate `per_disorder` gated synthetic portraits and one latent average for each of the study's
    disorders, then add them all to its bank in one transaction, or nothing (PoolFillError says why)."""
    if request.per_disorder < 1:
        raise PoolFillError("Portraits per disorder must be at least 1.")
    if not 0 < request.truncation <= 1:
        raise PoolFillError(f"Truncation {request.truncation} is not between 0 (excluded) and 1.")
    checkpoint = Path(request.checkpoint)
    if not checkpoint.is_file():
        raise PoolFillError(f"Checkpoint {checkpoint} does not exist.")
    try:
        from generator import api  # torch: in the worker or the batch command only
    except ImportError as error:
        raise PoolFillError(
            f"The generator is not installed ({error}): pip install -r requirements-generator.txt"
        ) from None
    codes = sorted(study.disorders.values_list("code", flat=True))
    if not codes:
        raise PoolFillError(f"Study {study.slug!r} has no disorders yet.")
    total = len(codes) + 2  # load the model and gates, each disorder, write
    progress(0, total, f"loading {checkpoint.name}")
    try:
        model = api.load_checkpoint(checkpoint, device=request.device)
    except (ValueError, OSError) as error:
        raise PoolFillError(f"Cannot load {checkpoint}: {error}") from None
    known = set(api.disorders(model))
    missing = [code for code in codes if code not in known]
    if missing:
        raise PoolFillError(
            f"The checkpoint was not trained on {', '.join(missing)}; it knows {', '.join(sorted(known))}."
        )
    from generator.gates.settings import GateSettings

    try:
        gate_settings = GateSettings(**dict(request.gate_settings))
    except (TypeError, ValueError) as error:
        raise PoolFillError(f"Bad gate setting: {error}") from None
    skip = frozenset(request.skip_gates)
    try:
        gates, notes = api.load_gates(
            model,
            classifier=request.classifier,
            face_detector=request.face_detector,
            training_data=request.training_data,
            face_calibration=request.face_calibration,
            skip=skip,
            settings=gate_settings,
        )
    except (ValueError, OSError, ImportError) as error:
        raise PoolFillError(f"Cannot set up the gates: {error}") from None

    max_seeds = request.per_disorder * max(request.max_tries_factor, 1)
    generated: list[tuple[str, list, tuple]] = []
    fills: list[DisorderFill] = []
    tried_luma: list[float] = []
    face_passed: list[bool] = []
    for step, code in enumerate(codes, start=1):
        progress(step, total, f"generating and gating {code}")
        result = api.gated_samples(
            model,
            gates,
            code,
            request.per_disorder,
            request.seed_start,
            request.truncation,
            batch=request.batch,
            max_seeds=max_seeds,
        )
        tried_luma += result.tried_luma
        face_passed += result.face_passed
        average = api.latent_average_image(model, code, n_samples=request.latent_samples)
        generated.append((code, result.accepted, average))
        fills.append(
            DisorderFill(
                disorder=code,
                accepted=len(result.accepted),
                wanted=request.per_disorder,
                tried=result.tried,
                rejected=result.rejected,
                reasons={api.REASONS[gate]: count for gate, count in result.reasons.items()},
            )
        )

    progress(total - 1, total, "adding the portraits to the bank")
    pool_hashes: list[str] = []
    with transaction.atomic():  # all or nothing; image files are content-addressed, so leftovers are harmless
        for code, accepted, (average, average_provenance) in generated:
            for image, provenance in accepted:
                portrait = portrait_add(
                    study=study,
                    image=image,
                    kind=PortraitKind.SYNTHETIC,
                    disorder_code=code,
                    checkpoint_id=provenance["checkpoint_id"],
                    seed=provenance["seed"],
                    truncation=provenance["truncation"],
                )
                pool_hashes.append(portrait.content_hash)
            portrait_add(
                study=study,
                image=average,
                kind=PortraitKind.LATENT_AVERAGE,
                disorder_code=code,
                checkpoint_id=average_provenance["checkpoint_id"],
            )
    brightness, warnings = _brightness_report(study, pool_hashes, tried_luma, face_passed, gate_settings)
    progress(total, total, "done")
    return PoolFillReport(
        study=study.slug,
        checkpoint_id=model.checkpoint_id,
        gate_notes=list(notes),
        disorders=fills,
        brightness=brightness,
        warnings=warnings,
    )


def _brightness_report(
    study: Study, pool_hashes: list[str], tried_luma: list[float], face_passed: list[bool], gate_settings: Any
) -> tuple[list[str], list[str]]:
    """The pool's brightness beside the real bank's (both measured on the stored images), and the face
    gate's pass rate by brightness quartile over every seed generated: a gate that passes dark and light
    faces at different rates skews the pool's skin tones away from the real portraits', a cue."""
    import numpy as np

    from generator.gates.brightness import (
        QUARTILES,
        brightness_bias,
        distribution_line,
        quartile_edges,
        share_by_quartile,
    )

    real_hashes = list(
        Portrait.objects.filter(study=study, kind=PortraitKind.REAL).values_list("content_hash", flat=True)
    )
    real, pool = _stored_luma(real_hashes), _stored_luma(pool_hashes)
    lines = [
        "brightness (mean luma of the central square, 0-255):",
        f"  real bank, {len(real)} portraits: {distribution_line(real)}",
        f"  synthetic added now, {len(pool)} portraits: {distribution_line(pool)}",
    ]
    if len(real) and len(pool):
        shares = share_by_quartile(pool, quartile_edges(real))
        lines.append(
            "  synthetic per quartile of the real bank, "
            + ", ".join(f"{name} {share:.2f}" for name, share in zip(QUARTILES, shares, strict=True))
            + " (0.25 each: the same spread)"
        )
    warnings: list[str] = []
    if face_passed and len(face_passed) == len(tried_luma):
        bias = brightness_bias(np.array(tried_luma), np.array(face_passed), gate_settings.brightness_tolerance)
        lines.append(bias.line())
        if bias.biased:
            warnings.append(
                f"WARNING: {bias.line()}; calibrate the face gate on the study's real portraits "
                "(--face-calibration) or check the detector before running the study."
            )
    return lines, warnings


def _stored_luma(content_hashes: list[str]) -> Any:
    """Brightness of stored bank images, one at a time (a bank may hold several sizes)."""
    import numpy as np

    from generator.gates.brightness import luminance

    storage = bank_storage()  # a folder or an object store: read as the delivery reads
    values = []
    for content_hash in content_hashes:
        with storage.open(stored_name(content_hash), "rb") as handle, Image.open(handle) as image:
            values.append(float(luminance(np.asarray(image.convert("RGB"))[None])[0]))
    return np.array(values)
