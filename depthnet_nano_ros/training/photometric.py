"""Monodepth2's self-supervised loss (Godard et al. 2019): view synthesis from neighbour frames.

The target frame's predicted depth and the relative pose to each source frame give, for every
target pixel, where it appears in the source; sampling the source there re-synthesizes the
target. The loss is the photometric error of that synthesis (0.85 SSIM + 0.15 L1), with

* **per-pixel minimum reprojection** over the source frames (occlusions: a pixel hidden in
  one neighbour is usually visible in the other),
* **auto-masking**: pixels whose error is lower *without* warping (static camera, objects
  moving with it, textureless sky) are left out,
* **edge-aware smoothness** of the mean-normalized disparity, weight 1e-3,
* **multi-scale**: the loss is averaged over the depth at the input resolution and at 1/2
  and 1/4 of it, each upsampled to the input resolution before warping (monodepth2's trick:
  coarse scales see large motions; DepthNet Nano has one output, so the scales are
  downsampled copies of it).

Tensors are (B, C, H, W); `K` is (B, 3, 3) at the input resolution; poses (B, 4, 4) map
target-camera points to source-camera points.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["photometric_error", "reprojection_loss", "smoothness", "ssim_map", "warp"]

SSIM_WEIGHT = 0.85
SMOOTHNESS_WEIGHT = 1e-3
SCALES = (1, 2, 4)


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1 - SSIM) / 2 over 3x3 windows with reflection padding (monodepth2), per channel."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    x, y = F.pad(x, (1, 1, 1, 1), mode="reflect"), F.pad(y, (1, 1, 1, 1), mode="reflect")
    mx, my = F.avg_pool2d(x, 3, 1), F.avg_pool2d(y, 3, 1)
    sx = F.avg_pool2d(x * x, 3, 1) - mx ** 2
    sy = F.avg_pool2d(y * y, 3, 1) - my ** 2
    sxy = F.avg_pool2d(x * y, 3, 1) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sx + sy + c2))
    return ((1 - ssim) / 2).clamp(0, 1)


def photometric_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) error: 0.85 (1 - SSIM) / 2 + 0.15 |pred - target|, channel mean."""
    l1 = (pred - target).abs().mean(1, keepdim=True)
    return SSIM_WEIGHT * ssim_map(pred, target).mean(1, keepdim=True) + (1 - SSIM_WEIGHT) * l1


def warp(source: torch.Tensor, depth: torch.Tensor, pose: torch.Tensor,
         K: torch.Tensor) -> torch.Tensor:
    """`source` resampled at the target pixels' projections (bilinear, border padding)."""
    b, _, h, w = depth.shape
    v, u = torch.meshgrid(torch.arange(h, device=depth.device, dtype=depth.dtype),
                          torch.arange(w, device=depth.device, dtype=depth.dtype),
                          indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)]).reshape(1, 3, -1)
    cam = torch.linalg.inv(K) @ pix * depth.reshape(b, 1, -1)  # target camera points
    cam = pose[:, :3, :3] @ cam + pose[:, :3, 3:]               # in the source camera
    proj = K @ cam
    z = proj[:, 2:].clamp(min=1e-3)
    gx = proj[:, 0:1] / z / (w - 1) * 2 - 1
    gy = proj[:, 1:2] / z / (h - 1) * 2 - 1
    grid = torch.cat([gx, gy], 1).reshape(b, 2, h, w).permute(0, 2, 3, 1)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="border",
                         align_corners=True)


def smoothness(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness of the mean-normalized disparity (monodepth2)."""
    disp = disp / disp.mean((2, 3), keepdim=True).clamp(min=1e-7)
    dx, dy = (disp[..., :, :-1] - disp[..., :, 1:]).abs(), (disp[..., :-1, :] -
                                                            disp[..., 1:, :]).abs()
    ix = (image[..., :, :-1] - image[..., :, 1:]).abs().mean(1, keepdim=True)
    iy = (image[..., :-1, :] - image[..., 1:, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


def reprojection_loss(target: torch.Tensor, sources: list[torch.Tensor], depth: torch.Tensor,
                      poses: list[torch.Tensor], K: torch.Tensor,
                      disp: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """The full loss of the module doc; images in [0, 1]; returns (loss, logged terms)."""
    h, w = depth.shape[-2:]
    # auto-masking reference: the sources unwarped (tiny noise breaks ties, as monodepth2)
    identity = torch.cat([photometric_error(s, target) for s in sources], 1)
    identity = identity + torch.randn_like(identity) * 1e-5
    total, photo_sum, masked = depth.new_zeros(()), 0.0, 0.0
    for scale in SCALES:
        d = depth if scale == 1 else F.interpolate(
            F.interpolate(depth, size=(h // scale, w // scale), mode="bilinear",
                          align_corners=False), size=(h, w), mode="bilinear", align_corners=False)
        reproj = torch.cat([photometric_error(warp(s, d, p, K), target)
                            for s, p in zip(sources, poses, strict=True)], 1)
        both = torch.cat([identity, reproj], 1)
        best, which = both.min(1)
        # the mean over *all* pixels (monodepth2): an auto-masked pixel still counts with its
        # unwarped error, so making a pixel worse can never take it out of the loss
        photo = best.mean()
        keep = (which >= identity.shape[1]).float()  # a warped source beat every unwarped one
        ds = F.interpolate(disp, size=(h // scale, w // scale), mode="bilinear",
                           align_corners=False)
        im = F.interpolate(target, size=(h // scale, w // scale), mode="bilinear",
                           align_corners=False)
        total = total + photo + SMOOTHNESS_WEIGHT / scale * smoothness(ds, im)
        photo_sum += float(photo.detach())
        masked += float(keep.mean())
    n = len(SCALES)
    return total / n, {"photometric": photo_sum / n, "automask_kept": masked / n}
