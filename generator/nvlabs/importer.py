"""Convert an NVlabs StyleGAN2-ADA / StyleGAN3 snapshot into this package's generator checkpoint.

The mapping network becomes ours exactly (see `convert_mapping`); the synthesis network becomes
`generator.nvlabs.networks`' StyleGAN2 or StyleGAN3 synthesis, described by a JSON spec resolved
here from the snapshot's init kwargs and attributes (where a snapshot holds both, they must agree),
with NVlabs' tensors under NVlabs' names. Anything that does not map exactly is refused with the
parameters named, never approximated. Nothing from the pickle is executed (`generator.nvlabs.snapshot`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generator.inference.averages import class_w_means
from generator.nets.checkpoint import load_checkpoint_file, load_module_state, save_checkpoint
from generator.nets.networks import MappingNetwork
from generator.nvlabs.networks import SYNTHESIS, ImportedConfig
from generator.nvlabs.snapshot import (
    NVlabsError,
    PersistentRecord,
    _plain,
    architecture,
    describe,
    read_snapshot,
)

MAPPING_KIND = "mapping"  # checkpoint kind: a mapping network alone, which `load_generator` refuses
W_AVG_MODES = ("per-class", "nvlabs")


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
        problems.append(f"{name}: activation {record.attributes.get('activation')!r}, ours {activation!r}")
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
            problems.append(f"{name}.weight: {weight.shape[0]} outputs, ours keeps every layer w_dim={w_dim} wide")
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
        problems.append(f"mapping.fc0.weight: {width} inputs, expected z_dim + embed = {z_dim + embed_dim}")
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


def mapping_from(config: dict[str, Any], state: dict[str, torch.Tensor], where: str) -> MappingNetwork:
    net = MappingNetwork(**config)
    load_module_state(net, state, where)
    return net.eval().requires_grad_(False)


# ---- the synthesis network: a spec for generator.nvlabs.networks, and its tensors ---------------

_ABSENT = object()


def _value(record: PersistentRecord, key: str, default: Any = _ABSENT) -> Any:
    """An effective setting: the module's attribute (what its constructor resolved) if the
    snapshot holds one, else its init kwarg, else NVlabs' default for it."""
    for source in (record.attributes, record.init_kwargs):
        if key in source and source[key] is not None:
            value = source[key]
            return value.tolist() if isinstance(value, np.ndarray) else _plain_number(value)
    if default is _ABSENT:
        raise NVlabsError(f"{record.class_name} has no {key!r} (neither attribute nor init kwarg)")
    return default


def _plain_number(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _pair(value: Any) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value, value]
    return [int(v) for v in values]


def _shape(record: PersistentRecord, name: str) -> list[int] | None:
    tensor = record.buffers.get(name, record.parameters.get(name))
    return None if tensor is None else list(tensor.shape)


def _weight(record: PersistentRecord) -> torch.Tensor:
    """A convolution's or linear layer's weight. NVlabs registers None only for optional
    parameters (a missing bias), never for a weight; a record whose weight is absent still fails
    here, as it did on the weight's shape."""
    weight = record.parameters["weight"]
    assert weight is not None, f"{record.class_name}: weight is None"
    return weight


def _dense_problems(record: PersistentRecord, where: str) -> list[str]:
    """An affine layer must be linear with unit learning rate (what NVlabs' synthesis builds)."""
    problems = []
    weight = record.parameters.get("weight")
    if weight is None or record.parameters.get("bias") is None:
        return [f"{where}: weight or bias missing"]
    if record.attributes.get("activation", "linear") != "linear":
        problems.append(f"{where}: activation {record.attributes['activation']!r}, not linear")
    gain = float(record.attributes.get("weight_gain", 1 / math.sqrt(weight.shape[1])))
    if not math.isclose(gain, 1 / math.sqrt(weight.shape[1]), rel_tol=1e-9):
        problems.append(f"{where}: weight gain {gain}, not 1/sqrt(in_features)")
    if float(record.attributes.get("bias_gain", 1.0)) != 1.0:
        problems.append(f"{where}: bias gain {record.attributes['bias_gain']}, not 1")
    return problems


