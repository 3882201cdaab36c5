"""NVlabs' StyleGAN3 (-T, -R) alias-free synthesis network under NVlabs' module names, built from a
spec that `synthesis_spec.stylegan3_spec` resolves from a snapshot; its filters are the snapshot's."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generator.nets.layers import check_shape
from generator.nvlabs.ops import (
    SQRT2,
    Dense,
    bias_act,
    demodulation,
    refuse_noise,
    styles_per_layer,
    upfirdn2d,
)


class FourierInput(nn.Module):
    """StyleGAN3's input: sinusoids at stored frequencies and phases, rotated and translated per
    sample by an affine of w, band-limited by amplitude, mixed by a learned matrix."""

    # buffers, registered in __init__; declared so the type checker sees tensors, not
    # nn.Module.__getattr__'s Tensor | Module
    transform: torch.Tensor  # [3, 3]
    freqs: torch.Tensor  # [C, 2]
    phases: torch.Tensor  # [C]

    def __init__(self, spec: dict[str, Any], w_dim: int) -> None:
        super().__init__()
        c = spec["channels"]
        self.channels, self.size = c, list(spec["size"])  # [width, height]
        self.sampling_rate, self.bandwidth = float(spec["sampling_rate"]), float(spec["bandwidth"])
        self.weight = nn.Parameter(torch.zeros(c, c))
        self.affine = Dense(w_dim, 4)
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", torch.zeros(c, 2))
        self.register_buffer("phases", torch.zeros(c))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        b = w.shape[0]
        t = self.affine(w)  # rotation (cos, sin) and translation (x, y), before normalising
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rotation = torch.eye(3, device=w.device).repeat(b, 1, 1)
        rotation[:, 0, 0], rotation[:, 0, 1] = t[:, 0], -t[:, 1]
        rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 1], t[:, 0]
        translation = torch.eye(3, device=w.device).repeat(b, 1, 1)
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        transform = rotation @ translation @ self.transform.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ transform[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ transform[:, :2, :2]  # [B, C, 2]
        fade = (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)
        amplitudes = (1 - fade).clamp(0, 1)
        width, height = self.size
        theta = torch.zeros(1, 2, 3, device=w.device)
        theta[0, 0, 0] = 0.5 * width / self.sampling_rate
        theta[0, 1, 1] = 0.5 * height / self.sampling_rate
        grid = F.affine_grid(theta, [1, 1, height, width], align_corners=False)[0]  # [H, W, 2]
        x = torch.einsum("hwk,bck->bhwc", grid, freqs) + phases[:, None, None, :]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2).contiguous()


class SG3Layer(nn.Module):
    """Modulated convolution, then the filtered leaky ReLU: bias, up-FIR at the layer's higher
    sampling rate, leaky ReLU with gain and clamp, down-FIR to the output rate."""

    # buffers, registered in __init__ (a filter is None where the layer does not resample);
    # declared so the type checker sees them, not nn.Module.__getattr__'s Tensor | Module
    magnitude_ema: torch.Tensor  # []
    up_filter: torch.Tensor | None
    down_filter: torch.Tensor | None

    def __init__(self, spec: dict[str, Any], w_dim: int) -> None:
        super().__init__()
        i, o, k = spec["in_channels"], spec["out_channels"], spec["conv_kernel"]
        self.is_torgb = spec["is_torgb"]
        self.in_size, self.out_size = list(spec["in_size"]), list(spec["out_size"])
        self.up, self.down, self.padding = spec["up_factor"], spec["down_factor"], spec["padding"]
        self.conv_clamp, self.conv_kernel = spec["conv_clamp"], k
        self.affine = Dense(w_dim, i)
        self.weight = nn.Parameter(torch.zeros(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o))
        self.register_buffer("magnitude_ema", torch.ones(()))
        self.register_buffer("up_filter", torch.zeros(spec["up_filter_shape"]) if spec["up_filter_shape"] else None)
        self.register_buffer(
            "down_filter",
            torch.zeros(spec["down_filter_shape"]) if spec["down_filter_shape"] else None,
        )
        self.torgb_gain = 1 / math.sqrt(i * k * k)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        width, height = self.in_size
        check_shape("StyleGAN3 layer input", x, (None, self.weight.shape[1], height, width))
        styles = self.affine(w)
        weight: torch.Tensor = self.weight
        if self.is_torgb:
            styles = styles * self.torgb_gain
        else:
            # NVlabs normalises the weight per output channel and the styles by their RMS before
            # demodulating; both factors cancel in the demodulation except against its 1e-8. The
            # styles' RMS is taken per sample here (NVlabs: over the batch), so an image never
            # depends on the batch it is generated in.
            weight = weight * weight.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
            styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
        x = x * (styles * self.magnitude_ema.rsqrt())[:, :, None, None]
        x = F.conv2d(x, weight, padding=self.conv_kernel - 1)
        if not self.is_torgb:
            x = x * demodulation(styles, weight)[:, :, None, None]
        x = bias_act(x, self.bias, lrelu=False)
        x = upfirdn2d(x, self.up_filter, up=self.up, padding=self.padding, gain=self.up**2)
        if self.is_torgb:
            x = bias_act(x, None, lrelu=False, clamp=self.conv_clamp)
        else:
            x = bias_act(x, None, lrelu=True, gain=SQRT2, clamp=self.conv_clamp)
        return upfirdn2d(x, self.down_filter, down=self.down)


# float32 elements of the largest intermediate per forward chunk: on CPU what stays near the cache
# (measured on a 256 px -R: 0.29 s an image in chunks of 1, 0.79 s in one batch of 8); on a GPU
# enough to keep it busy without the 20 GB a batch of 64 would take
CHUNK_ELEMENTS = {"cpu": 2**22, "cuda": 2**27}


class StyleGAN3Synthesis(nn.Module):
    """NVlabs' alias-free synthesis: Fourier features, filtered layers, ToRGB, output scale."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.resolution, self.w_dim = spec["resolution"], spec["w_dim"]
        self.output_scale = float(spec["output_scale"])
        self.input = FourierInput(spec["input"], self.w_dim)
        self.layer_names = [layer["name"] for layer in spec["layers"]]
        for layer in spec["layers"]:
            self.add_module(layer["name"], SG3Layer(layer, self.w_dim))
        self.noise_resolutions: list[int] = []

    @property
    def num_ws(self) -> int:
        return len(self.layer_names) + 1  # the input's style, then one per layer

    def make_noise(self, batch: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        return []

    def forward(self, w: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        refuse_noise(noise)
        with torch.autocast(device_type=w.device.type, enabled=False):  # float32, see module doc
            return self._synthesise(styles_per_layer(w, self.num_ws, self.w_dim))

    def per_sample_elements(self) -> int:
        """The largest intermediate of one image: a layer's output channels at its upsampled size."""
        return max(
            layer["out_channels"]
            * (layer["in_size"][0] * layer["up_factor"] + sum(layer["padding"][:2]))
            * (layer["in_size"][1] * layer["up_factor"] + sum(layer["padding"][2:]))
            for layer in self.spec["layers"]
        )

    def _synthesise(self, ws: list[torch.Tensor]) -> torch.Tensor:
        # NVlabs' CUDA kernel never materialises the upsampled activations; here they are real
        # tensors (320 MB an image for a 256 px StyleGAN3-R), so a large batch runs in chunks.
        # Samples are independent, so the chunk size changes no pixel.
        budget = CHUNK_ELEMENTS.get(ws[0].device.type, CHUNK_ELEMENTS["cpu"])
        chunk = max(1, budget // self.per_sample_elements())
        if ws[0].shape[0] <= chunk:
            return self._synthesise_chunk(ws)
        parts = zip(*(w.split(chunk) for w in ws), strict=True)
        return torch.cat([self._synthesise_chunk(list(part)) for part in parts])

    def _synthesise_chunk(self, ws: list[torch.Tensor]) -> torch.Tensor:
        x = self.input(ws[0])
        for name, style in zip(self.layer_names, ws[1:], strict=True):
            x = getattr(self, name)(x, style)
        return x * self.output_scale if self.output_scale != 1 else x
