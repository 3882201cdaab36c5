"""GAN inversion on the tiny model: shapes, w+, and that a few steps reduce the reconstruction loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from generator.inversion.invert import (
    InversionSettings,
    describe_pose,
    feature_distance,
    invert,
    inverted_latent_average,
    noise_regularisation,
    pose_warp,
    start_w,
)
from generator.inversion.study import Misalignment, misalign


def _pooled_features(images: torch.Tensor) -> list[torch.Tensor]:
    """A stand-in feature network: the loss only needs maps with a channel axis."""
    return [torch.nn.functional.avg_pool2d(images, 2), torch.nn.functional.avg_pool2d(images, 4)]


def _targets(model, n: int = 3) -> torch.Tensor:
    """Portraits the model can reach: its own images from other classes' w, with noise."""
    g = torch.Generator().manual_seed(5)
    z = torch.randn(n, model.config.z_dim, generator=g)
    labels = torch.tensor([1] * n)
    with torch.no_grad():
        w = model.generator.mapping(z, labels)
        return model.generator.synthesis(w, model.generator.synthesis.make_noise(n, g))


def test_a_full_w_plus_of_equal_styles_gives_the_plain_w_image(tiny_model):
    synthesis = tiny_model.generator.synthesis
    w = torch.randn(2, tiny_model.config.w_dim)
    w_plus = w[:, None, :].expand(-1, synthesis.num_ws, -1)
    with torch.no_grad():
        assert torch.allclose(synthesis(w), synthesis(w_plus), atol=1e-6)


def test_inversion_reduces_the_loss_and_returns_the_right_shapes(tiny_model):
    targets = _targets(tiny_model)
    result = invert(
        tiny_model,
        targets,
        init_label=0,
        settings=InversionSettings(steps=15, lr=0.1),
        feature_net=_pooled_features,
    )
    r = tiny_model.config.resolution
    assert result.w.shape == (3, tiny_model.config.w_dim)
    assert result.reconstructions.shape == (3, 3, r, r)
    assert len(result.history) == 15
    assert (result.final_loss < result.initial_loss).all()
    assert result.final_loss.mean() < 0.7 * result.initial_loss.mean()
    assert torch.allclose(result.final_loss, result.final_pixel + result.final_feature, atol=1e-5)
    average = inverted_latent_average(tiny_model, result.w)
    assert average.shape == (1, 3, r, r)


def test_w_plus_inversion_starts_at_the_class_mean_in_every_layer(tiny_model):
    w0 = start_w(tiny_model, 2, 4, w_plus=True)
    synthesis = tiny_model.generator.synthesis
    assert w0.shape == (4, synthesis.num_ws, tiny_model.config.w_dim)
    assert torch.equal(w0[3, -1], tiny_model.generator.mapping.w_avg[2])
    result = invert(
        tiny_model,
        _targets(tiny_model, 2),
        init_label=2,
        settings=InversionSettings(steps=8, lr=0.1, w_plus=True, optimise_noise=False),
    )
    assert result.w.shape == (2, synthesis.num_ws, tiny_model.config.w_dim)
    assert (result.final_loss < result.initial_loss).all()
    assert inverted_latent_average(tiny_model, result.w).shape[0] == 1


def test_the_model_stays_frozen_during_inversion(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.generator.state_dict().items()}
    invert(tiny_model, _targets(tiny_model, 1), 0, InversionSettings(steps=3))
    after = tiny_model.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_feature_distance_is_zero_for_equal_maps_and_noise_penalty_for_structure():
    maps = _pooled_features(torch.randn(2, 3, 16, 16))
    assert torch.allclose(feature_distance(maps, maps), torch.zeros(2))
    white = [torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))]
    smooth = [torch.ones(1, 1, 16, 16)]
    assert noise_regularisation(smooth) > 10 * noise_regularisation(white)


def _dot(side: int = 32, at: tuple[int, int] = (16, 16)) -> torch.Tensor:
    image = torch.full((1, 3, side, side), -1.0)
    image[:, :, at[0], at[1]] = 1.0
    return image


def _centre_of_brightness(images: torch.Tensor) -> torch.Tensor:
    """[N, 2] (row, column) of each image's brightness-weighted centre."""
    weight = (images.mean(dim=1) + 1).clamp(min=0)  # [N, H, W], background 0
    rows = torch.arange(images.shape[2], dtype=torch.float32)
    total = weight.sum(dim=(1, 2))
    return torch.stack([(weight.sum(2) * rows).sum(1) / total, (weight.sum(1) * rows).sum(1) / total], 1)


def test_no_misalignment_leaves_the_portraits_untouched():
    images = torch.rand(4, 3, 16, 16) * 2 - 1
    moved, poses = misalign(images, Misalignment(), seed=0)
    assert moved is images and not poses.any()


def test_misalignment_moves_each_portrait_within_its_bounds_and_repeats_per_seed():
    images = _dot().expand(12, -1, -1, -1)
    bounds = Misalignment(shift=0.1)  # at most 3.2 px of a 32 px side
    moved, _ = misalign(images, bounds, seed=3)
    offsets = _centre_of_brightness(moved) - _centre_of_brightness(images)
    assert offsets.abs().max() <= 0.1 * 32 + 0.5
    assert (offsets.abs().sum(1) > 0.5).sum() >= 8  # most portraits really move
    assert len({tuple(o.round().tolist()) for o in offsets}) > 3  # each its own way
    assert torch.equal(moved, misalign(images, bounds, seed=3)[0])
    assert not torch.equal(moved, misalign(images, bounds, seed=4)[0])


