"""Convert an NVlabs StyleGAN2-ADA / StyleGAN3 snapshot into this package's generator checkpoint.

The mapping network becomes ours exactly (`generator.nvlabs.mapping`); the synthesis network becomes
`generator.nvlabs.networks`' StyleGAN2 or StyleGAN3 synthesis, described by a JSON spec resolved
from the snapshot's init kwargs and attributes (`generator.nvlabs.synthesis_spec`; where a snapshot
holds both, they must agree), with NVlabs' tensors under NVlabs' names. Anything that does not map
exactly is refused with the parameters named, never approximated. Nothing from the pickle is
executed (`generator.nvlabs.snapshot`). This module is the import itself: the class names, the
per-class truncation centres, the provenance and the checkpoint written (or read back, for a
mapping network alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.inference.averages import class_w_means
from generator.nets.checkpoint import load_checkpoint_file, save_checkpoint
from generator.nets.networks import MappingNetwork
from generator.nvlabs.mapping import convert_mapping, mapping_from
from generator.nvlabs.networks import ImportedConfig
from generator.nvlabs.snapshot import NVlabsError, architecture, describe, read_snapshot
from generator.nvlabs.synthesis_spec import convert_synthesis

MAPPING_KIND = "mapping"  # checkpoint kind: a mapping network alone, which `load_generator` refuses
W_AVG_MODES = ("per-class", "nvlabs")


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
