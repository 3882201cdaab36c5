"""The synthesis networks of NVlabs' StyleGAN2-ADA and StyleGAN3 (-T, -R), in this package's own code.

They exist so that imported snapshots compute exactly what NVlabs' networks compute with the same
weights. Module and tensor names follow NVlabs' (`b8.conv0.affine.weight`, `L3_52_16.up_filter`),
so a conversion is a rename with a prefix. Every filter comes from the snapshot (StyleGAN2's
resample filters, StyleGAN3's up/down filters, radial ones for -R); nothing is redesigned here.
Each network is described by a JSON `spec` (stored in the checkpoint) resolved at import from the
snapshot's init kwargs and attributes, so loading needs no NVlabs code and no scipy.

Both networks look like `generator.networks.SynthesisNetwork` to the rest of the package:
`forward(w, noise)` with w [B, w_dim] (one style for every layer) or w+ [B, num_ws, w_dim],
`num_ws`, `noise_resolutions` and `make_noise`. NVlabs' 'const' noise mode is built in (StyleGAN2's
stored noise maps; StyleGAN3 has no noise), so there are no per-seed noise maps: a seed's image is
what NVlabs' own `gen_images.py --noise-mode=const` shows for the same z.
The synthesis computes in float32 even under this package's CUDA autocast: StyleGAN3's Fourier
features lose their phases in bf16 (an error of ~0.2 rad at 256 px), and fidelity to the trained
model comes first. (NVlabs runs its `use_fp16` layers in fp16 on CUDA; float32 is the exact result
those approximate.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generator.layers import check_shape
from generator.networks import MappingNetwork

SQRT2 = math.sqrt(2.0)

# ---- the primitive operations, defined by what they compute --------------------------------------


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] | list[int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Insert up-1 zeros after every pixel, pad (x0, x1, y0, y1; negative crops), convolve
    (a true convolution, not a correlation) with the FIR filter f, keep every down-th pixel.

    f is [taps] (separable: along x, then y, each carrying sqrt(gain)) or [h, w]; None is identity.
    """
    b, c, h, w = x.shape
    if up > 1:
        spread = x.new_zeros(b, c, h * up, w * up)
        spread[:, :, ::up, ::up] = x
        x = spread
    x0, x1, y0, y1 = (int(p) for p in padding)
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    if f is None:
        return (x * gain if gain != 1 else x)[:, :, ::down, ::down]
    kernel = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
    if kernel.ndim == 2:
        weight = kernel[None, None].expand(c, 1, *kernel.shape)
        return F.conv2d(x, weight, stride=down, groups=c)
    along_x = kernel[None, None, None, :].expand(c, 1, 1, -1)
    along_y = kernel[None, None, :, None].expand(c, 1, -1, 1)
    x = F.conv2d(x, along_x, stride=(1, down), groups=c)
    return F.conv2d(x, along_y, stride=(down, 1), groups=c)


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None,
    lrelu: bool,
    gain: float = 1.0,
    clamp: float | None = None,
    slope: float = 0.2,
) -> torch.Tensor:
    """Add a per-channel bias, leaky ReLU (or nothing), scale by gain, clamp to +-clamp."""
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if lrelu:
        x = F.leaky_relu(x, slope)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def conv2d_resample(
    x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor | None, up: int, padding: int
) -> torch.Tensor:
    """StyleGAN2's convolution with optional upsampling, in its order of operations: a 1x1 kernel
    convolves then FIR-upsamples; a larger kernel runs as a stride-`up` transposed convolution
    followed by the FIR filter (gain up^2), the padding split between the two as NVlabs splits it."""
    kh, kw = weight.shape[2:]
    if up == 1:
        return F.conv2d(x, weight, padding=padding)
    fh, fw = (1, 1) if f is None else (f.shape[0], f.shape[-1])
    pads = [
        padding + (fw + up - 1) // 2,
        padding + (fw - up) // 2,
        padding + (fh + up - 1) // 2,
        padding + (fh - up) // 2,
    ]
    if kh == 1 and kw == 1:
        return upfirdn2d(F.conv2d(x, weight), f, up=up, padding=pads, gain=up**2)
    pads = [pads[0] - (kw - 1), pads[1] - (kw - up), pads[2] - (kh - 1), pads[3] - (kh - up)]
    px = max(min(-pads[0], -pads[1]), 0)
    py = max(min(-pads[2], -pads[3]), 0)
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up, padding=[py, px])
    return upfirdn2d(
        x, f, padding=[pads[0] + px, pads[1] + px, pads[2] + py, pads[3] + py], gain=up**2
    )


