"""KID and precision / recall: unbiased where they should be, growing and falling as sets drift
apart, and equal to the textbook formulas written out the slow way."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.cli import main
from generator.reports.metrics import (
    kid,
    knn_radii,
    mmd2_unbiased,
    polynomial_kernel,
    precision_recall,
)

BUNDLED_GENERATOR = Path(__file__).resolve().parents[2] / "fixtures/models/generator-demo64.safetensors"


def _gauss(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def _mmd2_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Bińkowski et al.'s unbiased estimator, eq. (3), one kernel evaluation at a time."""
    d = x.shape[1]

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_the_vectorised_kid_estimator_equals_the_formula_written_out():
    x, y = _gauss(7, 3, 0).numpy(), _gauss(5, 3, 1, shift=0.7).numpy()
    assert mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(_mmd2_by_loops(x, y), rel=1e-12)
    # and the kernel matrix itself, against one entry computed by hand
    a, b = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    assert float(polynomial_kernel(torch.from_numpy(a), torch.from_numpy(b))) == pytest.approx(
        ((3.0 - 2.0) / 2 + 1) ** 3
    )


def test_kid_between_two_samples_of_one_distribution_is_unbiased():
    # 200 independent pairs of samples of one distribution: the estimates scatter around 0,
    # some negative, their mean within 3 standard errors of 0
    values = np.array([mmd2_unbiased(_gauss(40, 8, 2 * i), _gauss(40, 8, 2 * i + 1)) for i in range(200)])
    assert (values < 0).any() and (values > 0).any()
    assert abs(values.mean()) < 3 * values.std() / np.sqrt(len(values))
    # the biased (V-statistic) version would sit clearly above 0: the diagonal is what is left out
    x = _gauss(40, 8, 0)
    assert mmd2_unbiased(x, x) < 0 < mmd2_unbiased(x, _gauss(40, 8, 1, shift=1.0))


def test_kid_of_a_set_against_itself_is_near_zero_and_grows_with_a_shift():
    x = _gauss(300, 16, 0)
    halves = kid(x[:150], x[150:], subsets=30)  # two halves of one set: 0 inside the interval
    assert halves.low < 0 < halves.high
    # the set against itself: subsets share points, whose k(x, x) enters the cross term only,
    # so the estimate sits a little below 0; small next to what a shift of half a s.d. gives
    same = kid(x, x, subsets=30)
    values = [kid(x, _gauss(300, 16, 1, shift=s), subsets=30).value for s in (0.0, 0.25, 0.5, 1.0)]
    assert same.value <= 0 and abs(same.value) < 0.1 * values[2]
    assert values == sorted(values) and values[0] < values[1] / 3
    assert same.low <= same.value <= same.high and same.subset_size == 150


def test_kid_refuses_subsets_larger_than_a_set():
    with pytest.raises(ValueError, match="subset size"):
        kid(_gauss(10, 2, 0), _gauss(5, 2, 1), subset_size=6)


def test_precision_and_recall_are_one_on_identical_sets_and_zero_on_disjoint_ones():
    x = _gauss(100, 4, 0)
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, _gauss(100, 4, 1, shift=50.0)) == (0.0, 0.0)


def test_a_collapsed_generator_keeps_precision_and_loses_recall():
    real = _gauss(200, 4, 0)
    collapsed = real[:10].repeat(20, 1) + 1e-3 * _gauss(200, 4, 2)  # ten modes only
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.9 and recall < 0.3


def _coverage_by_loops(queries: np.ndarray, support: np.ndarray, k: int) -> float:
    radii = []
    for i, p in enumerate(support):
        others = sorted(np.linalg.norm(p - q) for j, q in enumerate(support) if j != i)
        radii.append(others[k - 1])
    inside = [any(np.linalg.norm(q - p) <= r for p, r in zip(support, radii)) for q in queries]
    return sum(inside) / len(queries)


def test_precision_recall_equal_the_definition_written_out():
    real, fake = _gauss(30, 3, 0).numpy(), _gauss(25, 3, 1, shift=0.8).numpy()
    precision, recall = precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=3)
    assert precision == pytest.approx(_coverage_by_loops(fake, real, 3))
    assert recall == pytest.approx(_coverage_by_loops(real, fake, 3))
    assert torch.allclose(knn_radii(torch.tensor([[0.0], [1.0], [3.0]]), 1), torch.tensor([1.0, 1.0, 2.0]).double())


def test_metrics_command_reports_every_disorder_and_all(tmp_path: Path, capsys):
    import phantoms

    data = tmp_path / "real"
    phantoms.write_dataset(data, per_class=4, size=64)
    main(["metrics", str(BUNDLED_GENERATOR), "--data", str(data), "--subsets", "5",
          "--json", str(tmp_path / "m.json"), "--threads", "1", "--device", "cpu"])  # fmt: skip
    rows = json.loads((tmp_path / "m.json").read_text())
    assert [r["group"] for r in rows][-1] == "all" and len(rows) == 10
    assert all(r["n_real"] == r["n_generated"] == 4 for r in rows[:-1])
    assert all(0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 for r in rows)
    assert "KID x1e3" in capsys.readouterr().out


class _ScriptedFeatures(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :5]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_users_torchscript_feature_network_gives_its_features(tmp_path: Path):
    from generator.reports.metrics import feature_network

    path = tmp_path / "features.pt"
    torch.jit.script(_ScriptedFeatures()).save(str(path))
    features, name = feature_network(path, torch.device("cpu"))
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    assert torch.equal(features(x), x.flatten(1)[:, :5]) and "features.pt" in name
    with pytest.raises(ValueError, match="no such file"):
        feature_network(tmp_path / "nope.pt", torch.device("cpu"))
