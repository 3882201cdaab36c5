"""One-file checkpoints: safetensors tensors plus JSON metadata (config, disorders, provenance).

safetensors holds only tensors, so loading never executes pickled code. The checkpoint id is a
content hash over tensors and metadata, so the same bytes always carry the same id.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT_VERSION = 1
CHECKPOINT_MODE = 0o644
_META_KEY = "gestalt"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Checkpoint:
    kind: str  # "generator" or "classifier"
    config: dict[str, Any]  # network config as JSON
    disorders: list[str]  # class index -> disorder code
    provenance: dict[str, Any]  # how it was made
    extra: dict[str, Any]  # resumable training state that is not a tensor
    checkpoint_id: str  # content hash
    tensors: dict[str, torch.Tensor]

    def with_prefix(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors under `prefix.` with the prefix removed (one module's state dict)."""
        start = prefix + "."
        return {k[len(start) :]: v for k, v in self.tensors.items() if k.startswith(start)}


def content_id(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def save_checkpoint(
    path: Path,
    *,
    kind: str,
    config: dict[str, Any],
    disorders: list[str],
    provenance: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    extra: dict[str, Any] | None = None,
) -> str:
    """Write atomically (temp file + rename, so an interrupted save never leaves half a file)."""
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": config,
        "disorders": list(disorders),
        "provenance": provenance,
        "extra": extra or {},
    }
    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    checkpoint_id = content_id(meta, cpu)
    meta["checkpoint_id"] = checkpoint_id
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(cpu, str(tmp), metadata={_META_KEY: json.dumps(meta, sort_keys=True)})
    # readable by the web server's and the team's accounts whatever the umask; never secret
    os.chmod(tmp, CHECKPOINT_MODE)
    os.replace(tmp, path)
    return checkpoint_id


def load_checkpoint_file(path: Path, expected_kind: str | None = None) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            raw = (fh.metadata() or {}).get(_META_KEY)
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from exc
    if raw is None:
        raise CheckpointError(f"{path}: safetensors file without '{_META_KEY}' metadata; not one of ours")
    meta = json.loads(raw)
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {meta.get('format_version')} but this code reads {FORMAT_VERSION}"
        )
    if expected_kind is not None and meta["kind"] != expected_kind:
        raise CheckpointError(f"{path}: a {meta['kind']} checkpoint, but a {expected_kind} checkpoint is needed")
    stored_id = meta.pop("checkpoint_id")
    actual = content_id(meta, tensors)
    if actual != stored_id:
        raise CheckpointError(
            f"{path}: content hash {actual} does not match stored id {stored_id}; file altered or corrupt"
        )
    return Checkpoint(
        kind=meta["kind"],
        config=meta["config"],
        disorders=meta["disorders"],
        provenance=meta["provenance"],
        extra=meta["extra"],
        checkpoint_id=stored_id,
        tensors=tensors,
    )


def load_module_state(module: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """load_state_dict with an error that says which checkpoint part disagrees with the config."""
    result = module.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"missing {result.missing_keys[:5]}")
    if result.unexpected_keys:
        problems.append(f"unexpected {result.unexpected_keys[:5]}")
    if problems:
        raise CheckpointError(f"{where}: tensors do not match the network config: {'; '.join(problems)}")


def optimizer_to_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], list[Any]]:
    """Flatten an optimizer state dict into tensors plus its JSON-able param groups."""
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"{prefix}.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, sd["param_groups"]


def optimizer_from_tensors(opt: torch.optim.Optimizer, ckpt: Checkpoint, prefix: str, groups: list[Any]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in ckpt.with_prefix(prefix).items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": groups})
