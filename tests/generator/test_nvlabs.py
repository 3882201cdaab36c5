"""NVlabs snapshots are read as data: tensors and kwargs come back, embedded code never runs,
anything but tensors and plain containers is refused; the mapping network converts exactly, and an
imported generator reproduces the images NVlabs' own code computed (fixtures/nvlabs/*.npz)."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from generator.cli import main
from generator.inference.sampling import generate_batch, to_uint8
from generator.nets.checkpoint import CheckpointError, load_checkpoint_file
from generator.nets.model import load_generator
from generator.nvlabs.importer import import_nvlabs, load_mapping
from generator.nvlabs.snapshot import NVlabsError, architecture, describe, read_snapshot
from tests.generator.nvlabs_snapshots import (
    FIXTURES,
    Persistent,
    booby_trapped_nvlabs,
    module,
    write_reference_snapshot,
)

# ---- a snapshot in NVlabs' layout, written by our own code ------------------------------------


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
        g_kwargs["synthesis_kwargs"] = EasyDict(architecture="skip", channel_base=64, channel_max=4, conv_clamp=256)
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


def test_it_returns_state_tensors_and_init_kwargs_without_running_module_source(snapshot3: Path, trap: Path) -> None:
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


def reference_w(tensors: dict[str, torch.Tensor], z: torch.Tensor, c: torch.Tensor | None, psi: float) -> torch.Tensor:
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
def test_the_converted_mapping_reproduces_nvlabs_w(snapshot3: Path, tmp_path: Path, psi: float) -> None:
    out = tmp_path / "mapping.safetensors"
    result = import_nvlabs(snapshot3, out, classes=["a", "b", "c"], mapping_only=True, w_avg="nvlabs")
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
    torch.testing.assert_close(net(z, torch.zeros(5, dtype=torch.long), truncation=0.5), expected, atol=1e-5, rtol=1e-5)


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
    with pytest.raises(CheckpointError, match="a mapping checkpoint, but a generator checkpoint is needed"):
        load_generator(out)
    assert not trap.exists()


def test_the_trap_is_armed(snapshot3: Path, trap: Path) -> None:
    """Plain pickle would have run the stand-in code: the tests above prove something."""
    with pytest.raises(RuntimeError, match="_reconstruct_persistent_obj was called"):
        pickle.loads(snapshot3.read_bytes())
    assert trap.exists()


# ---- fidelity: imported generators against NVlabs' own outputs ----------------------------------

REFERENCES = sorted(p.stem for p in FIXTURES.glob("*.npz"))
TOLERANCE = 1e-3  # max abs pixel difference in [-1, 1]; measured differences are ~1e-6


def test_every_architecture_has_a_conditional_reference() -> None:
    kinds = {name.split("-")[0] for name in REFERENCES if "-cond-" in name}
    assert kinds == {"sg2ada", "sg3t", "sg3r"}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict, Path]]:
    """Each reference snapshot converted with the command line: name -> (checkpoint, reference,
    trap marker). NVlabs' truncation centre (--w-avg nvlabs), as NVlabs' outputs used it."""
    out = {}
    for name in REFERENCES:
        folder = tmp_path_factory.mktemp(name)
        snapshot, marker = folder / "network-snapshot-000000.pkl", folder / "code-ran"
        ref = write_reference_snapshot(FIXTURES / f"{name}.npz", snapshot, marker)
        ckpt = folder / "model.safetensors"
        classes = ["a", "b", "c"] if ref["meta"]["generator_kwargs"]["c_dim"] else []
        with booby_trapped_nvlabs(marker):  # NVlabs' module names resolve to traps meanwhile
            main(
                ["import-nvlabs", str(snapshot), "--out", str(ckpt), "--w-avg", "nvlabs"]
                + (["--classes", ",".join(classes)] if classes else [])
            )
        out[name] = (ckpt, ref, marker)
    return out


@pytest.mark.parametrize("psi", [1.0, 0.7])
@pytest.mark.parametrize("name", REFERENCES)
def test_an_imported_generator_reproduces_nvlabs_images_and_w(imported: dict, name: str, psi: float) -> None:
    ckpt, ref, marker = imported[name]
    model = load_generator(ckpt, device="cpu")
    seeds, labels = ref["meta"]["seeds"], ref["labels"].tolist()
    with torch.no_grad():
        w = model.generator.mapping(torch.from_numpy(ref["z"]), torch.tensor(labels), truncation=psi)
    assert (w - torch.from_numpy(ref[f"w/{psi}"])).abs().max() <= 1e-5
    for i, (seed, label) in enumerate(zip(seeds, labels, strict=True)):
        # the path `sample`, `grid` and `fill_pool` take: z drawn from the seed
        image = generate_batch(model, label, [seed], psi)
        difference = (image - torch.from_numpy(ref[f"img/{psi}"][i : i + 1])).abs().max()
        assert difference <= TOLERANCE, f"{name} seed {seed}: {float(difference):.2e}"
    assert not marker.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", REFERENCES)
def test_on_cuda_an_imported_generator_still_reproduces_nvlabs(imported: dict, name: str) -> None:
    """generate_batch autocasts on CUDA; imported networks keep float32 (Fourier phases)."""
    ckpt, ref, _ = imported[name]
    model = load_generator(ckpt, device="cuda")
    for i, (seed, label) in enumerate(zip(ref["meta"]["seeds"], ref["labels"].tolist(), strict=True)):
        image = generate_batch(model, label, [seed], 0.7).float().cpu()
        assert (image - torch.from_numpy(ref["img/0.7"][i : i + 1])).abs().max() <= TOLERANCE


def test_imported_networks_ignore_autocast(imported: dict) -> None:
    """Under bf16 autocast (what sampling uses on CUDA) the images stay NVlabs' float32 ones."""
    ckpt, ref, _ = imported["sg3r-cond-32"]
    model = load_generator(ckpt, device="cpu")
    z, labels = torch.from_numpy(ref["z"]), torch.from_numpy(ref["labels"]).long()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        image = model.generator(z, labels, truncation=0.7)
    assert image.dtype == torch.float32
    assert (image - torch.from_numpy(ref["img/0.7"])).abs().max() <= 1e-5


