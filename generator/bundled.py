"""Where the bundled models live: the one place that knows.

The repository ships small phantom models in `fixtures/models` (the demo generator, the GestaltLoss
classifier, the phantom judge, the face check and its calibration). A deployment that keeps them
elsewhere sets `GENERATOR_MODELS_DIR`; every default path (the gates', the CLI's, `build_demo`'s)
comes from `model_path`. Pure standard library, so the survey's management commands may import it cheaply.
"""

from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR_ENV = "GENERATOR_MODELS_DIR"
# the repository's own copy, beside this package
REPOSITORY_MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"


def models_dir() -> Path:
    """`GENERATOR_MODELS_DIR` when set (and not empty), else the repository's `fixtures/models`."""
    configured = os.environ.get(MODELS_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else REPOSITORY_MODELS


def model_path(name: str) -> Path:
    """The bundled model file `name` (e.g. "judge-demo64.safetensors"); it need not exist."""
    if not name or Path(name).name != name:
        raise ValueError(f"bundled model name {name!r}: give a file name, not a path")
    return models_dir() / name