def _sg2_layer(record: PersistentRecord, where: str, problems: list[str]) -> dict[str, Any]:
    weight = record.parameters.get("weight")
    if weight is None:
        raise NVlabsError(f"{where}.weight is missing")
    if _value(record, "activation", "lrelu") != "lrelu":
        problems.append(f"{where}: activation {_value(record, 'activation')!r}; only lrelu is built")
    problems.extend(_dense_problems(record.child("affine"), f"{where}.affine"))
    use_noise = record.buffers.get("noise_const") is not None
    if use_noise != bool(_value(record, "use_noise", True)):
        problems.append(f"{where}: use_noise disagrees with its noise_const buffer")
    up = int(_value(record, "up", 1))
    if up not in (1, 2):
        problems.append(f"{where}: up={up}; StyleGAN2 blocks upsample by 2")
    clamp = _value(record, "conv_clamp", None)
    return {
        "in_channels": int(weight.shape[1]),
        "out_channels": int(weight.shape[0]),
        "kernel_size": int(weight.shape[-1]),
        "resolution": int(_value(record, "resolution")),
        "up": up,
        "use_noise": use_noise,
        "conv_clamp": None if clamp is None else float(clamp),
        "filter_shape": _shape(record, "resample_filter"),
    }


def stylegan2_spec(g: PersistentRecord) -> dict[str, Any]:
    """The spec of `stylegan2.StyleGAN2Synthesis` for G_ema.synthesis (orig/skip/resnet)."""
    synthesis = g.child("synthesis")
    problems: list[str] = []
    blocks = []
    for name, block in synthesis.modules.items():
        if block is None or block.class_name != "SynthesisBlock":
            problems.append(f"synthesis.{name}: a {getattr(block, 'class_name', None)}, not a SynthesisBlock")
            continue
        where = f"synthesis.{name}"
        res = int(_value(block, "resolution"))
        arch = _value(block, "architecture", "skip")
        if name != f"b{res}":
            problems.append(f"{where}: resolution {res} does not match its name")
        # NVlabs passes a block's channel counts positionally: read them from the weights
        first = "const" in block.parameters
        conv1 = _weight(block.child("conv1"))
        in_channels = 0 if first else int(_weight(block.child("conv0")).shape[1])
        spec: dict[str, Any] = {
            "resolution": res,
            "architecture": arch,
            "in_channels": in_channels,
            "out_channels": int(conv1.shape[0]),
            "filter_shape": _shape(block, "resample_filter"),
            "conv1": _sg2_layer(block.child("conv1"), f"{where}.conv1", problems),
            "torgb": None,
            "skip": None,
        }
        if int(_value(block, "in_channels", in_channels)) != in_channels:
            problems.append(f"{where}: in_channels and the const parameter disagree")
        if not first:
            spec["conv0"] = _sg2_layer(block.child("conv0"), f"{where}.conv0", problems)
            if spec["conv0"]["up"] != 2:
                problems.append(f"{where}.conv0: does not upsample by 2")
        if block.modules.get("torgb") is not None:
            rgb = block.child("torgb")
            weight = _weight(rgb)
            problems.extend(_dense_problems(rgb.child("affine"), f"{where}.torgb.affine"))
            clamp = _value(rgb, "conv_clamp", None)
            spec["torgb"] = {
                "in_channels": int(weight.shape[1]),
                "out_channels": int(weight.shape[0]),
                "kernel_size": int(weight.shape[-1]),
                "conv_clamp": None if clamp is None else float(clamp),
            }
        if block.modules.get("skip") is not None:
            skip = block.child("skip")
            weight = _weight(skip)
            if skip.parameters.get("bias") is not None or weight.shape[-1] != 1:
                problems.append(f"{where}.skip: expected a 1x1 convolution without bias")
            if _value(skip, "up", 2) != 2 or _value(skip, "activation", "linear") != "linear":
                problems.append(f"{where}.skip: expected a linear 2x upsampling shortcut")
            if _value(skip, "conv_clamp", None) is not None:
                problems.append(f"{where}.skip: conv_clamp on the shortcut is not built")
            spec["skip"] = {
                "in_channels": int(weight.shape[1]),
                "out_channels": int(weight.shape[0]),
                "filter_shape": _shape(skip, "resample_filter"),
            }
        if (spec["skip"] is not None) != (arch == "resnet" and not first):
            problems.append(
                f"{where}: architecture {arch!r} but skip shortcut {'present' if spec['skip'] else 'absent'}"
            )
        blocks.append(spec)
    if problems:
        raise NVlabsError("the StyleGAN2 synthesis does not map exactly: " + "; ".join(problems))
    blocks.sort(key=lambda b: b["resolution"])
    return {
        "kind": "stylegan2",
        "resolution": blocks[-1]["resolution"],
        "w_dim": int(_value(synthesis, "w_dim")),
        "architecture": blocks[-1]["architecture"],
        "blocks": blocks,
    }


