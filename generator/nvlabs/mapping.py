"""NVlabs' mapping network as ours, exactly: `convert_mapping` reads a snapshot's G_ema.mapping into
our MappingNetwork's config and state dict (refusing, with the layers named, what does not map),
`mapping_from` builds the network from them. Kept apart from the synthesis (`synthesis_spec`) because
the mapping becomes our own network, shared by StyleGAN2 and StyleGAN3 snapshots alike, and is
all that a mapping-only import keeps."""

from __future__ import annotations

import math
from typing import Any

import torch

from generator.nets.checkpoint import load_module_state
from generator.nets.networks import MappingNetwork
from generator.nvlabs.snapshot import NVlabsError, PersistentRecord


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
