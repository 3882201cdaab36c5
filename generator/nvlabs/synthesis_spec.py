"""The synthesis network: a spec for generator.nvlabs.networks, and its tensors.

`stylegan2_spec` and `stylegan3_spec` resolve the JSON spec of `stylegan2.StyleGAN2Synthesis` or
`stylegan3.StyleGAN3Synthesis` from the snapshot's init kwargs and attributes (where a snapshot
holds both, they must agree), through the readers they share (`_value`, `_dense_problems`, ...);
`convert_synthesis` picks one by architecture and checks that NVlabs' tensors, under NVlabs' names,
are exactly those of the network the spec builds. Kept apart from the importer because this is the
part that knows NVlabs' synthesis modules, one block or layer at a time."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import numpy as np
import torch

from generator.nvlabs.networks import SYNTHESIS
from generator.nvlabs.snapshot import NVlabsError, PersistentRecord, _plain, architecture

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
