"""One torchrun worker of the two-process training test: runs `python -m generator train` with the
given arguments, records which checkpoint files this rank wrote, and dumps the training state this
rank holds at the end (so the test can compare the ranks). Not a test module itself.

The step, the checkpoint save and the export are wrapped where the run loop looks them up: in
`generator.training.train`, which imports them from `step` and `state`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from safetensors.torch import save_file

import generator.training.train as training
from generator.cli import main
from generator.training.state import state_tensors
from generator.training.step import Trainer


def run(dump: Path, argv: list[str]) -> None:
    rank = int(os.environ["RANK"])
    writes: list[str] = []
    trainers: list[Trainer] = []
    real_step, real_save, real_export = (
        training.train_step,
        training.save_training_checkpoint,
        training.export_generator,
    )

    def step(t: Trainer) -> dict[str, float]:
        trainers[:] = [t]
        return real_step(t)

    def save(state, path, data, provenance):  # type: ignore[no-untyped-def]
        writes.append(Path(path).name)
        return real_save(state, path, data, provenance)

    def export(state, path, data, provenance):  # type: ignore[no-untyped-def]
        writes.append(Path(path).name)
        return real_export(state, path, data, provenance)

    training.train_step, training.save_training_checkpoint = step, save
    training.export_generator = export
    main(argv)
    tensors, extra = state_tensors(trainers[0].state)
    save_file({k: v.contiguous() for k, v in tensors.items()}, dump / f"rank{rank}.safetensors")
    (dump / f"rank{rank}.json").write_text(json.dumps({"writes": writes, "extra": extra}))


if __name__ == "__main__":
    run(Path(sys.argv[1]), sys.argv[2:])
