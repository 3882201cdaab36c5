"""Seed lists such as `0-999,1200`, and the per-seed inputs that make images batch-independent."""

from __future__ import annotations

import torch


def parse_seeds(spec: str) -> list[int]:
    """`0-3,7` -> [0, 1, 2, 3, 7]; ranges are inclusive, order is kept, duplicates refused."""
    seeds: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else part[1:].split("-", 1)
                first, last = int(lo), int(hi)
                if last < first:
                    raise ValueError
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"bad seed range {part!r} in {spec!r}; write e.g. 0-999,1200") from None
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative: {spec!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seed list {spec!r} repeats a seed")
    if not seeds:
        raise ValueError("no seeds given")
    return seeds


def seed_inputs(seeds: list[int], z_dim: int, noise_resolutions: list[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """z and noise maps drawn from each seed's own CPU generator, so a seed's image never depends on
    which batch or device it is generated on."""
    zs: list[torch.Tensor] = []
    noises: list[list[torch.Tensor]] = [[] for _ in noise_resolutions]
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        zs.append(torch.randn(1, z_dim, generator=g))
        for maps, r in zip(noises, noise_resolutions):
            maps.append(torch.randn(1, 1, r, r, generator=g))
    return torch.cat(zs), [torch.cat(m) for m in noises]