def test_sample_on_an_imported_file_writes_nvlabs_images(
    imported: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, ref, _ = imported["sg3r-cond-32"]
    i = 1  # seed 1, class b
    main(["sample", str(ckpt), "--disorder", "b", "--seeds", "1", "--truncation", "0.7",
          "--out", str(tmp_path), "--device", "cpu"])  # fmt: skip
    png = np.asarray(Image.open(tmp_path / "b_seed000001.png"))
    expected = to_uint8(torch.from_numpy(ref["img/0.7"][i : i + 1]))[0]
    assert np.abs(png.astype(int) - expected.astype(int)).max() <= 1
    assert "wrote 1 images of b" in capsys.readouterr().out


def test_the_checkpoint_carries_its_provenance(imported: dict) -> None:
    ckpt, ref, _ = imported["sg3r-cond-32"]
    stored = load_checkpoint_file(ckpt, expected_kind="generator")
    assert stored.disorders == ["a", "b", "c"]
    p = stored.provenance
    assert p["architecture"] == "StyleGAN3-R" and p["source"] == "nvlabs-snapshot"
    assert len(p["source_sha256"]) == 64
    assert p["init_kwargs"]["synthesis_kwargs"]["use_radial_filters"] is True
    assert p["w_avg"]["mode"] == "nvlabs" and p["noise_mode"] == "const"
    assert stored.config["synthesis"]["kind"] == "stylegan3"
    assert torch.equal(stored.tensors["nvlabs.mapping.w_avg"], torch.from_numpy(ref["tensor/mapping.w_avg"]))
    # the radial (2-D) down filters are NVlabs' own, stored as they were
    radial = [k for k, v in stored.tensors.items() if k.endswith("down_filter") and v.ndim == 2]
    assert radial


@pytest.mark.parametrize("chunk", [1, 2, 64])
def test_images_do_not_depend_on_the_batch_or_its_chunks(
    imported: dict, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.nvlabs import stylegan3

    model = load_generator(imported["sg3t-cond-32"][0], device="cpu")
    per_sample = model.generator.synthesis.per_sample_elements()
    monkeypatch.setitem(stylegan3.CHUNK_ELEMENTS, "cpu", chunk * per_sample)
    together = generate_batch(model, 0, [3, 4, 5], 0.7)
    alone = torch.cat([generate_batch(model, 0, [s], 0.7) for s in (3, 4, 5)])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=0)


def test_per_class_truncation_centres_by_default(imported: dict, tmp_path: Path) -> None:
    marker = imported["sg2ada-skip-cond-32"][2]
    snapshot = tmp_path / "s.pkl"
    write_reference_snapshot(FIXTURES / "sg2ada-skip-cond-32.npz", snapshot, marker)
    out = tmp_path / "g.safetensors"
    import_nvlabs(snapshot, out, classes=["a", "b", "c"], w_avg_samples=3000)
    model = load_generator(out, device="cpu")
    mapping = model.generator.mapping
    z = torch.randn(3000, mapping.z_dim, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        means = torch.stack([mapping(z, torch.full((3000,), c)).mean(0) for c in range(3)])
    distances = torch.cdist(mapping.w_avg, means)
    assert distances.argmin(dim=1).tolist() == [0, 1, 2]  # each centre is its own class's mean


# ---- the rest of the generator interface, unchanged, on an imported model -----------------------


def test_grid_averages_invert_and_evaluate_run_on_an_imported_model(
    imported: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, _, _ = imported["sg3r-cond-32"]
    main(
        [
            "grid",
            str(ckpt),
            "--out",
            str(tmp_path / "grid.png"),
            "--per-disorder",
            "2",
            "--device",
            "cpu",
        ]
    )
    assert Image.open(tmp_path / "grid.png").size[0] > 0
    main(["averages", str(ckpt), "--out", str(tmp_path / "avg.png"), "--n-latent", "64",
          "--n-pixel", "4", "--device", "cpu"])  # fmt: skip
    model = load_generator(ckpt, device="cpu")
    target = generate_batch(model, 2, [7], 1.0)
    Image.fromarray(to_uint8(target)[0]).save(tmp_path / "target.png")
    main(["invert", str(ckpt), str(tmp_path / "target.png"), "--disorder", "a", "--out",
          str(tmp_path / "inv"), "--steps", "30", "--lr", "0.05", "--feature-net", "none",
          "--device", "cpu"])  # fmt: skip
    rows = (tmp_path / "inv" / "losses.csv").read_text().splitlines()[1:]
    start, end = (float(v) for v in rows[0].split(",")[1:3])
    assert end < start  # gradients reach w through the imported synthesis
    main(["evaluate", str(ckpt), "--out", str(tmp_path / "eval"), "--per-disorder", "2",
          "--skip-gates", "all", "--device", "cpu"])  # fmt: skip
    assert (tmp_path / "eval" / "gates.csv").is_file()
    main(["sample", str(ckpt), "--disorder", "c", "--seeds", "0-1", "--out", str(tmp_path / "s"),
          "--device", "cpu"])  # fmt: skip
    assert len(list((tmp_path / "s").glob("*.png"))) == 2


def test_inversion_in_w_plus_matches_nvlabs_layout(imported: dict) -> None:
    """w+ carries one w per NVlabs layer; the same w everywhere gives the plain-w image."""
    for name in ("sg2ada-skip-cond-32", "sg3t-cond-32"):
        synthesis = load_generator(imported[name][0], device="cpu").generator.synthesis
        w = torch.randn(2, synthesis.w_dim)
        with torch.no_grad():
            plus = synthesis(w.unsqueeze(1).expand(-1, synthesis.num_ws, -1))
            torch.testing.assert_close(plus, synthesis(w))


# ---- refusals ------------------------------------------------------------------------------------


def _mutated_snapshot(tmp_path: Path, marker: Path, name: str, change) -> Path:
    """A reference snapshot after `change(tree, tensors)` edits its module tree or tensors."""
    import tests.generator.nvlabs_snapshots as snapshots

    ref = snapshots.load_reference(FIXTURES / f"{name}.npz")
    change(ref)
    edited = tmp_path / "edited.npz"
    np.savez(edited, **{k: v for k, v in ref.items() if k not in ("tree", "meta")},
             tree=np.array(json.dumps(ref["tree"])), meta=np.array(json.dumps(ref["meta"])))  # fmt: skip
    path = tmp_path / "edited.pkl"
    write_reference_snapshot(edited, path, marker)
    return path


def test_a_layer_whose_geometry_disagrees_is_refused_naming_it(tmp_path: Path, trap: Path) -> None:
    def shift_padding(ref: dict) -> None:
        layer = next(k for k in ref["tree"] if k.startswith("synthesis.L2_"))
        ref["tree"][layer]["attributes"]["padding"][0] += 1

    path = _mutated_snapshot(tmp_path, trap, "sg3t-cond-32", shift_padding)
    with pytest.raises(NVlabsError, match=r"synthesis\.L2_\w+\.padding: snapshot \[.*\], derived"):
        import_nvlabs(path, tmp_path / "g.safetensors", classes=["a", "b", "c"])
    assert not (tmp_path / "g.safetensors").exists() and not trap.exists()


def test_a_missing_synthesis_tensor_is_refused_naming_it(tmp_path: Path, trap: Path) -> None:
    def drop_noise(ref: dict) -> None:
        ref["tree"]["synthesis.b8.conv0"]["parameters"].remove("noise_strength")

    path = _mutated_snapshot(tmp_path, trap, "sg2ada-skip-cond-32", drop_noise)
    with pytest.raises(NVlabsError, match=r"synthesis\.b8\.conv0\.noise_strength: not in the snapshot"):
        import_nvlabs(path, tmp_path / "g.safetensors", classes=["a", "b", "c"])


def test_a_grey_scale_generator_is_refused(tmp_path: Path, trap: Path) -> None:
    def grey(ref: dict) -> None:
        ref["tree"][""]["init_kwargs"]["img_channels"] = 1

    path = _mutated_snapshot(tmp_path, trap, "sg3r-cond-32", grey)
    with pytest.raises(NVlabsError, match="img_channels=1"):
        import_nvlabs(path, tmp_path / "g.safetensors", classes=["a", "b", "c"])


def test_cli_reports_and_fails_in_one_line(tmp_path: Path, trap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = tmp_path / "s.pkl"
    write_reference_snapshot(FIXTURES / "sg3r-cond-32.npz", snapshot, trap)
    main(["import-nvlabs", str(snapshot)])
    assert json.loads(capsys.readouterr().out)["architecture"] == "StyleGAN3-R"
    (tmp_path / "classes.txt").write_text("a\nb\n")
    for extra in ([], ["--classes", "a,b"], ["--classes-file", str(tmp_path / "classes.txt")],
                  ["--classes-file", str(tmp_path / "absent.txt")]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            main(["import-nvlabs", str(snapshot), "--out", str(tmp_path / "g.safetensors"), *extra])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("import-nvlabs: ") and err.count("\n") == 1
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    main(["import-nvlabs", str(snapshot), "--out", str(tmp_path / "g.safetensors"),
          "--classes-file", str(tmp_path / "classes.txt"), "--w-avg-samples", "100"])  # fmt: skip
    assert "the StyleGAN3-R generator" in capsys.readouterr().out
    assert load_generator(tmp_path / "g.safetensors").disorders == ["a", "b", "c"]
    assert not trap.exists()


def test_a_booby_trapped_reference_snapshot_never_runs_its_code(tmp_path: Path, trap: Path) -> None:
    """The reference snapshots carry a stub module source that writes the marker when executed;
    plain pickle runs the reconstruct hook, which writes it too. Our reader runs neither."""
    snapshot = tmp_path / "s.pkl"
    write_reference_snapshot(FIXTURES / "sg2ada-skip-cond-32.npz", snapshot, trap)
    import_nvlabs(snapshot, tmp_path / "g.safetensors", classes=["a", "b", "c"], w_avg="nvlabs")
    assert not trap.exists()
    with pytest.raises(RuntimeError, match="_reconstruct_persistent_obj was called"):
        pickle.loads(snapshot.read_bytes())
    assert trap.exists()


def test_fill_pool_fills_a_study_from_an_imported_model(imported: dict, db: None, image_bank_root: Path) -> None:
    """docs/generator-import.md's route: import-nvlabs, then manage.py fill_pool SLUG --checkpoint MODEL."""
    from django.core.management import call_command

    from survey.models import Portrait
    from tests.survey.factories import DisorderFactory, StudyFactory

    ckpt, _, _ = imported["sg3r-cond-32"]
    study = StudyFactory(slug="sg3", disorders=[DisorderFactory(code="a"), DisorderFactory(code="c")])
    out = io.StringIO()
    call_command("fill_pool", "sg3", checkpoint=str(ckpt), per_disorder=2, latent_samples=32,
                 device="cpu", stdout=out)  # fmt: skip
    synthetic = Portrait.objects.filter(study=study, kind="synthetic")
    assert synthetic.count() == 4
    assert Portrait.objects.filter(study=study, kind="latent_average").count() == 2
    assert set(Portrait.objects.values_list("checkpoint_id", flat=True)) == {load_checkpoint_file(ckpt).checkpoint_id}
    assert "Added 4 synthetic portraits and 2 latent averages to sg3." in out.getvalue()


# ---- the operations ------------------------------------------------------------------------------


@pytest.mark.parametrize("up", [2, 4])
@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("padding", [(0, 0, 0, 0), (3, 2, 3, 2), (-5, 7, 2, -3), (10, 9, 11, 8)])
def test_polyphase_upsampling_is_the_zero_stuffing_definition(
    up: int, separable: bool, padding: tuple[int, int, int, int]
) -> None:
    """upfirdn2d's fast path (transposed convolutions) against its definition: zeros inserted
    after every pixel, padded or cropped, then a true convolution with the filter."""
    from generator.nvlabs.ops import upfirdn2d

    gen = torch.Generator().manual_seed(up)
    x = torch.randn(2, 3, 9, 7, generator=gen)
    taps = 6 * up
    f = torch.randn(taps, generator=gen) if separable else torch.randn(taps, taps, generator=gen)
    stuffed = torch.zeros(2, 3, 9 * up, 7 * up)
    stuffed[:, :, ::up, ::up] = x
    x0, x1, y0, y1 = padding
    stuffed = F.pad(stuffed, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    stuffed = stuffed[:, :, max(-y0, 0) : stuffed.shape[2] - max(-y1, 0),
                      max(-x0, 0) : stuffed.shape[3] - max(-x1, 0)]  # fmt: skip
    kernel = (f if not separable else torch.outer(f, f)).flip([0, 1]) * up**2
    expected = F.conv2d(stuffed, kernel[None, None].repeat(3, 1, 1, 1), groups=3)
    got = upfirdn2d(x, f, up=up, padding=padding, gain=up**2)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4 * float(expected.abs().max()))


def test_training_refuses_to_start_from_an_imported_generator(imported: dict) -> None:
    """The trainer trains only this package's own network: an imported one is refused by name, not
    with a config-key error."""
    from generator.nets.checkpoint import CheckpointError
    from generator.nets.config import PRESETS
    from generator.training.state import _matching_generator

    ckpt, _, _ = imported["sg3r-cond-32"]
    with pytest.raises(CheckpointError, match="imported NVlabs generator .StyleGAN3-R."):
        _matching_generator(ckpt, PRESETS["tiny"], ["a", "b", "c"], "cannot start from it")
