"""NVlabs snapshots are read as data: tensors and kwargs come back, embedded code never runs,
anything but tensors and plain containers is refused, and the mapping network converts exactly."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from generator.checkpoint import CheckpointError
from generator.cli import main
from generator.model import load_generator
from generator.nvlabs import NVlabsError, architecture, describe, read_snapshot
from generator.nvlabs_import import import_nvlabs, load_mapping

# ---- a snapshot in NVlabs' layout, written by our own code ------------------------------------


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
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package = types.ModuleType("torch_utils")
    package.persistence = persistence
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    dnnlib = types.ModuleType("dnnlib")
    dnnlib.util = util
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


def module(
    marker: Path, class_name: str, *, params=None, buffers=None, children=None, kwargs=None, **attrs
) -> Persistent:
    source = (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('module_src ran')\n"
        "raise RuntimeError('module_src executed')\n"
    )
    state = {
        "training": False,
        "_parameters": OrderedDict(
            (k, torch.nn.Parameter(v, requires_grad=False)) for k, v in (params or {}).items()
        ),
        "_buffers": OrderedDict(buffers or {}),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(),
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_modules": OrderedDict(children or {}),
        "_init_args": (),
        "_init_kwargs": sys.modules["dnnlib.util"].EasyDict(kwargs or {}),
        **attrs,
    }
    meta = {
        "type": "class",
        "version": 6,
        "module_src": source,
        "class_name": class_name,
        "state": state,
    }
    return Persistent(meta)


def fc(
    marker: Path,
    n_in: int,
    n_out: int,
    *,
    activation: str = "linear",
    lr: float = 1.0,
    bias_init: float = 0.0,
) -> Persistent:
    return module(
        marker,
        "FullyConnectedLayer",
        params={
            "weight": torch.randn(n_out, n_in) / lr,
            "bias": (bias_init + 0.3 * torch.randn(n_out)) / lr,
        },
        kwargs={
            "in_features": n_in,
            "out_features": n_out,
            "activation": activation,
            "lr_multiplier": lr,
        },
        activation=activation,
        weight_gain=lr / np.sqrt(n_in),  # NVlabs computes it in numpy: a np.float64 in the pickle
        bias_gain=lr,
    )


Z, C, W, LAYERS, LR = 6, 3, 8, 2, 0.01


def mapping(marker: Path, c_dim: int) -> Persistent:
    children = {"embed": fc(marker, c_dim, W)} if c_dim else {}
    widths = [Z + (W if c_dim else 0)] + [W] * LAYERS
    for i in range(LAYERS):
        children[f"fc{i}"] = fc(marker, widths[i], widths[i + 1], activation="lrelu", lr=LR)
    return module(
        marker,
        "MappingNetwork",
        buffers={"w_avg": torch.randn(W)},
        children=children,
        kwargs={"z_dim": Z, "c_dim": c_dim, "w_dim": W, "num_ws": 4, "num_layers": LAYERS},
        z_dim=Z,
        c_dim=c_dim,
        w_dim=W,
        num_ws=4,
        num_layers=LAYERS,
        w_avg_beta=0.998,
    )


def stylegan3_synthesis(marker: Path) -> Persistent:
    layer = module(
        marker,
        "SynthesisLayer",
        params={"weight": torch.randn(4, 4, 1, 1), "bias": torch.zeros(4)},
        buffers={
            "magnitude_ema": torch.ones(()),
            "up_filter": torch.randn(12),
            "down_filter": torch.randn(12, 12),
        },
        children={"affine": fc(marker, W, 4, bias_init=1.0)},
        in_size=np.broadcast_to(np.asarray(36), [2]),
    )
    fourier = module(
        marker,
        "SynthesisInput",
        params={"weight": torch.randn(4, 4)},
        buffers={"transform": torch.eye(3), "freqs": torch.randn(4, 2), "phases": torch.rand(4)},
        children={"affine": fc(marker, W, 4)},
    )
    return module(
        marker,
        "SynthesisNetwork",
        children={"input": fourier, "L0_36_4": layer},
        kwargs={
            "w_dim": W,
            "img_resolution": 16,
            "img_channels": 3,
            "conv_kernel": 1,
            "use_radial_filters": True,
        },
    )


def stylegan2_synthesis(marker: Path) -> Persistent:
    def layer(n_in: int, n_out: int, res: int) -> Persistent:
        return module(
            marker,
            "SynthesisLayer",
            params={
                "weight": torch.randn(n_out, n_in, 3, 3),
                "bias": torch.zeros(n_out),
                "noise_strength": torch.zeros(()),
            },
            buffers={"resample_filter": torch.ones(4, 4), "noise_const": torch.randn(res, res)},
            children={"affine": fc(marker, W, n_in, bias_init=1.0)},
        )

    def torgb(n_in: int) -> Persistent:
        return module(
            marker,
            "ToRGBLayer",
            params={"weight": torch.randn(3, n_in, 1, 1), "bias": torch.zeros(3)},
            children={"affine": fc(marker, W, n_in, bias_init=1.0)},
        )

    b4 = module(
        marker,
        "SynthesisBlock",
        params={"const": torch.randn(4, 4, 4)},
        buffers={"resample_filter": torch.ones(4, 4)},
        children={"conv1": layer(4, 4, 4), "torgb": torgb(4)},
        kwargs={"architecture": "skip"},
    )
    b8 = module(
        marker,
        "SynthesisBlock",
        buffers={"resample_filter": torch.ones(4, 4)},
        children={"conv0": layer(4, 4, 8), "conv1": layer(4, 4, 8), "torgb": torgb(4)},
        kwargs={"architecture": "skip"},
    )
    return module(
        marker,
        "SynthesisNetwork",
        children={"b4": b4, "b8": b8},
        kwargs={"w_dim": W, "img_resolution": 8, "img_channels": 3, "architecture": "skip"},
    )


def write_snapshot(path: Path, marker: Path, *, c_dim: int = C, stylegan3: bool = True) -> None:
    torch.manual_seed(0)
    EasyDict = sys.modules["dnnlib.util"].EasyDict
    g_kwargs = {
        "z_dim": Z,
        "c_dim": c_dim,
        "w_dim": W,
        "img_resolution": 16,
        "img_channels": 3,
        "mapping_kwargs": EasyDict(num_layers=LAYERS),
    }
    if stylegan3:
        g_kwargs.update(
            channel_base=64,
            channel_max=8,
            conv_kernel=1,
            use_radial_filters=True,
            magnitude_ema_beta=0.999,
        )
    else:
        g_kwargs["synthesis_kwargs"] = EasyDict(
            architecture="skip", channel_base=64, channel_max=4, conv_clamp=256
        )
    synthesis = stylegan3_synthesis(marker) if stylegan3 else stylegan2_synthesis(marker)
    g = module(
        marker,
        "Generator",
        children={"mapping": mapping(marker, c_dim), "synthesis": synthesis},
        kwargs=g_kwargs,
        z_dim=Z,
        c_dim=c_dim,
        w_dim=W,
    )
    d = module(marker, "Discriminator", params={"w": torch.randn(2)}, kwargs={"c_dim": c_dim})
    snapshot = {
        "G": g,
        "D": d,
        "G_ema": g,
        "augment_pipe": None,
        "training_set_kwargs": EasyDict(
            class_name="training.dataset.ImageFolderDataset",
            path="faces.zip",
            use_labels=bool(c_dim),
            resolution=16,
        ),
    }
    path.write_bytes(pickle.dumps(snapshot))


@pytest.fixture
def trap(tmp_path: Path) -> Iterator[Path]:
    """The marker file that exists only if some code from the pickle ran."""
    marker = tmp_path / "code-ran"
    with booby_trapped_nvlabs(marker):
        yield marker


@pytest.fixture
def snapshot3(tmp_path: Path, trap: Path) -> Path:
    path = tmp_path / "network-snapshot-000400.pkl"
    write_snapshot(path, trap)
    return path


# ---- the reader ---------------------------------------------------------------------------------


def test_it_returns_state_tensors_and_init_kwargs_without_running_module_source(
    snapshot3: Path, trap: Path
) -> None:
    snap = read_snapshot(snapshot3)  # the booby-trapped torch_utils is importable right now
    assert not trap.exists()
    g = snap.g_ema
    assert g.class_name == "Generator"
    assert g.init_kwargs["mapping_kwargs"] == {"num_layers": LAYERS}
    tensors = g.named_tensors()
    assert tensors["mapping.fc0.weight"].shape == (W, Z + W)
    assert tensors["synthesis.L0_36_4.down_filter"].shape == (12, 12)
    assert isinstance(tensors["mapping.w_avg"], torch.Tensor)
    assert g.child("synthesis.L0_36_4").attributes["in_size"].tolist() == [36, 36]
    assert len(g.source_sha256) == 64
    report = describe(snap)
    assert report["architecture"] == "StyleGAN3-R"
    assert (report["z_dim"], report["c_dim"], report["w_dim"], report["img_resolution"]) == (
        Z,
        C,
        W,
        16,
    )
    assert report["synthesis_kwargs"]["use_radial_filters"] is True
    assert report["training_set_kwargs"]["path"] == "faces.zip"
    assert report["networks"] == {"G": "Generator", "D": "Discriminator", "G_ema": "Generator"}
    json.dumps(report)


def test_it_tells_stylegan2_from_stylegan3(tmp_path: Path, trap: Path) -> None:
    path = tmp_path / "sg2.pkl"
    write_snapshot(path, trap, stylegan3=False)
    snap = read_snapshot(path)
    assert architecture(snap.g_ema) == "StyleGAN2 (skip)"
    assert describe(snap)["synthesis_kwargs"]["conv_clamp"] == 256
    assert not trap.exists()


class _System:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_it_refuses_a_pickle_that_calls_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _System(marker)}))
    with pytest.raises(
        NVlabsError,
        match=rf"refusing to load {os.system.__module__}\.system: not a tensor or a plain container",
    ):
        read_snapshot(path)
    assert not marker.exists()


def test_it_refuses_an_unknown_global_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "module.pkl"
    path.write_bytes(pickle.dumps({"G_ema": torch.nn.Linear(2, 2)}))
    with pytest.raises(NVlabsError, match=r"refusing to load torch\.nn\.modules\.linear\.Linear"):
        read_snapshot(path)


class _EvilStorage:
    """A 'storage' whose bytes are a torch.save file holding a call to os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        buffer = io.BytesIO()
        torch.save(_System(self.marker), buffer, _use_new_zipfile_serialization=False)
        return (torch.storage._load_from_bytes, (buffer.getvalue(),))


