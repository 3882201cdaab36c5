"""Read NVlabs StyleGAN2-ADA / StyleGAN3 `network-snapshot-*.pkl` files as data, never as code.

NVlabs pickles each network with the source of its module (torch_utils.persistence); unpickling
normally `exec`s that source. Here a restricted unpickler resolves only an allow-list of globals and
turns every persistent object into an inert `PersistentRecord`; the embedded source is hashed, not run.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:  # numpy 2 moved the pickling helpers; snapshots name either module
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    # mypy cannot type a fallback import that binds the same name to another module
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]


class NVlabsError(ValueError):
    """A snapshot that cannot be read or converted as asked; the message says why."""


class _PlainDict(dict):
    """Stand-in for dnnlib's EasyDict: a dict, accepting (and dropping) an empty instance state."""

    def __setstate__(self, state: Any) -> None:
        if state:
            self.update(state)


@dataclass(frozen=True)
class PersistentRecord:
    """One pickled NVlabs module, as data: what it was built with and the tensors it held."""

    class_name: str  # e.g. "Generator", "MappingNetwork", "SynthesisLayer"
    module_name: str | None  # NVlabs' meta carries none; kept when a writer adds one
    source_sha256: str  # hash of the embedded module source, which is never executed
    version: int | None  # torch_utils.persistence format version
    init_args: tuple[Any, ...]
    init_kwargs: dict[str, Any]
    parameters: dict[str, torch.Tensor | None]
    buffers: dict[str, torch.Tensor | None]
    modules: dict[str, PersistentRecord | None]
    attributes: dict[str, Any] = field(default_factory=dict)  # the rest of the module's __dict__

    def named_tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Every parameter and buffer under its state-dict name ("mapping.fc0.weight")."""
        out = {prefix + k: v for k, v in {**self.parameters, **self.buffers}.items() if v is not None}
        for name, child in self.modules.items():
            if child is not None:
                out.update(child.named_tensors(f"{prefix}{name}."))
        return out

    def child(self, path: str) -> PersistentRecord:
        record: PersistentRecord = self
        for part in path.split("."):
            nxt = record.modules.get(part)
            if nxt is None:
                raise NVlabsError(f"{record.class_name} has no submodule {part!r} (looking for {path})")
            record = nxt
        return record


_STATE_KEYS = {"_parameters", "_buffers", "_modules", "_init_args", "_init_kwargs"}


def _record_from_meta(meta: Any) -> PersistentRecord:
    """Replaces torch_utils.persistence._reconstruct_persistent_obj: keeps the meta, runs nothing."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise NVlabsError("persistent object whose meta is not a {'type': 'class', ...} dict")
    class_name, source, state = meta.get("class_name"), meta.get("module_src"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(source, str) or not isinstance(state, dict):
        raise NVlabsError(f"persistent object {class_name!r}: meta lacks class_name, module_src or state")

    def tensors(key: str) -> dict[str, torch.Tensor | None]:
        items = dict(state.get(key) or {})
        for name, value in items.items():
            if value is not None and not torch.is_tensor(value):
                raise NVlabsError(f"{class_name}.{key}[{name!r}] is a {type(value).__name__}, not a tensor")
        return items

    modules = dict(state.get("_modules") or {})
    for name, value in modules.items():
        if value is not None and not isinstance(value, PersistentRecord):
            raise NVlabsError(f"{class_name}._modules[{name!r}] is not an NVlabs persistent module")
    return PersistentRecord(
        class_name=class_name,
        module_name=meta.get("module_name") if isinstance(meta.get("module_name"), str) else None,
        source_sha256=hashlib.sha256(source.encode("utf-8")).hexdigest(),
        version=meta.get("version"),
        init_args=tuple(state.get("_init_args") or ()),
        init_kwargs=_plain(state.get("_init_kwargs") or {}),
        parameters=tensors("_parameters"),
        buffers=tensors("_buffers"),
        modules=modules,
        attributes={k: v for k, v in state.items() if k not in _STATE_KEYS and not k.endswith("hooks")},
    )


def _storage_from_bytes(data: bytes) -> Any:
    """Replaces torch.storage._load_from_bytes, which unpickles with weights_only=False."""
    if not isinstance(data, bytes):
        raise NVlabsError("storage payload is not bytes")
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise NVlabsError(f"refusing a tensor storage that holds more than tensor data ({exc})") from exc


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *_: Any) -> torch.Tensor:
    if not isinstance(storage, torch.storage.TypedStorage | torch.UntypedStorage):
        raise NVlabsError(f"tensor rebuilt from a {type(storage).__name__}, not a storage")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())


def _rebuild_parameter(data: Any, *_: Any) -> torch.Tensor:
    if not torch.is_tensor(data):
        raise NVlabsError(f"parameter rebuilt from a {type(data).__name__}, not a tensor")
    return data.detach()


