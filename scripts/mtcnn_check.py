"""Checks the MTCNN face gate against the real facenet-pytorch on one photograph and on non-faces.

Run where the optional extra is installed (see "Gates and GAN inversion" in docs/generator.md) and
scikit-image is present, from the repository root:

    python scripts/mtcnn_check.py [PHANTOM_DIR]

The photograph is scikit-image's bundled `astronaut` (a public-domain NASA portrait, loaded from the
installed package, never stored here). A working gate scores its face crop at or above 0.999 and
every non-face at 0. PHANTOM_DIR, a folder `python -m phantoms` wrote, adds a few phantoms: drawn
faces, which MTCNN was not trained on, so their scores show why phantom studies use the phantom
face check instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.gates.face import PAPER_RETINAFACE_THRESHOLD, MTCNNFaceDetector

SIDE = 256


def to_model_input(pixels: np.ndarray, side: int = SIDE) -> torch.Tensor:
    """HWC uint8 -> [1, 3, side, side] float in [-1, 1], the face gate's input contract."""
    image = Image.fromarray(pixels).convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    array = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()
    return (array / 127.5 - 1)[None]


def samples(phantom_dir: Path | None) -> list[tuple[str, torch.Tensor, bool]]:
    from skimage import data

    astronaut = data.astronaut()
    rng = np.random.default_rng(0)
    out = [
        ("photograph: astronaut, face crop", to_model_input(astronaut[0:260, 120:380]), True),
        (
            "photograph: astronaut, face crop, 64 px",
            to_model_input(astronaut[0:260, 120:380], 64),
            True,
        ),
        ("photograph: astronaut, whole frame", to_model_input(astronaut), True),
        ("uniform noise", to_model_input(rng.integers(0, 256, (SIDE, SIDE, 3), np.uint8)), False),
        ("flat grey", to_model_input(np.full((SIDE, SIDE, 3), 128, np.uint8)), False),
        ("photograph without a face: coffee", to_model_input(data.coffee()), False),
    ]
    if phantom_dir is not None:
        for path in sorted(phantom_dir.glob("*.png"))[:6]:
            out.append((f"phantom {path.name}", to_model_input(np.asarray(Image.open(path))), True))
    return out


def main() -> int:
    phantom_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    detector = MTCNNFaceDetector()
    print(f"MTCNN parameters: {detector.params}")
    failures = 0
    for name, image, is_face in samples(phantom_dir):
        score = float(detector.confidence(image)[0])
        passes = score >= PAPER_RETINAFACE_THRESHOLD
        expected = "" if name.startswith("phantom") else ("ok" if passes == is_face else "WRONG")
        failures += expected == "WRONG"
        print(f"{name:<40} {score:9.6f}  {'passes' if passes else 'fail-case':<9} {expected}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
