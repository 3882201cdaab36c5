"""The gates' settings, with their defaults written once: `python -m generator evaluate` and
`manage.py fill_pool` both read them from here (torch-free, so argparse can show the defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GateSettings:
    """What the gates let through. None for `face_threshold` or `top_k` means "derive it":
    the face threshold from real portraits' scores, k from the classifier's number of classes."""

    # face gate: a fixed confidence threshold, or None to calibrate it on real portraits
    face_threshold: float | None = None
    # calibrated threshold: this percentile of real portraits' face scores (1: 1 % of real fail)
    face_calibration_percentile: float = 1.0
    # face gate's pass rates across brightness quartiles may differ by at most this much
    brightness_tolerance: float = 0.05
    # disorder gate: requested disorder in the classifier's top k, or None for the largest k
    # whose chance pass rate k / classes stays at or below max_chance_pass
    top_k: int | None = None
    max_chance_pass: float = 0.20
    # privacy gate: flag portraits nearer to a training portrait than this percentile of
    # held-out real portraits are
    privacy_percentile: float = 1.0

    def __post_init__(self) -> None:
        if self.face_threshold is not None and not 0.0 <= self.face_threshold <= 1.0:
            raise ValueError(f"face threshold must lie in [0, 1], got {self.face_threshold}")
        for name in ("face_calibration_percentile", "privacy_percentile"):
            value = getattr(self, name)
            if not 0.0 <= value <= 100.0:
                raise ValueError(f"{name.replace('_', ' ')} must lie in [0, 100], got {value}")
        if not 0.0 <= self.brightness_tolerance <= 1.0:
            raise ValueError(f"brightness tolerance must lie in [0, 1], got {self.brightness_tolerance}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top k must be at least 1, got {self.top_k}")
        if not 0.0 < self.max_chance_pass <= 1.0:
            raise ValueError(f"max chance pass must lie in (0, 1], got {self.max_chance_pass}")

    def top_k_for(self, classes: int) -> int:
        """k for a classifier of `classes` outputs: the given one, or the largest k with
        k / classes <= max_chance_pass (at least 1: with fewer than 1 / max_chance_pass classes
        even top-1 passes more often by chance; `chance_pass` says by how much)."""
        if classes < 1:
            raise ValueError(f"a classifier needs at least one class, got {classes}")
        if self.top_k is not None:
            return min(self.top_k, classes)
        return max(1, math.floor(self.max_chance_pass * classes + 1e-9))

    def chance_pass(self, classes: int) -> float:
        """The disorder gate's false-pass rate for a portrait that carries no disorder signal:
        its requested disorder lands in the top k by chance k / classes of the time."""
        return self.top_k_for(classes) / classes


DEFAULTS = GateSettings()
