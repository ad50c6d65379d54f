"""DenseDepth's loss (the paper's §4.1 recipe) on the o = max_depth / depth parameterization.

``loss = w_ssim * clip((1 - SSIM) / 2, 0, 1) + w_grad * mean|grad y - grad y_hat|
+ w_l1 * mean|y - y_hat|`` with weights 1.0 / 1.0 / 0.1.

Sparse targets (lidar) come with a validity mask, and every term is masked:

* **L1**: the mean over valid pixels.
* **Gradients**: finite differences are compared only where *both* pixels of a pair are valid
  (a difference across a hole would compare against a made-up zero).
* **SSIM**: local statistics are mask-weighted Gaussian averages (each window uses only its
  valid pixels, normalized by its valid weight), and the SSIM map is averaged over valid centre
  pixels whose window holds at least ``min_window_weight`` of valid weight. With an all-ones
  mask this is the ordinary Gaussian SSIM (windows at the border use their in-image part).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["DepthLoss", "LossWeights", "masked_gradient_loss", "masked_l1", "masked_ssim"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three terms (the paper: SSIM 1.0, gradients 1.0, L1 0.1)."""

    ssim: float = 1.0
    grad: float = 1.0
    l1: float = 0.1


def _gaussian_kernel(size: int, sigma: float, device: torch.device,
                     dtype: torch.dtype) -> torch.Tensor:
    """Normalized 1-D Gaussian window."""
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter with zero padding; x is (B, 1, H, W)."""
    k = kernel.numel()
    x = F.conv2d(x, kernel.view(1, 1, 1, k), padding=(0, k // 2))
    return F.conv2d(x, kernel.view(1, 1, k, 1), padding=(k // 2, 0))


def _safe_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean, 0 (still differentiable) when there is no weight."""
    return (values * weights).sum() / weights.sum().clamp(min=1.0)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |target - pred| over valid pixels."""
    return _safe_mean((target - pred).abs(), mask)


def masked_gradient_loss(pred: torch.Tensor, target: torch.Tensor,
                         mask: torch.Tensor) -> torch.Tensor:
    """mean|dy - dy_hat| + mean|dx - dx_hat| over pixel pairs that are both valid."""
    my = mask[..., 1:, :] * mask[..., :-1, :]
    mx = mask[..., :, 1:] * mask[..., :, :-1]
    dy = (pred[..., 1:, :] - pred[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    dx = (pred[..., :, 1:] - pred[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    return _safe_mean(dy.abs(), my) + _safe_mean(dx.abs(), mx)


def masked_ssim(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                value_range: float, window: int = 11, sigma: float = 1.5,
                min_window_weight: float = 0.5) -> torch.Tensor:
    """Mean SSIM over valid windows (mask-weighted local statistics, see the module doc)."""
    kernel = _gaussian_kernel(window, sigma, pred.device, pred.dtype)
    c1 = (0.01 * value_range) ** 2
    c2 = (0.03 * value_range) ** 2
    w = _blur(mask, kernel)
    inv = 1.0 / w.clamp(min=1e-6)
    mu_x = _blur(mask * pred, kernel) * inv
    mu_y = _blur(mask * target, kernel) * inv
    var_x = (_blur(mask * pred * pred, kernel) * inv - mu_x**2).clamp(min=0)
    var_y = (_blur(mask * target * target, kernel) * inv - mu_y**2).clamp(min=0)
    cov = _blur(mask * pred * target, kernel) * inv - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    # Reference weight of a full window at this position (lower near the image border).
    full = _blur(torch.ones_like(mask[:1]), kernel)
    centres = mask * (w >= min_window_weight * full).to(mask.dtype)
    return _safe_mean(ssim, centres)


class DepthLoss(torch.nn.Module):
    """The recipe's loss on network outputs and targets, both in o = max_depth / depth units."""

    def __init__(self, weights: LossWeights | None = None, value_range: float = 80.0) -> None:
        super().__init__()
        self.weights = weights or LossWeights()
        self.value_range = float(value_range)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its terms (floats, for logging); tensors are (B, 1, H, W)."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target "
                             f"{tuple(target.shape)} differ in shape")
        pred = pred.float()
        mask = torch.ones_like(target) if mask is None else mask.to(target.dtype)
        w = self.weights
        ssim = masked_ssim(pred, target, mask, self.value_range)
        l_ssim = ((1.0 - ssim) * 0.5).clamp(0.0, 1.0)
        l_grad = masked_gradient_loss(pred, target, mask)
        l_l1 = masked_l1(pred, target, mask)
        total = w.ssim * l_ssim + w.grad * l_grad + w.l1 * l_l1
        terms = {"loss": float(total.detach()), "ssim": float(l_ssim.detach()),
                 "grad": float(l_grad.detach()), "l1": float(l_l1.detach())}
        return total, terms
