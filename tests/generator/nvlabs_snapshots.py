"""Snapshots in NVlabs' pickle layout, written by our own code (no NVlabs code involved).

An NVlabs persistent module pickles as `torch_utils.persistence._reconstruct_persistent_obj(meta)`
with meta = {type, version, module_src, class_name, state}. Here `module_src` is a stub that would
write a marker file if anything ever executed it, and the stand-in reconstruct function writes the
marker too: a test that finds no marker proves no code from the pickle ran.
"""

from __future__ import annotations

import json
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nvlabs"


@contextmanager
def booby_trapped_nvlabs(marker: Path) -> Iterator[types.ModuleType]:
    """Stand-ins for torch_utils.persistence and dnnlib.util that pickle under NVlabs' names and
    write `marker` if anything ever calls them."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta: dict) -> None:
        marker.write_text("reconstruct ran")
        raise RuntimeError("_reconstruct_persistent_obj was called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    package = types.ModuleType("torch_utils")
    package.persistence = persistence  # type: ignore[attr-defined]
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict  # type: ignore[attr-defined]
    dnnlib = types.ModuleType("dnnlib")
    dnnlib.util = util  # type: ignore[attr-defined]
    names = {
        "torch_utils": package,
        "torch_utils.persistence": persistence,
        "dnnlib": dnnlib,
        "dnnlib.util": util,
    }
    saved = {k: sys.modules.get(k) for k in names}
    sys.modules.update(names)
    try:
        yield persistence
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class Persistent:
    """Pickles as NVlabs' persistent_class does: _reconstruct_persistent_obj(meta)."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta

    def __reduce__(self):
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,))


def stub_source(marker: Path) -> str:
    return (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('module_src ran')\n"
        "raise RuntimeError('module_src executed')\n"
    )


def module(
    marker: Path,
    class_name: str,
    *,
    params=None,
    buffers=None,
    children=None,
    kwargs=None,
    init_args=(),
    **attrs,
) -> Persistent:
    state = {
        "training": False,
        "_parameters": OrderedDict(
            (k, None if v is None else torch.nn.Parameter(v, requires_grad=False)) for k, v in (params or {}).items()
        ),
        "_buffers": OrderedDict(buffers or {}),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(),
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_modules": OrderedDict(children or {}),
        "_init_args": tuple(init_args),
        "_init_kwargs": sys.modules["dnnlib.util"].EasyDict(kwargs or {}),
        **attrs,
    }
    meta = {
        "type": "class",
        "version": 6,
        "module_src": stub_source(marker),
        "class_name": class_name,
        "state": state,
    }
    return Persistent(meta)


def untag(value: Any) -> Any:
    """Inverse of make_references.tag: numpy values back as numpy values."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"])
        if "__npscalar__" in value:
            return np.dtype(value["dtype"]).type(value["__npscalar__"])
        if "__set__" in value:
            return {untag(v) for v in value["__set__"]}
        return {k: untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untag(v) for v in value]
    return value


def load_reference(npz: Path) -> dict[str, Any]:
    with np.load(npz) as data:
        out: dict[str, Any] = {k: data[k] for k in data.files}
    out["tree"] = json.loads(str(out["tree"]))
    out["meta"] = json.loads(str(out["meta"]))
    return out


def reference_generator(ref: dict[str, Any], marker: Path) -> Persistent:
    """G_ema as NVlabs pickles it, from a reference npz's module tree and tensors."""
    tree = ref["tree"]

    def build(path: str) -> Persistent:
        node = tree[path]
        prefix = f"{path}." if path else ""
        params = {k: torch.from_numpy(ref[f"tensor/{prefix}{k}"].copy()) for k in node["parameters"]}
        buffers = {
            k: torch.from_numpy(ref[f"tensor/{prefix}{k}"].copy()) if present else None
            for k, present in node["buffers"].items()
        }
        children = {name: build(f"{prefix}{name}") for name in node["children"]}
        return module(
            marker,
            node["class_name"],
            params=params,
            buffers=buffers,
            children=children,
            kwargs=untag(node["init_kwargs"]),
            init_args=untag(node["init_args"]),
            **untag(node["attributes"]),
        )

    return build("")


def write_reference_snapshot(npz: Path, out: Path, marker: Path | None = None) -> dict[str, Any]:
    """A network-snapshot pickle of a reference configuration (G, D, G_ema, augment_pipe,
    training_set_kwargs), its module source a marker-writing stub; returns the reference."""
    marker = marker or out.with_name(out.name + ".code-ran")
    ref = load_reference(npz)
    with booby_trapped_nvlabs(marker):
        EasyDict = sys.modules["dnnlib.util"].EasyDict
        g = reference_generator(ref, marker)
        d = module(marker, "Discriminator", params={"b": torch.zeros(1)}, kwargs={"c_dim": 0})
        snapshot = {
            "G": g,
            "D": d,
            "G_ema": g,
            "augment_pipe": None,
            "training_set_kwargs": EasyDict(
                class_name="training.dataset.ImageFolderDataset",
                path="faces.zip",
                use_labels=bool(ref["meta"]["generator_kwargs"]["c_dim"]),
                resolution=ref["meta"]["generator_kwargs"]["img_resolution"],
            ),
        }
        out.write_bytes(pickle.dumps(snapshot))
    return ref
