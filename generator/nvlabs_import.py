"""Convert what of an NVlabs snapshot maps exactly onto this package's networks: the mapping network.

NVlabs' synthesis networks (StyleGAN2's FIR-filtered transposed-conv upsampling, StyleGAN3's
Fourier-feature input and alias-free layers) compute something else than ours with the same
weights, so they are refused with the parameters named, never approximated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from generator.checkpoint import load_checkpoint_file, load_module_state, save_checkpoint
from generator.networks import MappingNetwork
from generator.nvlabs import NVlabsError, PersistentRecord, architecture, describe, read_snapshot

MAPPING_KIND = "mapping"  # checkpoint kind: a mapping network alone, which `load_generator` refuses
W_AVG_MODES = ("per-class", "nvlabs")


def _few(names: list[str], n: int = 3) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def synthesis_not_mappable(g: PersistentRecord) -> list[str]:
    """Why G_ema's synthesis cannot become ours without changing its images (empty if it can)."""
    arch = architecture(g)
    names = sorted(g.child("synthesis").named_tensors("synthesis."))
    if arch.startswith("StyleGAN3"):
        fourier = [n for n in names if n.startswith("synthesis.input.")]
        filters = [n for n in names if n.endswith(("up_filter", "down_filter", "magnitude_ema"))]
        return [
            f"{arch} synthesis starts from Fourier features ({_few(fourier)}); ours from a learned 4x4 constant",
            f"its layers are alias-free filtered convolutions ({_few(filters)}) with no counterpart here",
        ]
    if arch.startswith("StyleGAN2"):
        reasons = [
            "upsampling convolutions ("
            + _few([n for n in names if ".conv0.weight" in n])
            + ") run "
            "as a stride-2 transposed convolution with the [1,3,3,1] FIR filter ("
            + _few([n for n in names if n.endswith("resample_filter")])
            + "); ours interpolate bilinearly, then convolve: same shapes, different images",
            "ToRGB skips (" + _few([n for n in names if ".torgb.weight" in n]) + ") upsample the "
            "previous RGB with the FIR filter and zero padding; ours bilinearly with edge replication",
        ]
        if "(skip)" not in arch:
            reasons.append(f"{arch}: ours is the 'skip' architecture only")
        noise = [n for n in names if n.endswith("noise_const")]
        if noise:
            reasons.append(f"constant noise maps ({_few(noise)}) have no home in our synthesis")
        return reasons
    return [f"{arch}: not a StyleGAN2 or StyleGAN3 synthesis network"]


def _int(m: PersistentRecord, g: PersistentRecord, key: str) -> int:
    value = m.attributes.get(key, g.init_kwargs.get(key))
    if value is None:
        raise NVlabsError(f"mapping network has no {key}")
    return int(value)


def _fc(
    record: PersistentRecord, name: str, activation: str, problems: list[str]
) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """An NVlabs FullyConnectedLayer's stored weight and bias and its runtime gains."""
    weight, bias = record.parameters.get("weight"), record.parameters.get("bias")
    if weight is None:
        raise NVlabsError(f"{name}.weight is missing")
    if bias is None:
        problems.append(f"{name}.bias: absent (bias=False); ours always adds a bias")
        bias = torch.zeros(weight.shape[0])
    if record.attributes.get("activation") != activation:
        problems.append(
            f"{name}: activation {record.attributes.get('activation')!r}, ours {activation!r}"
        )
    gain = float(record.attributes.get("weight_gain", 1 / math.sqrt(weight.shape[1])))
    return weight.float(), bias.float(), gain, float(record.attributes.get("bias_gain", 1.0))


def convert_mapping(
    g: PersistentRecord,
) -> tuple[dict[str, Any], dict[str, torch.Tensor], torch.Tensor | None]:
    """Our MappingNetwork's config and state dict for G_ema.mapping, plus NVlabs' global w_avg.

    NVlabs embeds a one-hot label with a linear layer; for one-hot input that layer is a table
    lookup, W[:, c] * weight_gain + b * bias_gain, so our nn.Embedding holds that table exactly.
    An unconditional network becomes one class with a zero-width embedding.
    """
    m = g.child("mapping")
    z_dim, c_dim, w_dim = (_int(m, g, k) for k in ("z_dim", "c_dim", "w_dim"))
    num_layers = _int(m, g, "num_layers")
    if z_dim <= 0:
        raise NVlabsError("mapping.z_dim is 0 (label-only mapping); ours needs a z")
    problems: list[str] = []
    state: dict[str, torch.Tensor] = {}
    lr_mul = None
    width = z_dim
    for i in range(num_layers):
        name = f"mapping.fc{i}"
        weight, bias, gain, bias_gain = _fc(m.child(f"fc{i}"), name, "lrelu", problems)
        lr_mul = bias_gain if lr_mul is None else lr_mul
        if bias_gain != lr_mul:
            problems.append(f"{name}: learning-rate multiplier {bias_gain}, but fc0 has {lr_mul}")
        if i == 0:
            width = weight.shape[1]
        if i < num_layers - 1 and weight.shape[0] != w_dim:
            problems.append(
                f"{name}.weight: {weight.shape[0]} outputs, ours keeps every layer w_dim={w_dim} wide"
            )
        if not math.isclose(gain, bias_gain / math.sqrt(weight.shape[1]), rel_tol=1e-12):
            problems.append(f"{name}: weight gain {gain} is not lr_multiplier / sqrt(in_features)")
        state[f"mlp.{i}.weight"], state[f"mlp.{i}.bias"] = weight, bias
    if c_dim > 0:
        weight, bias, gain, bias_gain = _fc(m.child("embed"), "mapping.embed", "linear", problems)
        state["embed.weight"] = (weight * gain).t() + bias * bias_gain  # [c_dim, embed_dim]
    else:
        state["embed.weight"] = torch.zeros(1, 0)
    embed_dim = state["embed.weight"].shape[1]
    if width != z_dim + embed_dim:
        problems.append(
            f"mapping.fc0.weight: {width} inputs, expected z_dim + embed = {z_dim + embed_dim}"
        )
    if state[f"mlp.{num_layers - 1}.weight"].shape[0] != w_dim:
        problems.append(f"mapping.fc{num_layers - 1}.weight: output is not w_dim={w_dim}")
    if problems:
        raise NVlabsError("cannot map the mapping network exactly: " + "; ".join(problems))
    num_classes = max(c_dim, 1)
    config = {
        "z_dim": z_dim,
        "w_dim": w_dim,
        "num_classes": num_classes,
        "embed_dim": embed_dim,
        "layers": num_layers,
        "lr_mul": lr_mul,
        "w_avg_beta": float(m.attributes.get("w_avg_beta") or 0.995),
    }
    state["w_avg"] = torch.zeros(num_classes, w_dim)
    state["w_avg_seen"] = torch.ones(num_classes, dtype=torch.bool)
    w_avg = m.buffers.get("w_avg")
    return config, state, None if w_avg is None else w_avg.float()


