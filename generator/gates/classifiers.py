"""Disorder classifiers behind one interface: logits for the disorder gate, an embedding for the
privacy gate, feature maps for the inversion's feature loss."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from generator.nets.layers import check_shape
from generator.training.classifier import LoadedClassifier, load_classifier


@runtime_checkable
class DisorderClassifier(Protocol):
    """Input contract of every method: float RGB images [N, 3, H, W] in [-1, 1] on `device`.

    `disorders` names the logits' columns; `embed` returns [N, D] unit-length features (nearest-
    neighbour distances are taken there); `feature_maps` returns the maps a feature loss compares.
    """

    name: str
    disorders: list[str]
    device: torch.device

    def logits(self, images: torch.Tensor) -> torch.Tensor: ...

    def embed(self, images: torch.Tensor) -> torch.Tensor: ...

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]: ...


class PhantomDisorderClassifier:
    """A phantom classifier (the bundled GestaltLoss classifier or the judge): its last stage's
    feature map, flattened, is the embedding (flattened rather than pooled, because where a
    feature sits is what tells phantoms apart)."""

    def __init__(self, loaded: LoadedClassifier, device: torch.device) -> None:
        self.net = loaded.net.to(device)
        self.disorders = list(loaded.disorders)
        self.name = f"phantom-classifier {loaded.checkpoint_id}"
        self.checkpoint_id = loaded.checkpoint_id
        self.device = device

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net.stage_outputs(images)[-1].flatten(1), dim=1)

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.net.stage_outputs(images)


class TorchScriptDisorderClassifier:
    """A study's own classifier as a TorchScript file. Contract of the scripted module:

    - `forward(x)`: x float [N, 3, H, W] RGB in [-1, 1] at the generator's resolution (resize
      inside the module if it needs another size) -> logits [N, C];
    - attribute `disorders: List[str]`, the C disorder codes in logit order;
    - optional method `features(x)` -> [N, D]; without it the logits serve as the embedding
      (a weaker privacy gate: logits say little about who a portrait shows).
    """

    def __init__(self, path: Path, device: torch.device) -> None:
        try:
            self.module = torch.jit.load(str(path), map_location=device).eval()
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"{path}: not a TorchScript classifier ({error})") from None
        codes = getattr(self.module, "disorders", None)
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ValueError(f"{path}: the scripted module needs a `disorders: List[str]` attribute")
        self.disorders = list(codes)
        self.name = f"torchscript {Path(path).name}"
        self.device = device
        self._has_features = hasattr(self.module, "features")

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        check_shape("classifier images", images, (None, 3, None, None))
        out = self.module(images)
        check_shape("classifier logits", out, (images.shape[0], len(self.disorders)))
        return out

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        out = self.module.features(images) if self._has_features else self.module(images)
        return F.normalize(out.flatten(1).float(), dim=1)

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.embed(images)]


def load_disorder_classifier(path: Path, device: torch.device | str = "cpu") -> DisorderClassifier:
    """A phantom classifier checkpoint (.safetensors) or a TorchScript file (.pt, .ts, .jit)."""
    device = torch.device(device)
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"classifier {path}: no such file")
    if path.suffix == ".safetensors":
        return PhantomDisorderClassifier(load_classifier(path, device), device)
    return TorchScriptDisorderClassifier(path, device)


def target_ranks(logits: torch.Tensor, target: int) -> torch.Tensor:
    """1-based rank of class `target` in each row (1 = the classifier's top choice); ties rank
    the target first, as a sort would be arbitrary about them."""
    check_shape("logits", logits, (None, None))
    return (logits > logits[:, target : target + 1]).sum(dim=1) + 1
