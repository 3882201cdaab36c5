import pytest
import torch

from generator.inference.seeds import parse_seeds, seed_inputs
from generator.nets.config import PRESETS
from generator.nets.networks import Discriminator, Generator

TINY = PRESETS["tiny"]


def test_it_produces_images_scores_and_styles_of_the_configured_shapes() -> None:
    G, D = Generator(TINY), Discriminator(TINY)
    z, labels = torch.randn(5, TINY.z_dim), torch.tensor([0, 1, 2, 0, 1])
    images = G(z, labels, noise=G.synthesis.make_noise(5))
    assert images.shape == (5, 3, 16, 16)
    assert G.mapping(z, labels).shape == (5, TINY.w_dim)
    assert D(images, labels).shape == (5,)


def test_it_refuses_wrong_shapes_at_forward_entry() -> None:
    G = Generator(TINY)
    with pytest.raises(ValueError, match="z: expected"):
        G(torch.randn(2, TINY.z_dim + 1), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        G(torch.randn(2, TINY.z_dim), torch.tensor([0]))
    with pytest.raises(ValueError, match="images"):
        Discriminator(TINY)(torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))


def test_class_zero_has_a_learned_non_zero_embedding() -> None:
    G = Generator(TINY)
    assert G.mapping.embed.weight[0].abs().sum() > 0
    # and class 0 changes w as much as any class does
    z = torch.randn(1, TINY.z_dim)
    w0, w1 = G.mapping(z, torch.tensor([0])), G.mapping(z, torch.tensor([1]))
    assert not torch.allclose(w0, w1)


def test_truncation_zero_gives_the_class_average_not_a_global_one(tiny_model) -> None:  # type: ignore[no-untyped-def]
    mapping = tiny_model.generator.mapping
    z = torch.randn(4, TINY.z_dim)
    labels = torch.tensor([0, 1, 2, 1])
    w = mapping(z, labels, truncation=0.0)
    assert torch.allclose(w, mapping.w_avg[labels])
    assert not torch.allclose(w[0], mapping.w_avg.mean(dim=0))
    half = mapping(z, labels, truncation=0.5)
    assert torch.allclose(half, 0.5 * (mapping(z, labels) + mapping.w_avg[labels]), atol=1e-6)


def test_running_w_average_is_tracked_per_class() -> None:
    G = Generator(TINY)
    z = torch.randn(6, TINY.z_dim)
    labels = torch.tensor([0, 0, 0, 2, 2, 2])
    w = G.mapping(z, labels, update_w_avg=True)
    assert torch.allclose(G.mapping.w_avg[0], w[:3].mean(0), atol=1e-6)
    assert torch.allclose(G.mapping.w_avg[2], w[3:].mean(0), atol=1e-6)
    assert G.mapping.w_avg[1].abs().sum() == 0 and not G.mapping.w_avg_seen[1]


def test_seed_ranges_parse_like_stylegan_clis() -> None:
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    for bad in ("3-1", "a", "1,1", ""):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_seed_inputs_do_not_depend_on_their_neighbours() -> None:
    z_a, n_a = seed_inputs([5, 9], 8, [4, 8])
    z_b, n_b = seed_inputs([9], 8, [4, 8])
    assert torch.equal(z_a[1], z_b[0]) and torch.equal(n_a[1][1], n_b[1][0])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_a_pair_that_draws_and_judges_its_resolution(name: str) -> None:
    """Each preset's generator draws images of the preset's resolution for its first and last class, and
    its discriminator scores them one per image; the config survives the checkpoint's JSON. On the meta
    device: shapes are computed, not pixels, so the 25-million-parameter preset costs nothing here."""
    config = PRESETS[name]
    with torch.device("meta"):
        generator, discriminator = Generator(config), Discriminator(config)
        labels = torch.tensor([0, config.num_classes - 1])
        images = generator(torch.randn(2, config.z_dim), labels, truncation=0.7)
        scores = discriminator(images, labels)
    assert images.shape == (2, 3, config.resolution, config.resolution)
    assert scores.shape == (2,)
    assert type(config).from_json(config.to_json()) == config