class Dense(nn.Module):
    """NVlabs' FullyConnectedLayer: weight * lr_mul / sqrt(in), bias * lr_mul, optional lrelu."""

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias * self.bias_gain, x, (self.weight * self.weight_gain).t())


def _demodulation(styles: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """[B, out]: 1 / |weight * style| per output channel, without building per-sample weights."""
    energy = styles.square() @ weight.square().sum(dim=(2, 3)).t()
    return (energy + 1e-8).rsqrt()


def _styles_per_layer(w: torch.Tensor, num_ws: int, w_dim: int) -> list[torch.Tensor]:
    if w.ndim == 3:
        check_shape("w+", w, (None, num_ws, w_dim))
        return list(w.float().unbind(1))
    check_shape("w", w, (None, w_dim))
    return [w.float()] * num_ws


def _no_noise(noise: list[torch.Tensor] | None) -> None:
    if noise:
        raise ValueError(
            f"noise: an imported NVlabs network uses its stored noise (noise_mode='const'); got {len(noise)} maps"
        )


# ---- StyleGAN2 (-ADA) ---------------------------------------------------------------------------


class SG2Layer(nn.Module):
    """A modulated 3x3 (or k x k) convolution, optionally upsampling, with stored noise."""

    def __init__(self, spec: dict[str, Any], w_dim: int) -> None:
        super().__init__()
        i, o, k = spec["in_channels"], spec["out_channels"], spec["kernel_size"]
        self.up, self.padding, self.conv_clamp = spec["up"], k // 2, spec["conv_clamp"]
        self.affine = Dense(w_dim, i)
        self.weight = nn.Parameter(torch.zeros(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o))
        self.register_buffer("resample_filter", torch.zeros(spec["filter_shape"]))
        self.use_noise = spec["use_noise"]
        if self.use_noise:
            r = spec["resolution"]
            self.register_buffer("noise_const", torch.zeros(r, r))
            self.noise_strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, w: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        x = x * styles[:, :, None, None]
        x = conv2d_resample(x, self.weight, self.resample_filter, self.up, self.padding)
        x = x * _demodulation(styles, self.weight)[:, :, None, None]
        if self.use_noise:
            x = x + self.noise_const * self.noise_strength
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, lrelu=True, gain=SQRT2 * gain, clamp=clamp)


