"""Face parameters of one phantom individual: individual variation plus the disorder's shifts."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

import numpy as np

from phantoms.disorders import shifts_for

# Skin tones from light to dark; an individual lands between two neighbours.
_SKIN_TONES = np.array(
    [
        [246, 215, 190],
        [232, 190, 160],
        [214, 165, 128],
        [186, 132, 96],
        [141, 94, 64],
        [98, 64, 44],
    ],
    dtype=np.float64,
)
_HAIR_COLOURS = np.array(
    [[30, 22, 18], [66, 44, 30], [112, 74, 42], [168, 128, 80], [214, 180, 120], [120, 40, 20]],
    dtype=np.float64,
)
_IRIS_COLOURS = np.array([[70, 45, 25], [40, 30, 20], [70, 100, 140], [80, 110, 70], [110, 85, 50]])


@dataclass(frozen=True)
class FaceParams:
    """Geometry in canvas units (the canvas spans -1..1 both ways), angles in degrees."""

    face_width: float  # half-width of the face oval
    face_height: float  # half-height of the face oval
    jaw_taper: float  # 0 = oval chin, >0 pointed, <0 broad
    squareness: float  # superellipse exponent of the lower face; 2 = ellipse
    hairline: float  # y of the hairline; lower (more negative) = higher forehead
    eye_spacing: float  # distance of each eye centre from the midline
    eye_width: float  # half-width of the palpebral fissure
    eye_open: float  # half-height of the palpebral fissure
    fissure_slant: float  # >0 outer canthus higher (up-slanting)
    brow_gap: float  # brow height above the eye centre
    brow_arch: float  # peak height of the brow curve
    brow_thickness: float
    synophrys: float  # 0..1, how far the brows join across the midline
    nose_length: float  # eye line to nose tip
    nose_width: float  # half-width of the alae
    philtrum: float  # nose base to upper lip
    mouth_width: float  # half-width of the mouth
    upper_lip: float
    lower_lip: float
    mouth_curve: float  # >0 corners up, <0 corners down
    ear_drop: float  # how far below the eye line the ear centre sits
    ear_size: float  # half-height of the ear
    ear_rotation: float  # posterior rotation
    age: float  # 0 = toddler proportions, 1 = adult
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    hair_length: float  # 0 = cropped, 1 = shoulder length
    fringe: float  # 0..1 how far the fringe waves
    shirt: tuple[float, float, float]
    background: tuple[float, float, float]
    roll: float  # head roll, degrees
    shift_x: float
    shift_y: float
    scale: float
    light_angle: float  # direction the key light comes from, radians
    light_strength: float


def individual_rng(disorder: str, individual: int) -> np.random.Generator:
    # Salting with the class keeps identities distinct across classes, and crc32 is stable across
    # Python runs (unlike hash()), so (disorder, individual) always renders the same portrait.
    return np.random.default_rng([individual, zlib.crc32(disorder.encode("utf-8"))])


def _triple(values: Iterable[float]) -> tuple[float, float, float]:
    """A colour's three channels as plain floats (numpy scalars in, Python floats out)."""
    r, g, b = (float(v) for v in values)
    return r, g, b


def _mix(palette: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    pos = rng.uniform(0, len(palette) - 1)
    low = int(np.floor(pos))
    high = min(low + 1, len(palette) - 1)
    colour = palette[low] * (1 - (pos - low)) + palette[high] * (pos - low)
    return _triple(colour)


def check_spread(spread: float) -> None:
    """Raises ValueError unless spread (the widening of individual variation) is positive."""
    if spread <= 0:
        raise ValueError(f"spread must be positive, got {spread}")


def base_params(rng: np.random.Generator, spread: float = 1.0) -> FaceParams:
    """Individual variation around an unaffected average face.

    spread widens the variation of the face's geometry (not its colours or pose): a broad
    population, like the large unaffected photo collections a face generator learns the range of
    faces from, is rendered with spread > 1. spread 1 draws exactly the usual individuals."""
    check_spread(spread)

    def vary(mean: float, sd: float) -> float:
        return float(rng.normal(mean, sd * spread))

    age = float(rng.uniform(0.0, 1.0))
    # Young faces: rounder, shorter lower face, larger eyes relative to the face.
    return FaceParams(
        face_width=vary(0.50, 0.02) + 0.02 * (1 - age),
        face_height=vary(0.66, 0.02) + 0.04 * age,
        jaw_taper=vary(0.1, 0.07),
        squareness=vary(2.0, 0.12),
        hairline=vary(-0.42, 0.02) - 0.04 * (1 - age),
        eye_spacing=vary(0.205, 0.015),
        eye_width=vary(0.095, 0.007) + 0.01 * (1 - age),
        eye_open=vary(0.043, 0.004) + 0.006 * (1 - age),
        fissure_slant=vary(2.0, 3.0),
        brow_gap=vary(0.1, 0.008),
        brow_arch=vary(0.025, 0.008),
        brow_thickness=vary(0.022, 0.004),
        synophrys=0.0,
        nose_length=vary(0.18, 0.012) + 0.03 * age,
        nose_width=vary(0.065, 0.006),
        philtrum=vary(0.085, 0.008) + 0.02 * age,
        mouth_width=vary(0.14, 0.012),
        upper_lip=vary(0.022, 0.003),
        lower_lip=vary(0.028, 0.004),
        mouth_curve=vary(0.005, 0.008),
        ear_drop=vary(0.08, 0.015),
        ear_size=vary(0.11, 0.008),
        ear_rotation=vary(5.0, 4.0),
        age=age,
        skin=_mix(_SKIN_TONES, rng),
        hair=_mix(_HAIR_COLOURS, rng),
        iris=_triple(_IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]),
        hair_length=float(rng.uniform(0, 1)),
        fringe=float(rng.uniform(0, 1)),
        shirt=_triple(rng.uniform(40, 220, size=3)),
        background=_triple(rng.uniform(150, 235, size=3)),
        roll=rng.normal(0, 3.0),
        shift_x=rng.normal(0, 0.02),
        shift_y=rng.normal(0, 0.015),
        scale=rng.normal(1.0, 0.03),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.05, 0.2)),
    )


def face_params(disorder: str, individual: int, spread: float = 1.0) -> FaceParams:
    """The face of `individual` in class `disorder`; raises ValueError for an unknown class."""
    shifts = shifts_for(disorder)
    base = base_params(individual_rng(disorder, individual), spread)
    known = {f.name for f in fields(FaceParams)}
    unknown = set(shifts) - known
    if unknown:  # a typo in DISORDERS would otherwise be silently ignored
        raise ValueError(f"disorder {disorder!r} shifts unknown features: {sorted(unknown)}")
    if not shifts:
        return base
    shifted = {name: getattr(base, name) + delta for name, delta in shifts.items()}
    if "synophrys" in shifts:
        shifted["synophrys"] = min(1.0, shifted["synophrys"])
    return replace(base, **shifted)
