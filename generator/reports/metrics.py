"""Sample quality you can compare between models: KID and precision / recall on the features of a
fixed network, overall and per disorder (`python -m generator metrics`).

- **KID** (Bińkowski et al. 2018, "Demystifying MMD GANs"): the squared maximum mean discrepancy
  between real and generated features under the polynomial kernel k(x, y) = (x·y / d + 1)³,
  estimated without bias (the U-statistic: a kernel's diagonal never enters), so its expectation is
  0 when both sets come from one distribution and an estimate may be negative. Reported as the mean
  over random subsets drawn without replacement, with the 2.5-97.5 % range of the subsets'
  estimates as the interval (that of an estimate from `subset_size` samples; wider than the
  full sets' uncertainty, never narrower).
- **Precision / recall** (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
  assessing generative models"): each set's manifold is the union of balls around its points with
  the distance to their k-th nearest neighbour in the same set as radius; precision is the share of
  generated points inside the real manifold (fidelity), recall the share of real points inside the
  generated one (diversity).

Features come from a network the generator never trained against: the bundled phantom judge
(its last stage's feature map, flattened) or a TorchScript file a user supplies (its `features(x)`,
else its output). A TorchScript file runs code; a .safetensors file never does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from generator.inference.sampling import generate_batch
from generator.nets.layers import check_shape
from generator.nets.model import LoadedGenerator
from generator.training.data import load_image_set, to_float

FeatureFn = Callable[[torch.Tensor], torch.Tensor]  # [-1, 1] images [N, 3, H, W] -> [N, D]
DEFAULT_NEIGHBOURS = 3  # k of the k-NN manifolds, as in Kynkäänniemi et al.
DEFAULT_SUBSETS = 100
MAX_SUBSET = 1000  # as in Bińkowski et al. and the common KID implementations


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x·y / d + 1)³ for every pair of rows: [M, D] x [N, D] -> [M, N]."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased estimate of MMD² between the distributions of rows of x [M, D] and y [N, D]:
    mean of k(x_i, x_j) over i != j, plus the same for y, minus twice the mean of k(x_i, y_j)."""
    check_shape("kid features x", x, (None, None))
    check_shape("kid features y", y, (None, x.shape[1]))
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {m} and {n}")
    x, y = x.double(), y.double()
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(xx + yy - 2 * kxy.mean())


@dataclass(frozen=True)
class KID:
    value: float  # mean of the subsets' unbiased estimates
    low: float  # 2.5th percentile of the subsets' estimates
    high: float  # 97.5th percentile
    std: float  # standard deviation of the subsets' estimates
    subset_size: int
    subsets: int


def kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    subset_size: int | None = None,
    subsets: int = DEFAULT_SUBSETS,
    seed: int = 0,
) -> KID:
    """KID between real [M, D] and generated [N, D] features over `subsets` random subsets of
    `subset_size` (default: half the smaller set, at most 1000) drawn without replacement."""
    smallest = min(len(real), len(fake))
    size = subset_size if subset_size is not None else min(MAX_SUBSET, max(smallest // 2, 2))
    if not 2 <= size <= smallest:
        raise ValueError(f"KID subset size must lie in [2, {smallest}], got {size}")
    if subsets < 1:
        raise ValueError(f"KID needs at least one subset, got {subsets}")
    g = torch.Generator().manual_seed(seed)
    values = np.array(
        [
            mmd2_unbiased(
                real[torch.randperm(len(real), generator=g)[:size]],
                fake[torch.randperm(len(fake), generator=g)[:size]],
            )
            for _ in range(subsets)
        ]
    )
    low, high = np.percentile(values, [2.5, 97.5])
    return KID(float(values.mean()), float(low), float(high), float(values.std()), size, subsets)


def knn_radii(features: torch.Tensor, k: int = DEFAULT_NEIGHBOURS) -> torch.Tensor:
    """[N] distance from each row to its k-th nearest other row (itself excluded)."""
    if not 1 <= k < len(features):
        raise ValueError(f"k must lie in [1, {len(features) - 1}] for {len(features)} points, got {k}")
    d = torch.cdist(features.double(), features.double())
    return d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the point itself, at 0


def manifold_coverage(queries: torch.Tensor, support: torch.Tensor, k: int = DEFAULT_NEIGHBOURS) -> float:
    """Share of `queries` inside at least one support point's k-NN ball (boundary included)."""
    radii = knn_radii(support, k)
    d = torch.cdist(queries.double(), support.double())
    return float((d <= radii[None, :]).any(dim=1).double().mean())


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = DEFAULT_NEIGHBOURS) -> tuple[float, float]:
    """(precision, recall) of generated features `fake` against `real` (k-NN manifolds)."""
    return manifold_coverage(fake, real, k), manifold_coverage(real, fake, k)


@dataclass(frozen=True)
class QualityRow:
    group: str  # a disorder, or "all"
    n_real: int
    n_generated: int
    kid: float
    kid_low: float
    kid_high: float
    precision: float
    recall: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def quality_row(group: str, real: torch.Tensor, fake: torch.Tensor, k: int, subsets: int, seed: int) -> QualityRow:
    estimate = kid(real, fake, subsets=subsets, seed=seed)
    precision, recall = precision_recall(real, fake, k)
    return QualityRow(group, len(real), len(fake), estimate.value, estimate.low, estimate.high, precision, recall)


def feature_network(path: Path | None, device: torch.device) -> tuple[FeatureFn, str]:
    """(images -> features, a name for reports): the bundled phantom judge by default, a phantom
    classifier .safetensors, or a TorchScript module (its `features(x)` if it has one)."""
    from generator.gates.pipeline import BUNDLED_JUDGE

    path = Path(path) if path is not None else BUNDLED_JUDGE
    if not path.is_file():
        raise ValueError(f"feature network {path}: no such file")
    if path.suffix == ".safetensors":
        from generator.training.classifier import load_classifier

        loaded = load_classifier(path, device)
        net = loaded.net.eval()
        # the last stage's map, flattened and not normalised: the kernel needs the features' scale
        return (lambda x: net.stage_outputs(x)[-1].flatten(1)), (
            f"phantom classifier {loaded.checkpoint_id} (last stage, flattened)"
        )
    try:
        module = torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{path}: not a TorchScript feature network ({error})") from None
    run = module.features if hasattr(module, "features") else module
    return (lambda x: run(x).flatten(1)), f"torchscript {path.name}"


@torch.inference_mode()
def embed_images(features: FeatureFn, images: torch.Tensor, device: torch.device, batch: int = 256) -> torch.Tensor:
    """uint8 NCHW images -> [N, D] float64 features on the CPU."""
    out = [features(to_float(images[i : i + batch]).to(device)).double().cpu() for i in range(0, len(images), batch)]
    return torch.cat(out)


@torch.inference_mode()
def generated_features(
    model: LoadedGenerator,
    features: FeatureFn,
    disorder: str,
    n: int,
    truncation: float,
    batch: int = 64,
    first_seed: int = 0,
) -> torch.Tensor:
    label = model.label_of(disorder)
    seeds = list(range(first_seed, first_seed + n))
    out = [
        features(generate_batch(model, label, seeds[i : i + batch], truncation).float()).double().cpu()
        for i in range(0, n, batch)
    ]
    return torch.cat(out)


def real_features_by_disorder(
    data_dir: Path, resolution: int, features: FeatureFn, device: torch.device
) -> dict[str, torch.Tensor]:
    data = load_image_set(data_dir, resolution, training_only=False)
    return {
        code: embed_images(features, data.images[data.labels == i], device)
        for i, code in enumerate(data.disorders)
        if int((data.labels == i).sum()) > 0
    }


def compare(
    real: dict[str, torch.Tensor],
    other: dict[str, torch.Tensor],
    k: int = DEFAULT_NEIGHBOURS,
    subsets: int = DEFAULT_SUBSETS,
    seed: int = 0,
) -> list[QualityRow]:
    """One row per disorder both sets have (in `other`'s order), then "all" (pooled)."""
    shared = [code for code in other if code in real]
    if not shared:
        raise ValueError(f"no disorder in common: real portraits of {sorted(real)}, generated {sorted(other)}")
    rows = [quality_row(code, real[code], other[code], k, subsets, seed) for code in shared]
    pooled_real = torch.cat([real[c] for c in shared])
    pooled_other = torch.cat([other[c] for c in shared])
    rows.append(quality_row("all", pooled_real, pooled_other, k, subsets, seed))
    return rows


def format_rows(rows: list[QualityRow], scale: float = 1e3) -> str:
    head = f"{'disorder':<12} {'real':>5} {'gen':>5} {'KID x1e3':>9} {'95% range':>17} {'precision':>9} {'recall':>7}"
    lines = [head]
    for r in rows:
        interval = f"[{r.kid_low * scale:.2f}, {r.kid_high * scale:.2f}]"
        lines.append(
            f"{r.group:<12} {r.n_real:>5} {r.n_generated:>5} {r.kid * scale:>9.2f} "
            f"{interval:>17} {r.precision:>9.3f} {r.recall:>7.3f}"
        )
    return "\n".join(lines)