def mapping_from(
    config: dict[str, Any], state: dict[str, torch.Tensor], where: str
) -> MappingNetwork:
    net = MappingNetwork(**config)
    load_module_state(net, state, where)
    return net.eval().requires_grad_(False)


@torch.no_grad()
def per_class_w_avg(
    net: MappingNetwork, samples: int, seed: int, batch: int = 1000
) -> torch.Tensor:
    """Each class's mean w over `samples` seeded z (this package's per-class truncation centre)."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.zeros_like(net.w_avg)
    for c in range(net.num_classes):
        total = torch.zeros(net.w_dim, dtype=torch.float64)
        for start in range(0, samples, batch):
            n = min(batch, samples - start)
            z = torch.randn(n, net.z_dim, generator=gen)
            total += net(z, torch.full((n,), c, dtype=torch.long)).double().sum(dim=0)
        out[c] = (total / samples).float()
    return out


@dataclass(frozen=True)
class ImportResult:
    checkpoint_id: str
    architecture: str
    not_converted: list[str]  # the synthesis reasons, kept in provenance too


def import_nvlabs(
    snapshot_path: Path,
    out: Path,
    *,
    classes: list[str] | None,
    mapping_only: bool = False,
    w_avg: str = "per-class",
    w_avg_samples: int = 10_000,
    seed: int = 0,
) -> ImportResult:
    """Write G_ema's mapping network as a `mapping` checkpoint; refuse a full conversion."""
    if w_avg not in W_AVG_MODES:
        raise NVlabsError(f"--w-avg must be one of {', '.join(W_AVG_MODES)}, got {w_avg!r}")
    snapshot = read_snapshot(snapshot_path)
    g = snapshot.g_ema
    arch = architecture(g)
    reasons = synthesis_not_mappable(g)
    if reasons and not mapping_only:
        raise NVlabsError(
            f"{snapshot_path} ({arch}) cannot become a generator checkpoint without changing its "
            f"images: {'; '.join(reasons)}. Pass --mapping-only to write its mapping network alone "
            "(w and per-class w averages; sample, grid and evaluate refuse that file)"
        )
    config, state, global_w_avg = convert_mapping(g)
    conditional = config["embed_dim"] > 0
    names = classes or ([] if conditional else ["unconditional"])
    if len(names) != config["num_classes"] or len(set(names)) != len(names) or not all(names):
        raise NVlabsError(
            f"--classes: {len(names)} names given ({', '.join(names)}); the snapshot needs {config['num_classes']} distinct ones, in label order"
        )
    net = mapping_from(config, state, f"{snapshot_path} (G_ema.mapping)")
    if w_avg == "nvlabs":
        if global_w_avg is None:
            raise NVlabsError(
                "--w-avg nvlabs: the snapshot's mapping.w_avg buffer is absent (w_avg_beta=None)"
            )
        net.w_avg.copy_(global_w_avg.expand_as(net.w_avg))
    else:
        net.w_avg.copy_(per_class_w_avg(net, w_avg_samples, seed))
    tensors = {f"G_ema.mapping.{k}": v for k, v in net.state_dict().items()}
    if global_w_avg is not None:
        tensors["nvlabs.mapping.w_avg"] = global_w_avg
    report = describe(snapshot)
    provenance = {
        "source": "nvlabs-snapshot",
        "source_file": Path(snapshot_path).name,
        "source_sha256": snapshot.sha256,
        "architecture": arch,
        "init_kwargs": {
            k: report[k]
            for k in (
                "z_dim",
                "c_dim",
                "w_dim",
                "img_resolution",
                "img_channels",
                "mapping_kwargs",
                "synthesis_kwargs",
            )
        },
        "w_avg": {
            "mode": w_avg,
            "samples": w_avg_samples if w_avg == "per-class" else None,
            "seed": seed,
        },
        "not_converted": reasons,
    }
    ckpt_id = save_checkpoint(
        out,
        kind=MAPPING_KIND,
        config=config,
        disorders=names,
        provenance=provenance,
        tensors=tensors,
    )
    return ImportResult(ckpt_id, arch, reasons)


def load_mapping(path: Path) -> tuple[MappingNetwork, list[str]]:
    """An imported mapping network (eval mode, CPU) and its class names."""
    ckpt = load_checkpoint_file(path, expected_kind=MAPPING_KIND)
    return mapping_from(
        ckpt.config, ckpt.with_prefix("G_ema.mapping"), f"{path} (G_ema.mapping)"
    ), list(ckpt.disorders)
