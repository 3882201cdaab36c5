"""`python -m generator COMMAND`: train, train-classifier, train-face-check, sample, evaluate,
evaluate-classes, invert, invert-study, grid, averages, realism, import-nvlabs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from generator.cli import (
    averages,
    classifiers,
    gates,
    invert,
    invert_study,
    metrics,
    nvlabs,
    realism,
    sample,
    train,
)

# Each adds its command's sub-parser, whose `func` runs it; in the order `--help` lists them.
COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    train.register,
    classifiers.register_classifier,
    classifiers.register_face_check,
    sample.register_sample,
    gates.register_evaluate,
    metrics.register_metrics,
    averages.register_recompute_w_avg,
    gates.register_calibrate_face,
    metrics.register_evaluate_classes,
    invert.register,
    invert_study.register,
    sample.register_grid,
    averages.register_averages,
    nvlabs.register,
    realism.register,
)


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes as one line on stderr and exit status 2 (argparse prints the usage too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m generator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run one command. A user's mistake (a bad value, a missing or unreadable file, a checkpoint
    that does not fit) is one line on stderr and exit status 2; GENERATOR_TRACEBACK=1 shows the
    traceback instead, for a bug report."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError) as error:  # CheckpointError and NVlabsError are ValueErrors
        if os.environ.get("GENERATOR_TRACEBACK"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"python -m generator {args.command}: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
