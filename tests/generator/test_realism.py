"""Pixel-statistics realism: does a simple classifier on cheap statistics tell real from synthetic?"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import phantoms
from generator.reports import realism

CODES = [d.code for d in phantoms.DISORDERS[:4]]


@pytest.fixture(scope="module")
def portraits() -> dict[tuple[str, int], Image.Image]:
    return {(c, i): phantoms.render_portrait(c, i, 64) for c in CODES for i in range(16)}


def _split(portraits, blur: float | None = None):
    real, synthetic, real_groups, synthetic_groups = [], [], [], []
    for (code, i), image in sorted(portraits.items()):
        if i % 2 == 0:
            real.append(image)
            real_groups.append(code)
        else:
            synthetic.append(image.filter(ImageFilter.GaussianBlur(blur)) if blur else image)
            synthetic_groups.append(code)
    return real, synthetic, real_groups, synthetic_groups


def test_sharp_against_blurred_is_given_away(portraits):
    report = realism.measure(*_split(portraits, blur=1.5), n_questions=500, permutations=10)
    assert report.n_real == report.n_synthetic == 32
    assert report.auc > 0.95 and report.ci_low > 0.85
    rates = {row.name: row for row in report.statistics}
    assert rates["laplacian_variance"].pick_rate > 0.9 and rates["laplacian_variance"].pick_rule == "highest"
    assert rates["jpeg_length"].pick_rate > 0.9 and rates["jpeg_length"].pick_rule == "highest"
    assert "AUC" in report.summary() and "jpeg_length" in report.table()


def test_identical_distributions_give_nothing_away(portraits):
    # Real and "synthetic" are alternate individuals of one renderer: the same distribution.
    report = realism.measure(*_split(portraits), n_questions=1000, permutations=20)
    assert abs(report.auc - 0.5) < 0.15
    assert report.ci_low <= 0.5 <= report.ci_high
    assert report.worst_statistic.pick_rate <= max(0.5, report.chance_best_pick_rate)
    for row in report.statistics:
        assert 0.0 <= row.pick_rate <= 1.0 and row.pick_rule in realism.PICK_RULES


def test_auc_and_delong_interval_on_known_scores():
    assert realism.auc_with_interval([3, 4, 5], [0, 1, 2]) == (1.0, 1.0, 1.0)
    assert realism.auc_with_interval([0, 1], [2, 3])[0] == 0.0
    assert realism.auc_with_interval([1, 1], [1, 1])[0] == 0.5
    auc, low, high = realism.auc_with_interval([1, 3, 5, 7], [2, 4, 6, 0])
    assert auc == pytest.approx(10 / 16) and low < auc < high


def test_pick_rules_and_ties():
    values = np.array([[9.0, 1, 2, 3], [0.0, 5, 6, 7], [5.0, 5, 1, 1]])
    assert realism._pick_weights(values, "highest").tolist() == [1.0, 0.0, 0.5]
    assert realism._pick_weights(values, "lowest").tolist() == [0.0, 1.0, 0.0]
    assert realism._pick_weights(values, "odd one out")[:2].tolist() == [1.0, 1.0]


def test_questions_stay_within_a_disorder():
    questions = realism.draw_questions(["a", "b", "c"], ["a"] * 3 + ["b"] * 4 + ["c"] * 2, 200, seed=1)
    groups = np.array(["a"] * 3 + ["b"] * 4 + ["c"] * 2)
    assert set(questions[:, 0]) == {0, 1}  # "c" has too few synthetic portraits to ask about
    for row in questions:
        assert len(set(row[1:])) == 3 and set(groups[row[1:]]) == {["a", "b"][row[0]]}


def test_the_module_never_imports_torch():
    code = "import generator.reports.realism, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_the_command_reads_two_folders(portraits, tmp_path, capsys):
    from generator.cli import main

    for (code, i), image in portraits.items():
        folder = tmp_path / ("real" if i % 2 == 0 else "synthetic")
        folder.mkdir(exist_ok=True)
        (image.filter(ImageFilter.GaussianBlur(1.5)) if i % 2 else image).save(folder / f"{code}_{i:03d}.png")
    main(
        [
            "realism",
            "--real",
            str(tmp_path / "real"),
            "--synthetic",
            str(tmp_path / "synthetic"),
            "--questions",
            "300",
        ]
    )
    out = capsys.readouterr().out
    assert "leave-one-out AUC 1.000" in out and "laplacian_variance" in out


def test_the_command_reads_a_manifest(tmp_path, capsys):
    from generator.cli import main

    manifest = phantoms.write_dataset(tmp_path, per_class=4, size=32)
    lines = manifest.read_text().splitlines()
    # every other row becomes "synthetic" (same renderer, so nothing to find)
    manifest.write_text(
        "\n".join(
            [
                lines[0],
                *(line.replace(",real,", ",synthetic,") if n % 2 else line for n, line in enumerate(lines[1:])),
            ]
        )
        + "\n"
    )
    main(["realism", str(tmp_path), "--questions", "200", "--json"])
    out = capsys.readouterr().out
    assert '"auc"' in out and '"statistics"' in out