class SG2ToRGB(nn.Module):
    def __init__(self, spec: dict[str, Any], w_dim: int) -> None:
        super().__init__()
        i, o, k = spec["in_channels"], spec["out_channels"], spec["kernel_size"]
        self.conv_clamp = spec["conv_clamp"]
        self.affine = Dense(w_dim, i)
        self.weight = nn.Parameter(torch.zeros(o, i, k, k))
        self.bias = nn.Parameter(torch.zeros(o))
        self.weight_gain = 1 / math.sqrt(i * k * k)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = F.conv2d(x * styles[:, :, None, None], self.weight, padding=self.weight.shape[-1] // 2)
        return bias_act(x, self.bias, lrelu=False, clamp=self.conv_clamp)


class SG2Skip(nn.Module):
    """The resnet block's shortcut: 1x1 convolution, FIR upsampling, no bias."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(spec["out_channels"], spec["in_channels"], 1, 1))
        self.register_buffer("resample_filter", torch.zeros(spec["filter_shape"]))
        self.weight_gain = 1 / math.sqrt(spec["in_channels"])

    def forward(self, x: torch.Tensor, gain: float) -> torch.Tensor:
        x = conv2d_resample(x, self.weight * self.weight_gain, self.resample_filter, 2, 0)
        return x * gain


class SG2Block(nn.Module):
    def __init__(self, spec: dict[str, Any], w_dim: int) -> None:
        super().__init__()
        self.resolution, self.architecture = spec["resolution"], spec["architecture"]
        self.first = spec["in_channels"] == 0
        self.register_buffer("resample_filter", torch.zeros(spec["filter_shape"]))
        if self.first:
            r = spec["resolution"]
            self.const = nn.Parameter(torch.zeros(spec["out_channels"], r, r))
        else:
            self.conv0 = SG2Layer(spec["conv0"], w_dim)
        self.conv1 = SG2Layer(spec["conv1"], w_dim)
        self.torgb = SG2ToRGB(spec["torgb"], w_dim) if spec.get("torgb") else None
        self.skip = SG2Skip(spec["skip"]) if spec.get("skip") else None
        self.num_conv = 1 if self.first else 2
        self.num_torgb = 1 if self.torgb is not None else 0

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        styles = iter(ws)
        if self.first:
            x = self.const.unsqueeze(0).expand(ws[0].shape[0], -1, -1, -1)
            x = self.conv1(x, next(styles))
        elif self.skip is not None:
            shortcut = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(styles))
            x = shortcut + self.conv1(x, next(styles), gain=math.sqrt(0.5))
        else:
            x = self.conv0(x, next(styles))
            x = self.conv1(x, next(styles))
        if img is not None:
            img = upfirdn2d(
                img, self.resample_filter, up=2, padding=_up2_padding(self.resample_filter), gain=4
            )
        if self.torgb is not None:
            rgb = self.torgb(x, next(styles))
            img = rgb if img is None else img + rgb
        return x, img


def _up2_padding(f: torch.Tensor) -> list[int]:
    """Padding that makes a 2x FIR upsampling exactly double the size (NVlabs' upsample2d)."""
    fh, fw = f.shape[0], f.shape[-1]
    return [(fw + 1) // 2, (fw - 2) // 2, (fh + 1) // 2, (fh - 2) // 2]


class StyleGAN2Synthesis(nn.Module):
    """NVlabs' StyleGAN2 synthesis (orig, skip or resnet): a learned 4x4 constant, then blocks."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.resolution, self.w_dim = spec["resolution"], spec["w_dim"]
        self.block_names = [f"b{b['resolution']}" for b in spec["blocks"]]
        for name, block in zip(self.block_names, spec["blocks"], strict=True):
            self.add_module(name, SG2Block(block, self.w_dim))
        blocks = [getattr(self, n) for n in self.block_names]
        self._num_ws = sum(b.num_conv for b in blocks) + blocks[-1].num_torgb
        self.noise_resolutions: list[int] = []

    @property
    def num_ws(self) -> int:
        return self._num_ws

    def make_noise(
        self, batch: int, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        return []

    def forward(self, w: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        _no_noise(noise)
        with torch.autocast(device_type=w.device.type, enabled=False):  # float32, see module doc
            return self._synthesise(_styles_per_layer(w, self.num_ws, self.w_dim))

    def _synthesise(self, ws: list[torch.Tensor]) -> torch.Tensor:
        x = img = None
        start = 0
        for name in self.block_names:
            block = getattr(self, name)
            # consecutive blocks share one w: a block's ToRGB style is the next block's first
            x, img = block(x, img, ws[start : start + block.num_conv + block.num_torgb])
            start += block.num_conv
        return img


# ---- StyleGAN3 (-T, -R) ---------------------------------------------------------------------------


class FourierInput(nn.Module):
    """StyleGAN3's input: sinusoids at stored frequencies and phases, rotated and translated per
    sample by an affine of w, band-limited by amplitude, mixed by a learned matrix."""

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
        phases = self.phases.unsqueeze(0) + (
            self.freqs.unsqueeze(0) @ transform[:, :2, 2:]
        ).squeeze(2)
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
        self.register_buffer(
            "up_filter", torch.zeros(spec["up_filter_shape"]) if spec["up_filter_shape"] else None
        )
        self.register_buffer(
            "down_filter",
            torch.zeros(spec["down_filter_shape"]) if spec["down_filter_shape"] else None,
        )
        self.torgb_gain = 1 / math.sqrt(i * k * k)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        weight = self.weight
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
            x = x * _demodulation(styles, weight)[:, :, None, None]
        x = bias_act(x, self.bias, lrelu=False)
        x = upfirdn2d(x, self.up_filter, up=self.up, padding=self.padding, gain=self.up**2)
        if self.is_torgb:
            x = bias_act(x, None, lrelu=False, clamp=self.conv_clamp)
        else:
            x = bias_act(x, None, lrelu=True, gain=SQRT2, clamp=self.conv_clamp)
        return upfirdn2d(x, self.down_filter, down=self.down)


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

    def make_noise(
        self, batch: int, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        return []

    def forward(self, w: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        _no_noise(noise)
        with torch.autocast(device_type=w.device.type, enabled=False):  # float32, see module doc
            return self._synthesise(_styles_per_layer(w, self.num_ws, self.w_dim))

    def _synthesise(self, ws: list[torch.Tensor]) -> torch.Tensor:
        x = self.input(ws[0])
        for name, style in zip(self.layer_names, ws[1:], strict=True):
            x = getattr(self, name)(x, style)
        return x * self.output_scale if self.output_scale != 1 else x


# ---- the generator ---------------------------------------------------------------------------------

SYNTHESIS = {"stylegan2": StyleGAN2Synthesis, "stylegan3": StyleGAN3Synthesis}
IMPORTED = "nvlabs"  # the `architecture` key of an imported generator checkpoint's config


@dataclass(frozen=True)
class ImportedConfig:
    """An imported generator's shapes: what `LoadedGenerator.config` offers for our own networks
    (resolution, z_dim, w_dim, num_classes), plus the mapping config and the synthesis spec."""

    resolution: int
    z_dim: int
    w_dim: int
    num_classes: int
    source_architecture: str  # e.g. "StyleGAN3-R", "StyleGAN2 (skip)"
    mapping: dict[str, Any]  # MappingNetwork kwargs
    synthesis: dict[str, Any]  # StyleGAN2Synthesis / StyleGAN3Synthesis spec

    def to_json(self) -> dict[str, Any]:
        return {"architecture": IMPORTED, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportedConfig:
        data = dict(data)
        if data.pop("architecture", None) != IMPORTED:
            raise ValueError("not an imported NVlabs generator config")
        known = {f.name for f in fields(cls)}
        if set(data) != known:
            raise ValueError(f"imported generator config: keys {sorted(set(data) ^ known)} differ")
        return cls(**data)

    def differences(self, other: object) -> list[str]:
        if not isinstance(other, ImportedConfig):
            return [f"an imported {self.source_architecture} network, not {type(other).__name__}"]
        a, b = self.to_json(), other.to_json()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if a[k] != b[k]]


class ImportedGenerator(nn.Module):
    """An imported NVlabs generator behind this package's interface: our mapping network (the
    conversion is exact, with per-class w averages for truncation) and NVlabs' synthesis."""

    def __init__(self, mapping_config: dict[str, Any], synthesis_spec: dict[str, Any]) -> None:
        super().__init__()
        kind = synthesis_spec.get("kind")
        if kind not in SYNTHESIS:
            raise ValueError(
                f"unknown imported synthesis kind {kind!r}; this code reads {sorted(SYNTHESIS)}"
            )
        self.mapping = MappingNetwork(**mapping_config)
        self.synthesis = SYNTHESIS[kind](synthesis_spec)

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor,
        truncation: float = 1.0,
        noise: list[torch.Tensor] | None = None,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        with torch.autocast(device_type=z.device.type, enabled=False):  # float32, see module doc
            w = self.mapping(z.float(), labels, truncation=truncation, update_w_avg=update_w_avg)
            return self.synthesis(w, noise)
