"""Every user mistake in `python -m generator ...` is one line on stderr and exit status 2, and
checkpoints are readable by other accounts (0644) whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from generator.cli import main
from generator.nets.checkpoint import save_checkpoint

BUNDLED_GENERATOR = Path(__file__).resolve().parents[2] / "fixtures/models/generator-demo64.safetensors"


def _fails_in_one_line(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line and not line.startswith("device: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_an_unknown_disorder(tmp_path: Path, capsys):
    line = _fails_in_one_line(
        [
            "sample",
            str(BUNDLED_GENERATOR),
            "--disorder",
            "zeta",
            "--out",
            str(tmp_path),
            "--threads",
            "1",
        ],
        capsys,
    )
    assert "disorder 'zeta' is not in checkpoint" in line and "velmar" in line


def test_a_missing_checkpoint(tmp_path: Path, capsys):
    line = _fails_in_one_line(
        ["sample", str(tmp_path / "nope.safetensors"), "--disorder", "x", "--out", str(tmp_path)],
        capsys,
    )
    assert "nope.safetensors: no such checkpoint file" in line


def test_a_file_that_is_no_checkpoint(tmp_path: Path, capsys):
    bad = tmp_path / "network-snapshot-000000.pkl"
    bad.write_bytes(b"\x80\x04not safetensors at all")
    line = _fails_in_one_line(["evaluate", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert "not a readable safetensors checkpoint" in line


@pytest.mark.parametrize("seeds", ["5-2", "1,1", "a-b", "-3"])
def test_bad_seed_ranges(seeds: str, tmp_path: Path, capsys):
    line = _fails_in_one_line(
        [
            "sample",
            str(BUNDLED_GENERATOR),
            "--disorder",
            "velmar",
            "--seeds",
            seeds,
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert "seed" in line


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--face-threshold", "1.5"], "face threshold"),
        (["--top-k", "0"], "top k"),
        (["--per-disorder", "0"], "--per-disorder must be at least 1"),
        (["--face-calibration", "/nonexistent/cal.json"], "face calibration"),
        (["--classifier", "/nonexistent/clf.pt"], "no such file"),
    ],
)
def test_bad_gate_options(extra: list[str], words: str, tmp_path: Path, capsys):
    line = _fails_in_one_line(["evaluate", str(BUNDLED_GENERATOR), "--out", str(tmp_path), *extra], capsys)
    assert words in line


def test_a_usage_mistake_is_one_line_too(capsys):
    line = _fails_in_one_line(["sample"], capsys)
    assert "required" in line and "--help" in line
    line = _fails_in_one_line(["evaluate", str(BUNDLED_GENERATOR), "--per-disorder", "many"], capsys)
    assert "invalid int value" in line


def test_recompute_w_avg_refuses_to_overwrite_its_input(capsys):
    line = _fails_in_one_line(["recompute-w-avg", str(BUNDLED_GENERATOR), "--out", str(BUNDLED_GENERATOR)], capsys)
    assert "write a new file" in line


def test_checkpoints_are_written_0644_whatever_the_umask(tmp_path: Path):
    old = os.umask(0o077)
    try:
        save_checkpoint(tmp_path / "c.safetensors", kind="classifier", config={}, disorders=["a"],
                        provenance={}, tensors={"x": torch.zeros(1)})  # fmt: skip
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "c.safetensors").stat().st_mode) == 0o644