def _sg3_layer(record: PersistentRecord, name: str, problems: list[str]) -> dict[str, Any]:
    """One alias-free layer's geometry, recomputed from its kwargs as NVlabs' constructor does
    and checked against the attributes the snapshot stored."""
    where = f"synthesis.{name}"
    weight = _weight(record)
    is_torgb = bool(_value(record, "is_torgb"))
    in_size, out_size = _pair(_value(record, "in_size")), _pair(_value(record, "out_size"))
    in_rate, out_rate = (
        float(_value(record, "in_sampling_rate")),
        float(_value(record, "out_sampling_rate")),
    )
    kwargs = record.init_kwargs
    relu_up = 1 if is_torgb else float(kwargs.get("lrelu_upsampling", 2))
    tmp_rate = float(record.attributes.get("tmp_sampling_rate", max(in_rate, out_rate) * relu_up))
    up, down = round(tmp_rate / in_rate), round(tmp_rate / out_rate)
    if in_rate * up != tmp_rate or out_rate * down != tmp_rate:
        problems.append(f"{where}: sampling rates {in_rate}, {out_rate} are not integer ratios of {tmp_rate}")
    filter_size = int(kwargs.get("filter_size", 6))
    up_taps = filter_size * up if up > 1 and not is_torgb else 1
    down_taps = filter_size * down if down > 1 and not is_torgb else 1
    kernel = 1 if is_torgb else int(kwargs.get("conv_kernel", 3))
    padding = []
    for axis in (0, 1):  # x then y, as NVlabs lists them
        total = (out_size[axis] - 1) * down + 1 - (in_size[axis] + kernel - 1) * up
        total += up_taps + down_taps - 2
        low = (total + up) // 2  # the symmetric interpretation of sample positions
        padding += [low, total - low]
    derived = {"up_factor": up, "down_factor": down, "conv_kernel": kernel, "padding": padding}
    for key, value in derived.items():
        stored = record.attributes.get(key)
        if stored is not None and _plain(stored) != value:
            problems.append(f"{where}.{key}: snapshot {_plain(stored)}, derived {value}")
    if list(weight.shape[2:]) != [kernel, kernel]:
        problems.append(f"{where}.weight: kernel {list(weight.shape[2:])}, expected {kernel}")
    up_shape, down_shape = _shape(record, "up_filter"), _shape(record, "down_filter")
    if (up_shape is None) != (up_taps == 1) or (up_shape and up_shape[0] != up_taps):
        problems.append(f"{where}.up_filter: shape {up_shape} for {up_taps} taps")
    if (down_shape is None) != (down_taps == 1) or (down_shape and down_shape[0] != down_taps):
        problems.append(f"{where}.down_filter: shape {down_shape} for {down_taps} taps")
    for shape, which in ((up_shape, "up_filter"), (down_shape, "down_filter")):
        if shape and (len(shape) > 2 or len(set(shape)) != 1):
            problems.append(f"{where}.{which}: shape {shape}, neither separable nor square")
    if "magnitude_ema" not in record.buffers:
        problems.append(f"{where}.magnitude_ema: missing")
    problems.extend(_dense_problems(record.child("affine"), f"{where}.affine"))
    clamp = _value(record, "conv_clamp", 256)
    return {
        "name": name,
        "is_torgb": is_torgb,
        "in_channels": int(weight.shape[1]),
        "out_channels": int(weight.shape[0]),
        "in_size": in_size,
        "out_size": out_size,
        "conv_kernel": kernel,
        "up_factor": up,
        "down_factor": down,
        "padding": padding,
        "conv_clamp": None if clamp is None else float(clamp),
        "up_filter_shape": up_shape,
        "down_filter_shape": down_shape,
    }


