"""GAN losses, R1 and the GestaltLoss surrogate.

The paper's GestaltLoss penalises the rank of the requested disorder in a frozen classifier's
prediction. A rank (argsort) is piecewise constant, so its gradient is zero almost everywhere and
the generator learns nothing from it. We use cross-entropy on the classifier's logits instead: it
is smooth, it is minimal exactly when the requested disorder's logit dominates (rank 1), and
unlike a soft rank it has no temperature to tune. The hard rank is still reported for logging.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def d_logistic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean()


def g_nonsaturating_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_scores).mean()


def r1_penalty(real_scores: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient norm of D on real images (real_images must require grad)."""
    (grad,) = torch.autograd.grad(real_scores.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1).mean()


def path_lengths(images: torch.Tensor, ws: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """StyleGAN2's path length per sample: |J_w^T y| with y ~ N(0, I) / sqrt(H W), where J is the
    Jacobian of the images with respect to their per-layer styles ws [B, num_ws, w_dim] (which
    must require grad); the norm is the root of the mean over layers of the squared norms."""
    h, w = images.shape[2], images.shape[3]
    y = torch.randn(images.shape, generator=generator, device=images.device, dtype=torch.float32) / math.sqrt(h * w)
    (grad,) = torch.autograd.grad((images.float() * y).sum(), ws, create_graph=True)
    return grad.float().square().sum(dim=2).mean(dim=1).sqrt()


def path_length_penalty(lengths: torch.Tensor, running_mean: float) -> torch.Tensor:
    """Squared deviation of the path lengths from their running mean: a fixed-size step in w
    should change the image by a fixed amount, whatever the direction."""
    return (lengths - running_mean).square().mean()


class GestaltLoss(nn.Module):
    """Cross-entropy of a frozen classifier on generated images against the requested disorder."""

    # buffer, registered in __init__; declared so the type checker sees a tensor, not
    # nn.Module.__getattr__'s Tensor | Module
    to_classifier: torch.Tensor  # [generator classes] long: each one's classifier index

    def __init__(
        self,
        classifier: nn.Module,  # maps [-1, 1] images to logits over classifier_disorders
        classifier_disorders: list[str],  # the classifier's class order
        generator_disorders: list[str],  # the generator's class order
    ) -> None:
        super().__init__()
        missing = [d for d in generator_disorders if d not in classifier_disorders]
        if missing:
            raise ValueError(f"the GestaltLoss classifier does not know disorders {missing}")
        self.classifier = classifier.eval().requires_grad_(False)
        index = [classifier_disorders.index(d) for d in generator_disorders]
        self.register_buffer("to_classifier", torch.tensor(index, dtype=torch.long))

    def train(self, mode: bool = True) -> GestaltLoss:
        super().train(mode)
        self.classifier.eval()  # frozen: batch-norm statistics must not drift with generated images
        return self

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.classifier(images), self.to_classifier[labels])

    @torch.no_grad()
    def rank(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The paper's quantity: 0-based rank of the requested disorder (0 = ranked first)."""
        logits = self.classifier(images)
        target = logits.gather(1, self.to_classifier[labels][:, None])
        return (logits > target).sum(dim=1)