def test_it_reads_tensor_storages_with_the_weights_only_loader(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "storage.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _EvilStorage(marker)}))
    with pytest.raises(NVlabsError, match="refusing a tensor storage"):
        read_snapshot(path)
    assert not marker.exists()


def test_it_refuses_a_file_that_is_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(NVlabsError, match="not a readable NVlabs snapshot"):
        read_snapshot(path)


# ---- the converter -------------------------------------------------------------------------------


def reference_w(
    tensors: dict[str, torch.Tensor], z: torch.Tensor, c: torch.Tensor | None, psi: float
) -> torch.Tensor:
    """NVlabs' mapping, written out from its published equations (one-hot c, global w_avg)."""

    def dense(x: torch.Tensor, prefix: str, lr: float, lrelu: bool) -> torch.Tensor:
        weight, bias = tensors[prefix + ".weight"], tensors[prefix + ".bias"]
        x = x @ (weight * (lr / math.sqrt(weight.shape[1]))).t() + bias * lr
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if lrelu else x

    def norm(x: torch.Tensor) -> torch.Tensor:
        return x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()

    x = norm(z)
    if c is not None:
        x = torch.cat([x, norm(dense(c, "mapping.embed", 1.0, False))], dim=1)
    for i in range(LAYERS):
        x = dense(x, f"mapping.fc{i}", LR, True)
    return tensors["mapping.w_avg"].lerp(x, psi)


@pytest.mark.parametrize("psi", [1.0, 0.7])
def test_the_converted_mapping_reproduces_nvlabs_w(
    snapshot3: Path, tmp_path: Path, psi: float
) -> None:
    out = tmp_path / "mapping.safetensors"
    result = import_nvlabs(
        snapshot3, out, classes=["a", "b", "c"], mapping_only=True, w_avg="nvlabs"
    )
    assert result.architecture == "StyleGAN3-R"
    net, classes = load_mapping(out)
    assert classes == ["a", "b", "c"]
    tensors = read_snapshot(snapshot3).g_ema.named_tensors()
    z = torch.randn(12, Z, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(12) % C
    expected = reference_w(tensors, z, F.one_hot(labels, C).float(), psi)
    torch.testing.assert_close(net(z, labels, truncation=psi), expected, atol=1e-5, rtol=1e-5)


def test_an_unconditional_mapping_converts_too(tmp_path: Path, trap: Path) -> None:
    path, out = tmp_path / "uncond.pkl", tmp_path / "uncond.safetensors"
    write_snapshot(path, trap, c_dim=0)
    import_nvlabs(path, out, classes=None, mapping_only=True, w_avg="nvlabs")
    net, classes = load_mapping(out)
    assert classes == ["unconditional"]
    z = torch.randn(5, Z, generator=torch.Generator().manual_seed(2))
    expected = reference_w(read_snapshot(path).g_ema.named_tensors(), z, None, 0.5)
    torch.testing.assert_close(
        net(z, torch.zeros(5, dtype=torch.long), truncation=0.5), expected, atol=1e-5, rtol=1e-5
    )


def test_per_class_w_averages_are_each_class_mean(snapshot3: Path, tmp_path: Path) -> None:
    out = tmp_path / "mapping.safetensors"
    import_nvlabs(snapshot3, out, classes=["a", "b", "c"], mapping_only=True, w_avg_samples=4000)
    net, _ = load_mapping(out)
    tensors = read_snapshot(snapshot3).g_ema.named_tensors()
    z = torch.randn(4000, Z, generator=torch.Generator().manual_seed(7))
    for c in range(C):
        mean = reference_w(tensors, z, F.one_hot(torch.full((4000,), c), C).float(), 1.0).mean(0)
        spread = (net.w_avg - mean).norm(dim=1)
        assert spread.argmin() == c  # nearest to its own class's mean (different z draws)


def test_a_full_conversion_is_refused_naming_the_synthesis_parameters(
    snapshot3: Path, tmp_path: Path
) -> None:
    with pytest.raises(NVlabsError) as err:
        import_nvlabs(snapshot3, tmp_path / "g.safetensors", classes=["a", "b", "c"])
    assert "synthesis.input.freqs" in str(err.value) and "up_filter" in str(err.value)
    assert "--mapping-only" in str(err.value)
    assert not (tmp_path / "g.safetensors").exists()


def test_stylegan2_synthesis_is_refused_naming_its_upsampling(tmp_path: Path, trap: Path) -> None:
    path = tmp_path / "sg2.pkl"
    write_snapshot(path, trap, stylegan3=False)
    with pytest.raises(NVlabsError, match=r"synthesis\.b8\.conv0\.weight.*resample_filter"):
        import_nvlabs(path, tmp_path / "g.safetensors", classes=["a", "b", "c"])


def test_it_wants_one_class_name_per_label(snapshot3: Path, tmp_path: Path) -> None:
    with pytest.raises(NVlabsError, match="needs 3 distinct"):
        import_nvlabs(snapshot3, tmp_path / "m.safetensors", classes=["a", "b"], mapping_only=True)


# ---- the command line ---------------------------------------------------------------------------


def test_cli_imports_and_sample_refuses_the_mapping_file(
    snapshot3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], trap: Path
) -> None:
    out = tmp_path / "m.safetensors"
    main(
        [
            "import-nvlabs",
            str(snapshot3),
            str(out),
            "--classes",
            "a,b,c",
            "--mapping-only",
            "--w-avg-samples",
            "200",
        ]
    )
    assert "StyleGAN3-R mapping network" in capsys.readouterr().out
    with pytest.raises(
        CheckpointError, match="a mapping checkpoint, but a generator checkpoint is needed"
    ):
        load_generator(out)
    assert not trap.exists()


def test_cli_reports_and_fails_in_one_line(
    snapshot3: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["import-nvlabs", str(snapshot3)])
    assert json.loads(capsys.readouterr().out)["architecture"] == "StyleGAN3-R"
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "import-nvlabs",
                str(snapshot3),
                "--out",
                str(tmp_path / "g.safetensors"),
                "--classes",
                "a,b,c",
            ]
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("import-nvlabs: ") and err.count("\n") == 1


def test_the_trap_is_armed(snapshot3: Path, trap: Path) -> None:
    """Plain pickle would have run the stand-in code: the tests above prove something."""
    with pytest.raises(RuntimeError, match="_reconstruct_persistent_obj was called"):
        pickle.loads(snapshot3.read_bytes())
    assert trap.exists()