def stylegan3_spec(g: PersistentRecord) -> dict[str, Any]:
    """The spec of `stylegan3.StyleGAN3Synthesis` for G_ema.synthesis (-T or -R)."""
    synthesis = g.child("synthesis")
    fourier = synthesis.child("input")
    problems = _dense_problems(fourier.child("affine"), "synthesis.input.affine")
    names = synthesis.attributes.get("layer_names") or [n for n in synthesis.modules if n != "input"]
    layers = [_sg3_layer(synthesis.child(n), n, problems) for n in names]
    num_layers = synthesis.init_kwargs.get("num_layers", synthesis.attributes.get("num_layers", 14))
    if len(layers) != int(num_layers) + 1 or not layers[-1]["is_torgb"]:
        problems.append(f"synthesis: {len(layers)} layers for num_layers={num_layers}, the last not ToRGB")
    for a, b in pairwise(layers):
        if a["out_channels"] != b["in_channels"] or a["out_size"] != b["in_size"]:
            problems.append(f"synthesis.{a['name']} -> {b['name']}: shapes do not chain")
    size = _pair(_value(fourier, "size"))
    channels = int(_weight(fourier).shape[0])
    if layers and (layers[0]["in_size"] != size or layers[0]["in_channels"] != channels):
        problems.append("synthesis.input: its output does not feed the first layer")
    if problems:
        raise NVlabsError("the StyleGAN3 synthesis does not map exactly: " + "; ".join(problems))
    return {
        "kind": "stylegan3",
        "resolution": layers[-1]["out_size"][0],
        "w_dim": int(_value(synthesis, "w_dim")),
        "output_scale": float(_value(synthesis, "output_scale", 0.25)),
        "input": {
            "channels": channels,
            "size": size,
            "sampling_rate": float(_value(fourier, "sampling_rate")),
            "bandwidth": float(_value(fourier, "bandwidth")),
        },
        "layers": layers,
    }