def test_misaligned_portraits_average_to_a_blurrier_image(phantom_data):
    from generator.inference.averages import laplacian_variance
    from generator.inference.sampling import to_uint8
    from generator.training.data import load_image_set, to_float

    images = to_float(load_image_set(phantom_data, 16, training_only=False).images)
    bounds = Misalignment(shift=0.08, scale=0.08, degrees=8)
    aligned = to_uint8(images.mean(dim=0, keepdim=True))[0]
    blurred = to_uint8(misalign(images, bounds, seed=0)[0].mean(dim=0, keepdim=True))[0]
    assert laplacian_variance(blurred) < laplacian_variance(aligned)


def test_misalignment_bounds_are_checked():
    with pytest.raises(ValueError, match="misalignment out of range"):
        Misalignment(shift=0.6)
    with pytest.raises(ValueError, match="degrees"):
        Misalignment(degrees=90)


def _pose(shift_x: float = 0.0, shift_y: float = 0.0, scale: float = 1.0, degrees: float = 0.0):
    """One pose row in pose_warp's units (shift in half-sides, log-scale, radians)."""
    return torch.tensor([[shift_x, shift_y, math.log(scale), math.radians(degrees)]])


def test_the_identity_pose_leaves_a_portrait_as_it_is():
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.allclose(pose_warp(image, _pose()), image, atol=1e-5)


def test_pose_shift_scale_and_roll_move_a_portrait_the_documented_way():
    centre = _centre_of_brightness(_dot())[0]
    shifted = _centre_of_brightness(pose_warp(_dot(), _pose(shift_x=0.25, shift_y=-0.125)))[0]
    # half-sides: 0.25 of a 32 px image's half-side of 16 px is 4 px right; -0.125 is 2 px up
    assert torch.allclose(shifted - centre, torch.tensor([-2.0, 4.0]), atol=0.3)

    off_centre = _dot(at=(16, 24))  # 8 px right of the centre
    turned = _centre_of_brightness(pose_warp(off_centre, _pose(degrees=90)))[0]
    assert turned[0] < centre[0] - 6  # anticlockwise on screen: right of centre goes up

    bar = torch.full((1, 3, 32, 32), -1.0)
    bar[:, :, 12:20, 12:20] = 1.0
    area = (pose_warp(bar, _pose(scale=1.5)).mean(dim=1) > 0).sum()
    assert 1.5**2 * 64 * 0.8 < area < 1.5**2 * 64 * 1.2


def _class_mean_faces(model, n: int) -> torch.Tensor:
    with torch.no_grad():
        return model.generator.synthesis(start_w(model, 1, n, w_plus=False))


def test_the_fitted_pose_is_the_misalignment_applied_to_each_portrait(tiny_model):
    moved, applied = misalign(_class_mean_faces(tiny_model, 6), Misalignment(shift=0.1, scale=0.1, degrees=10), seed=0)
    # w held still (a vanishing step), so only the pose can explain the misalignment
    settings = InversionSettings(steps=100, lr=1e-9, optimise_noise=False, feature_weight=0.0, fit_pose=True)
    fitted = invert(tiny_model, moved, init_label=1, settings=settings).pose
    expected = describe_pose(applied)  # shift x, y (fraction of the side), scale, roll (degrees)
    assert torch.allclose(fitted[:, :3], expected[:, :3], atol=0.01)
    assert torch.allclose(fitted[:, 3], expected[:, 3], atol=0.5)


def test_fitting_the_pose_reaches_a_closer_fit_of_misaligned_portraits(tiny_model):
    moved, _ = misalign(_class_mean_faces(tiny_model, 4), Misalignment(shift=0.1), seed=1)
    plain = InversionSettings(steps=60, optimise_noise=False, feature_weight=0.0)
    posed = InversionSettings(steps=60, optimise_noise=False, feature_weight=0.0, fit_pose=True)
    without = invert(tiny_model, moved, init_label=1, settings=plain)
    with_pose = invert(tiny_model, moved, init_label=1, settings=posed)
    assert torch.equal(without.pose, torch.tensor([[0.0, 0.0, 1.0, 0.0]] * 4))  # identity
    assert (with_pose.final_loss < without.final_loss).all()


def test_pose_recovery_is_reported_only_when_there_is_a_pose_to_recover():
    from generator.inversion.study import GroupOutcome, pose_recovery_line

    rng = np.random.default_rng(0)
    applied = rng.normal(size=(8, 4))

    def outcome(fitted: np.ndarray, applied: np.ndarray) -> GroupOutcome:
        return GroupOutcome("x", 0, 8, 1, 0.5, 1, 0.5, 0.1, 0.01, (), applied, fitted)

    line = pose_recovery_line([outcome(applied * 0.5 + 0.1, applied)])
    assert line is not None and line.count("1.00") == 4
    identity = np.tile([0.0, 0.0, 1.0, 0.0], (8, 1))
    assert pose_recovery_line([outcome(identity, applied)]) is None  # no pose fitted
    assert pose_recovery_line([outcome(applied, np.zeros((8, 4)))]) is None  # none applied
