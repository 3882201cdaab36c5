from pathlib import Path

import pytest
import torch

import phantoms
from generator.nets.config import PRESETS, NetworkConfig
from generator.nets.device import resolve_device
from generator.nets.model import LoadedGenerator
from generator.nets.networks import Generator

torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared CPU

TINY: NetworkConfig = PRESETS["tiny"]
TINY_DISORDERS = ["alpha", "beta", "unaffected"]


@pytest.fixture
def tiny_model() -> LoadedGenerator:
    torch.manual_seed(0)
    net = Generator(TINY).eval().requires_grad_(False)
    with torch.no_grad():  # distinct class means, and visible noise, so the tests can tell them apart
        net.mapping.w_avg.copy_(torch.randn_like(net.mapping.w_avg))
        for module in net.synthesis.modules():
            if hasattr(module, "strength"):
                module.strength.fill_(0.5)
    return LoadedGenerator(net, TINY_DISORDERS, "test0000", TINY, {}, resolve_device("cpu"))


@pytest.fixture(scope="session")
def phantom_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantoms16")
    phantoms.write_dataset(out, per_class=2, size=16)
    return out
