"""The fictional disorders of the phantom renderer and the facial features each one shifts.

Every name and code here is invented; none describes a real condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

UNAFFECTED = "unaffected"


@dataclass(frozen=True)
class PhantomDisorder:
    code: str  # short lowercase identifier used in manifests and checkpoints
    name: str  # human-readable fictional name
    features: str  # what the disorder shifts, in words a survey coordinator can read
    shifts: Mapping[str, float] = field(default_factory=dict, compare=False, repr=False)


def _disorder(code: str, name: str, features: str, **shifts: float) -> PhantomDisorder:
    return PhantomDisorder(code, name, features, MappingProxyType(dict(shifts)))


# Shifts are in the units of `phantoms.face.FaceParams` (canvas half-widths, degrees, ratios).
# Each shift is 3-7 individual standard deviations (mordane's squareness 13), so the gestalt is
# visible at 64 px; a disorder's features thus lie outside the unaffected range of faces.
DISORDERS: tuple[PhantomDisorder, ...] = (
    _disorder(
        "velmar",
        "Velmar phantom syndrome",
        "widely spaced eyes, down-slanting palpebral fissures, broad nose",
        eye_spacing=0.065,
        fissure_slant=-11.0,
        nose_width=0.035,
    ),
    _disorder(
        "ostrin",
        "Ostrin phantom syndrome",
        "long smooth philtrum, thin upper lip, highly arched brows meeting in the middle",
        philtrum=0.075,
        upper_lip=-0.012,
        brow_arch=0.045,
        synophrys=1.0,
    ),
    _disorder(
        "quellan",
        "Quellan phantom syndrome",
        "narrow face, up-slanting palpebral fissures, small mouth",
        face_width=-0.07,
        fissure_slant=12.0,
        mouth_width=-0.045,
    ),
    _disorder(
        "dravik",
        "Dravik phantom syndrome",
        "round full face, low-set posteriorly rotated ears, wide mouth",
        face_width=0.06,
        jaw_taper=-0.2,
        ear_drop=0.11,
        ear_rotation=22.0,
        mouth_width=0.06,
    ),
    _disorder(
        "torvelle",
        "Torvelle phantom syndrome",
        "long face with pointed chin, short palpebral fissures, high forehead",
        face_height=0.07,
        jaw_taper=0.25,
        eye_width=-0.025,
        hairline=-0.08,
    ),
    _disorder(
        "sarnoth",
        "Sarnoth phantom syndrome",
        "thick straight low brows, short philtrum, full everted lower lip",
        brow_thickness=0.025,
        brow_arch=-0.03,
        brow_gap=-0.03,
        philtrum=-0.035,
        lower_lip=0.025,
    ),
    _disorder(
        "ilvaine",
        "Ilvaine phantom syndrome",
        "close-set eyes, long narrow nose, large protruding ears",
        eye_spacing=-0.05,
        nose_length=0.06,
        nose_width=-0.02,
        ear_size=0.05,
    ),
    _disorder(
        "mordane",
        "Mordane phantom syndrome",
        "square broad jaw, down-turned mouth corners, narrow palpebral fissures",
        jaw_taper=-0.3,
        squareness=1.6,
        mouth_curve=-0.035,
        eye_open=-0.017,
    ),
)

_BY_CODE: dict[str, PhantomDisorder] = {d.code: d for d in DISORDERS}


def class_codes() -> tuple[str, ...]:
    """All renderable classes: the fictional disorders, then `unaffected`."""
    return tuple(d.code for d in DISORDERS) + (UNAFFECTED,)


def shifts_for(code: str) -> Mapping[str, float]:
    """Feature shifts of one class; `unaffected` shifts nothing."""
    if code == UNAFFECTED:
        return MappingProxyType({})
    try:
        return _BY_CODE[code].shifts
    except KeyError:
        known = ", ".join(class_codes())
        raise ValueError(f"unknown phantom disorder {code!r}; known codes: {known}") from None
