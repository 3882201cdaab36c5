"""The commands around the gates and the inversion write what they promise."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

import phantoms
from generator.cli import main
from generator.gates.facecheck import load_face_check, train_face_check
from generator.gates.pipeline import BUNDLED_CLASSIFIER
from generator.nets.checkpoint import save_checkpoint
from generator.nets.config import PRESETS
from generator.nets.model import load_generator
from generator.nets.networks import Generator
from generator.reports.benchmark import gates_per_second, timing_gates

BUNDLED_GENERATOR = BUNDLED_CLASSIFIER.parent / "generator-demo64.safetensors"


@pytest.fixture(scope="module")
def phantoms64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantoms64")
    phantoms.write_dataset(out, per_class=2, size=64)
    return out


@pytest.fixture
def phantom_tiny_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = Generator(PRESETS["tiny"])
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(
        path,
        kind="generator",
        config=PRESETS["tiny"].to_json(),
        disorders=["quellan", "velmar", "unaffected"],
        provenance={},
        tensors={f"G_ema.{k}": v for k, v in net.state_dict().items()},
    )
    return path


def test_evaluate_writes_the_table_report_and_figure(phantoms64: Path, tmp_path: Path, capsys):
    out = tmp_path / "eval"
    main(
        [
            "evaluate",
            str(BUNDLED_GENERATOR),
            "--per-disorder",
            "4",
            "--data",
            str(phantoms64),
            "--out",
            str(out),
            "--threads",
            "1",
            "--device",
            "cpu",
        ]
    )
    with (out / "gates.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["disorder"] for r in rows] == load_generator(BUNDLED_GENERATOR).disorders
    assert all(r["n"] == "4" and r["privacy_flagged"] != "" and r["fail_case_rate"] != "" for r in rows)
    assert all(int(r["latent_average_rank"]) >= 1 for r in rows)
    report = (out / "gates.md").read_text()
    assert "| disorder | n | fail-case rate | top-1 | top-k | false pass |" in report and "gates.png" in report
    assert (out / "gates.png").stat().st_size > 1000
    assert "privacy flagged" in capsys.readouterr().out


def test_evaluate_without_data_reports_privacy_as_not_run(tmp_path: Path):
    out = tmp_path / "eval"
    main(
        [
            "evaluate",
            str(BUNDLED_GENERATOR),
            "--per-disorder",
            "2",
            "--out",
            str(out),
            "--skip-gates",
            "face",
            "--threads",
            "1",
            "--device",
            "cpu",
        ]
    )
    with (out / "gates.csv").open() as fh:
        row = next(csv.DictReader(fh))
    assert row["privacy_flagged"] == "" and row["fail_case_rate"] == "" and row["top_k"] != ""
    assert "privacy gate: off" in (out / "gates.md").read_text()


def test_invert_writes_reconstructions_losses_and_the_latent_average(
    phantom_tiny_checkpoint: Path, phantom_data: Path, tmp_path: Path, capsys
):
    images = sorted(phantom_data.glob("quellan_*.png"))
    out = tmp_path / "inv"
    main(
        [
            "invert",
            str(phantom_tiny_checkpoint),
            *map(str, images),
            "--disorder",
            "unaffected",
            "--out",
            str(out),
            "--steps",
            "3",
            "--feature-net",
            "none",
            "--w-plus",
            "--fit-pose",
            "--threads",
            "1",
        ]
    )
    for name in ("latent_average.png", "pixel_average.png", "w.safetensors", "losses.csv"):
        assert (out / name).is_file()
    with (out / "losses.csv").open(newline="") as fh:
        losses = list(csv.DictReader(fh))
    assert [row["image"] for row in losses] == [path.name for path in images]
    for row in losses:  # a fitted pose per portrait: three steps move it a little from identity
        assert 0.9 < float(row["scale"]) < 1.1 and abs(float(row["roll_degrees"])) < 5
    assert len(list(out.glob("*_inverted.png"))) == len(images)
    assert "mean loss" in capsys.readouterr().out


def test_invert_study_compares_latent_and_pixel_averages(
    phantom_tiny_checkpoint: Path, phantom_data: Path, tmp_path: Path, capsys
):
    out = tmp_path / "study"
    main(
        [
            "invert-study",
            str(phantom_tiny_checkpoint),
            "--data",
            str(phantom_data),
            "--disorders",
            "dravik",
            "--groups",
            "1",
            "--per-group",
            "2",
            "--steps",
            "2",
            "--out",
            str(out),
            "--threads",
            "1",
        ]
    )
    with (out / "invert-study.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["disorder"] == "dravik" and int(rows[0]["latent_rank"]) >= 1
    assert (out / "invert-study.png").is_file()
    assert "latent top-1" in capsys.readouterr().out


def test_the_benchmark_times_the_gates():
    model = load_generator(BUNDLED_GENERATOR, device="cpu")
    gates, what = timing_gates(model, reference_size=50)
    assert gates.active == ["face", "disorder", "privacy"] and "50 training" in what
    assert gates_per_second(model, gates, n=4, batch=4) > 0


def test_the_face_check_trains_and_loads(phantom_data: Path, tmp_path: Path):
    path = tmp_path / "face.safetensors"
    _, rates = train_face_check(phantom_data, path, epochs=1, batch=4)
    assert set(rates) == {"faces_passing", "non_faces_passing"}
    detector = load_face_check(path)
    assert detector.confidence(torch.zeros(2, 3, 16, 16)).shape == (2,)


def test_the_default_disorder_gate_is_not_the_classifier_the_generator_trained_against():
    # a generator trained with a GestaltLoss learns to please that classifier, so the gate
    # judging a phantom checkpoint must be another one: the judge, trained on other individuals
    from generator.gates.pipeline import BUNDLED_JUDGE, build_gates
    from generator.nets.checkpoint import load_checkpoint_file

    model = load_generator(BUNDLED_GENERATOR, device="cpu")
    gates, notes = build_gates(model.disorders, model.config.resolution, torch.device("cpu"), skip=frozenset({"face"}))
    judge = load_checkpoint_file(BUNDLED_JUDGE, expected_kind="classifier")
    gestalt = load_checkpoint_file(BUNDLED_CLASSIFIER, expected_kind="classifier")
    assert gates.classifier is not None and judge.checkpoint_id in gates.classifier.name
    assert judge.checkpoint_id != gestalt.checkpoint_id
    trained_against = load_checkpoint_file(BUNDLED_GENERATOR).provenance["classifier"]
    assert trained_against is None or Path(trained_against).name != BUNDLED_JUDGE.name
    assert any(judge.checkpoint_id in note for note in notes)
