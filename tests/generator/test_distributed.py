"""Training over several processes (torchrun, gloo on CPU): the ranks agree, rank 0 alone writes,
and the result is one process's with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from generator.nets.checkpoint import load_checkpoint_file
from generator.nets.config import PRESETS, TrainConfig
from generator.training.state import EXPORT, LATEST
from generator.training.train import LOG, run_training

pytestmark = pytest.mark.slow  # three Python processes start (torchrun and two ranks)
TINY = PRESETS["tiny"]
REPO = Path(__file__).resolve().parents[2]
# every option that keeps state across processes is on: R1 (step 0), style mixing, path length
# regularisation (its running mean) and ADA (its r_t and p)
OPTIONS = {
    "batch": 8,
    "checkpoint_every": 1,
    "unaffected_factor": 2.0,
    "style_mixing": 0.5,
    "pl_weight": 2.0,
    "pl_interval": 1,
    "ada_target": 0.6,
    "ada_interval": 1,
    "ada_speed_images": 100,
}
# 1 process with 2 shards of 4 images = 2 processes with 1 shard of 4: the same global batch
ONE_PROCESS = TrainConfig(**OPTIONS, batch_gpu=4)  # type: ignore[arg-type]
# summing the gradients of two shards in one process or over gloo rounds differently: ~1e-7
TOLERANCE = 1e-5


def _flags() -> list[str]:
    return [a for k, v in OPTIONS.items() for a in (f"--{k.replace('_', '-')}", str(v))]


@pytest.fixture(scope="module")
def two_processes(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Two steps of `torchrun --nproc_per_node 2 -m generator train` on CPU; each rank's state and
    the files it wrote are dumped beside the run folder."""
    root = tmp_path_factory.mktemp("two-processes")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    command += [str(REPO / "tests/generator/ddp_worker.py"), str(root), "train", str(phantom_data)]
    command += ["--config", "tiny", "--out", str(root / "out"), "--steps", "2", "--device", "cpu"]
    command += ["--threads", "1", *_flags()]
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return root, done.stderr


def _assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name, tensor in a.items():
        assert torch.allclose(tensor, b[name], atol=TOLERANCE, rtol=0), name


def test_both_ranks_hold_the_same_weights_and_only_rank_0_writes(
    two_processes: tuple[Path, str],
) -> None:
    root, stderr = two_processes
    assert "world size 2" in stderr
    rank0, rank1 = load_file(root / "rank0.safetensors"), load_file(root / "rank1.safetensors")
    for name, tensor in rank0.items():  # G, D, G_ema, both optimisers, the class w averages
        assert torch.equal(tensor, rank1[name]), name
    info0 = json.loads((root / "rank0.json").read_text())
    info1 = json.loads((root / "rank1.json").read_text())
    assert info0["extra"] == info1["extra"]  # step, ADA's p and r_t sums, the path-length mean
    assert info0["writes"] == [LATEST, LATEST, EXPORT] and info1["writes"] == []
    assert sorted(p.name for p in (root / "out").iterdir()) == sorted([EXPORT, LATEST, LOG])


def test_two_processes_train_what_one_process_trains_with_the_same_global_batch(
    two_processes: tuple[Path, str], phantom_data: Path, tmp_path: Path
) -> None:
    root, _ = two_processes
    run_training(phantom_data, tmp_path, TINY, ONE_PROCESS, steps=2)
    one, two = load_checkpoint_file(tmp_path / LATEST), load_checkpoint_file(root / "out" / LATEST)
    _assert_close(one.tensors, two.tensors)
    assert one.extra["pl_mean"] == pytest.approx(two.extra["pl_mean"], abs=TOLERANCE)
    assert one.provenance["world_size"] == 1 and two.provenance["world_size"] == 2
    curve = [json.loads(line) for line in (tmp_path / LOG).read_text().splitlines()]
    curve2 = [json.loads(line) for line in (root / "out" / LOG).read_text().splitlines()]
    assert [c["step"] for c in curve] == [c["step"] for c in curve2] == [1, 2]
    for a, b in zip(curve, curve2, strict=True):
        assert a.keys() == b.keys() and "r1" in curve[0] and "pl_penalty" in a
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=TOLERANCE), key


def test_a_two_process_run_resumes_on_one_process(
    two_processes: tuple[Path, str], phantom_data: Path, tmp_path: Path
) -> None:
    root, _ = two_processes
    shutil.copytree(root / "out", tmp_path / "resumed")
    resumed = run_training(phantom_data, tmp_path / "resumed", TINY, ONE_PROCESS, steps=3)
    straight = run_training(phantom_data, tmp_path / "straight", TINY, ONE_PROCESS, steps=3)
    _assert_close(load_checkpoint_file(resumed).tensors, load_checkpoint_file(straight).tensors)
    assert len((tmp_path / "resumed" / LOG).read_text().splitlines()) == 3


def test_a_batch_that_does_not_split_over_the_processes_is_refused() -> None:
    assert TrainConfig(batch=8).shards(2) == (4, 1)
    assert TrainConfig(batch=8, batch_gpu=2).shards(2) == (2, 2)
    with pytest.raises(ValueError, match="does not split"):
        TrainConfig(batch=6).shards(4)
    with pytest.raises(ValueError, match="does not split"):
        TrainConfig(batch=8, batch_gpu=3).shards(1)