def convert_synthesis(g: PersistentRecord) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Our synthesis network's spec and state dict for G_ema.synthesis; NVlabsError naming every
    parameter that does not map (missing, unexpected or of another shape)."""
    arch = architecture(g)
    if arch.startswith("StyleGAN3"):
        spec = stylegan3_spec(g)
    elif arch.startswith("StyleGAN2"):
        spec = stylegan2_spec(g)
    else:
        raise NVlabsError(f"{arch}: not a StyleGAN2 or StyleGAN3 synthesis network")
    channels = g.init_kwargs.get("img_channels", 3)
    if int(channels) != 3:
        raise NVlabsError(f"img_channels={channels}: the study's portraits are RGB (3 channels)")
    resolution = g.init_kwargs.get("img_resolution", spec["resolution"])
    if int(resolution) != spec["resolution"]:
        raise NVlabsError(f"img_resolution={resolution}, but the synthesis ends at {spec['resolution']} px")
    ours = SYNTHESIS[spec["kind"]](spec).state_dict()
    theirs = {k: v.float() for k, v in g.child("synthesis").named_tensors().items()}
    problems = [f"synthesis.{k}: not in the snapshot" for k in sorted(set(ours) - set(theirs))]
    problems += [f"synthesis.{k}: no counterpart here" for k in sorted(set(theirs) - set(ours))]
    problems += [
        f"synthesis.{k}: shape {list(theirs[k].shape)}, expected {list(ours[k].shape)}"
        for k in sorted(set(ours) & set(theirs))
        if theirs[k].shape != ours[k].shape
    ]
    if problems:
        raise NVlabsError(f"{arch} synthesis parameters do not map: " + "; ".join(problems))
    return spec, {k: theirs[k] for k in ours}


@dataclass(frozen=True)
class ImportResult:
    checkpoint_id: str
    architecture: str
    kind: str  # "generator" or "mapping"


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
    """Convert G_ema into a generator checkpoint (or, with mapping_only, its mapping network)."""
    if w_avg not in W_AVG_MODES:
        raise NVlabsError(f"--w-avg must be one of {', '.join(W_AVG_MODES)}, got {w_avg!r}")
    snapshot = read_snapshot(snapshot_path)
    g = snapshot.g_ema
    arch = architecture(g)
    config, state, global_w_avg = convert_mapping(g)
    conditional = config["embed_dim"] > 0
    if conditional and not classes:
        raise NVlabsError(
            f"a conditional snapshot with {config['num_classes']} labels: name them with --classes "
            "a,b,c or --classes-file FILE (the study's disorder codes, in label order)"
        )
    names = classes or ["unconditional"]
    if len(names) != config["num_classes"] or len(set(names)) != len(names) or not all(names):
        raise NVlabsError(
            f"--classes: {len(names)} names given ({', '.join(names)}); the snapshot needs {config['num_classes']} distinct ones, in label order"
        )
    # the synthesis is converted (or refused) before the slow per-class averages are computed
    synthesis = None if mapping_only else convert_synthesis(g)
    net = mapping_from(config, state, f"{snapshot_path} (G_ema.mapping)")
    if w_avg == "nvlabs":
        if global_w_avg is None:
            raise NVlabsError("--w-avg nvlabs: the snapshot's mapping.w_avg buffer is absent (w_avg_beta=None)")
        net.w_avg.copy_(global_w_avg.expand_as(net.w_avg))
    else:
        net.w_avg.copy_(class_w_means(net, w_avg_samples, seed))  # the one rule for truncation centres
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
        "training_set_kwargs": report["training_set_kwargs"],
        "w_avg": {
            "mode": w_avg,
            "samples": w_avg_samples if w_avg == "per-class" else None,
            "seed": seed,
        },
        "noise_mode": "const",
    }
    if synthesis is None:
        ckpt_id = save_checkpoint(
            out,
            kind=MAPPING_KIND,
            config=config,
            disorders=names,
            provenance=provenance,
            tensors=tensors,
        )
        return ImportResult(ckpt_id, arch, MAPPING_KIND)
    spec, synthesis_state = synthesis
    imported = ImportedConfig(
        resolution=spec["resolution"],
        z_dim=config["z_dim"],
        w_dim=config["w_dim"],
        num_classes=config["num_classes"],
        source_architecture=arch,
        mapping=config,
        synthesis=spec,
    )
    tensors.update({f"G_ema.synthesis.{k}": v for k, v in synthesis_state.items()})
    ckpt_id = save_checkpoint(
        out,
        kind="generator",
        config=imported.to_json(),
        disorders=names,
        provenance=provenance,
        tensors=tensors,
    )
    return ImportResult(ckpt_id, arch, "generator")


def load_mapping(path: Path) -> tuple[MappingNetwork, list[str]]:
    """An imported mapping network (eval mode, CPU) and its class names."""
    ckpt = load_checkpoint_file(path, expected_kind=MAPPING_KIND)
    return mapping_from(ckpt.config, ckpt.with_prefix("G_ema.mapping"), f"{path} (G_ema.mapping)"), list(ckpt.disorders)
