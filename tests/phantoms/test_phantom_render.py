from dataclasses import FrozenInstanceError, fields

import numpy as np
import pytest

import phantoms
from phantoms.face import FaceParams, face_params

_GEOMETRY = [f.name for f in fields(FaceParams) if isinstance(getattr(face_params("unaffected", 0), f.name), float)]


def test_it_renders_rgb_at_the_requested_size() -> None:
    for size in (64, 100):
        img = phantoms.render_portrait("velmar", 3, size)
        assert img.mode == "RGB"
        assert img.size == (size, size)


def test_it_is_deterministic_in_disorder_and_individual() -> None:
    a = np.asarray(phantoms.render_portrait("ostrin", 7, 64))
    b = np.asarray(phantoms.render_portrait("ostrin", 7, 64))
    assert np.array_equal(a, b)
    other = np.asarray(phantoms.render_portrait("ostrin", 8, 64))
    assert not np.array_equal(a, other)


def test_it_names_an_unknown_code() -> None:
    with pytest.raises(ValueError, match="nosuch"):
        phantoms.render_portrait("nosuch", 0)


def test_disorders_are_fictional_codes_without_unaffected() -> None:
    codes = [d.code for d in phantoms.DISORDERS]
    assert len(codes) == len(set(codes)) >= 8
    assert phantoms.UNAFFECTED not in codes
    assert all(c.islower() and c.isalpha() for c in codes)
    assert all(d.name and d.features for d in phantoms.DISORDERS)
    with pytest.raises(FrozenInstanceError):
        phantoms.DISORDERS[0].code = "x"  # type: ignore[misc]


def _mean_features(code: str, n: int = 60) -> dict[str, float]:
    params = [face_params(code, i) for i in range(n)]
    return {name: float(np.mean([getattr(p, name) for p in params])) for name in _GEOMETRY}


def _spread(n: int = 60) -> dict[str, float]:
    params = [face_params("unaffected", i) for i in range(n)]
    return {name: float(np.std([getattr(p, name) for p in params])) + 1e-6 for name in _GEOMETRY}


@pytest.mark.parametrize("disorder", phantoms.DISORDERS, ids=lambda d: d.code)
def test_each_disorder_shifts_its_features_and_only_those(
    disorder: phantoms.PhantomDisorder,
) -> None:
    base, sd = _mean_features("unaffected"), _spread()
    mean = _mean_features(disorder.code)
    for name in _GEOMETRY:
        z = abs(mean[name] - base[name]) / (sd[name] / np.sqrt(60) * np.sqrt(2))
        if name in disorder.shifts:
            assert z > 4, f"{disorder.code} should shift {name}"
        elif name != "synophrys":
            assert z < 4.5, f"{disorder.code} should not shift {name}"


def test_shifted_features_change_the_pixels_in_their_region() -> None:
    # same individual parameters except the disorder's shifts: the images must differ
    base = np.asarray(phantoms.render_portrait("unaffected", 1, 64), dtype=np.int16)
    for d in phantoms.DISORDERS:
        img = np.asarray(phantoms.render_portrait(d.code, 1, 64), dtype=np.int16)
        assert np.abs(img - base).mean() > 3


def test_a_broad_population_widens_the_face_geometry_and_nothing_else() -> None:
    usual = [face_params("unaffected", i) for i in range(300)]
    broad = [face_params("unaffected", i, spread=2.5) for i in range(300)]
    for name in ("face_width", "ear_drop", "mouth_width", "fissure_slant"):
        ratio = np.std([getattr(p, name) for p in broad]) / np.std([getattr(p, name) for p in usual])
        assert 2.2 < ratio < 2.8, name
    for name in ("skin", "hair", "background", "roll", "shift_x", "scale", "age"):
        assert [getattr(p, name) for p in broad] == [getattr(p, name) for p in usual], name
    # spread 1 is exactly the usual individual, so existing datasets render unchanged
    assert face_params("dravik", 5, spread=1.0) == face_params("dravik", 5)
    with pytest.raises(ValueError, match="spread must be positive"):
        face_params("unaffected", 0, spread=0)