def _rebuild_from_type(func: Any, kind: Any, args: tuple, _state: Any) -> torch.Tensor:
    if func is not _rebuild_tensor or kind not in (torch.Tensor, torch.nn.Parameter):
        raise NVlabsError(f"refusing a tensor of type {kind!r}")
    return func(*args)


_NUMPY = {
    (mod, name): target
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name, target in (
        ("_reconstruct", _multiarray._reconstruct),
        ("scalar", _multiarray.scalar),
    )
}
_DTYPES = {
    ("torch", name): getattr(torch, name)
    for name in (
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "bool",
    )
}
# Everything an NVlabs snapshot needs, and nothing that can run code: a tensor, a storage read with
# torch's weights-only loader, numpy arrays and scalars, plain containers, the persistence hook.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _record_from_meta,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch", "Tensor"): torch.Tensor,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("dnnlib.util", "EasyDict"): _PlainDict,
    ("dnnlib", "EasyDict"): _PlainDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **_NUMPY,
    **_DTYPES,
}


class _SnapshotUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        target = ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise NVlabsError(f"refusing to load {module}.{name}: not a tensor or a plain container")
        return target


def _plain(value: Any) -> Any:
    """Containers as plain dicts/lists, numpy values as Python numbers (JSON-able unless a tensor)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class NVlabsSnapshot:
    path: Path
    sha256: str  # of the snapshot file
    networks: dict[str, PersistentRecord]  # "G", "D", "G_ema" (and "augment_pipe" when present)
    training_set_kwargs: dict[str, Any]

    @property
    def g_ema(self) -> PersistentRecord:
        if "G_ema" not in self.networks:
            raise NVlabsError(f"{self.path}: no G_ema in the snapshot (keys: {sorted(self.networks)})")
        return self.networks["G_ema"]


def read_snapshot(path: Path) -> NVlabsSnapshot:
    """Unpickle an NVlabs snapshot with the allow-list; raises NVlabsError naming what was refused."""
    path = Path(path)
    if not path.is_file():
        raise NVlabsError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        top = _SnapshotUnpickler(io.BytesIO(data)).load()
    except NVlabsError as exc:
        raise NVlabsError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or foreign files raise many pickle/torch error types
        raise NVlabsError(f"{path}: not a readable NVlabs snapshot ({type(exc).__name__}: {exc})") from exc
    if not isinstance(top, dict):
        raise NVlabsError(f"{path}: expected a dict with G, D, G_ema; found a {type(top).__name__}")
    networks = {k: v for k, v in top.items() if isinstance(v, PersistentRecord)}
    if "G_ema" not in networks:
        raise NVlabsError(f"{path}: no G_ema network in the snapshot (keys: {sorted(map(str, top))})")
    return NVlabsSnapshot(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        networks=networks,
        training_set_kwargs=_plain(top.get("training_set_kwargs") or {}),
    )


def architecture(g: PersistentRecord) -> str:
    """ "StyleGAN3-T", "StyleGAN3-R", "StyleGAN2" (skip/resnet/orig) or "unknown (...)"."""
    synthesis = g.modules.get("synthesis")
    if synthesis is None:
        return "unknown (no synthesis network)"
    children = {name: rec.class_name for name, rec in synthesis.modules.items() if rec is not None}
    if children.get("input") == "SynthesisInput":
        radial = g.init_kwargs.get("use_radial_filters", synthesis.init_kwargs.get("use_radial_filters"))
        return "StyleGAN3-R" if radial else "StyleGAN3-T"
    if children.get("b4") == "SynthesisBlock":
        b4 = synthesis.modules["b4"]
        assert b4 is not None  # children lists only the submodules that are present
        kind = b4.init_kwargs.get("architecture", "skip")
        return f"StyleGAN2 ({kind})"
    return f"unknown (synthesis submodules {sorted(children)})"


def describe(snapshot: NVlabsSnapshot) -> dict[str, Any]:
    """The generator's init kwargs and what the pickle holds, as JSON."""
    g = snapshot.g_ema
    kwargs = {k: v for k, v in g.init_kwargs.items() if k not in ("mapping_kwargs", "synthesis_kwargs")}
    synthesis_kwargs = g.init_kwargs.get("synthesis_kwargs") or {
        k: v for k, v in kwargs.items() if k not in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
    }
    return {
        "file": str(snapshot.path),
        "sha256": snapshot.sha256,
        "architecture": architecture(g),
        **{k: g.init_kwargs.get(k) for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")},
        "mapping_kwargs": g.init_kwargs.get("mapping_kwargs", {}),
        "synthesis_kwargs": synthesis_kwargs,
        "networks": {name: rec.class_name for name, rec in snapshot.networks.items()},
        "g_ema_tensors": len(g.named_tensors()),
        "training_set_kwargs": snapshot.training_set_kwargs,
    }
