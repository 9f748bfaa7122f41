"""Per-map losses for the five grasp maps.

Quality and mask: binary cross-entropy on logits over every pixel. Angle (cos 2theta,
sin 2theta) and width: mean squared error only where a grasp is labelled (the quality
target), because elsewhere they have no meaning and would pull the maps toward the
arbitrary "no label" values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.config import LossWeights


def grasp_map_losses(outputs: torch.Tensor, targets: torch.Tensor, weights: LossWeights) -> dict[str, torch.Tensor]:
    """``outputs`` (B, 5, H, W) raw, ``targets`` (B, 5, H, W) -> named losses and ``total``."""
    targets = targets.float()
    outputs = outputs.float()
    quality_target, mask_target = targets[:, 0], targets[:, 4]
    labelled = quality_target > 0.5
    count = labelled.sum().clamp(min=1)

    def on_grasps(channel: int) -> torch.Tensor:
        return ((outputs[:, channel] - targets[:, channel]).square() * labelled).sum() / count

    losses = {
        "quality": F.binary_cross_entropy_with_logits(outputs[:, 0], quality_target),
        "angle": on_grasps(1) + on_grasps(2),
        "width": on_grasps(3),
        "mask": F.binary_cross_entropy_with_logits(outputs[:, 4], mask_target),
    }
    losses["total"] = (
        weights.quality * losses["quality"]
        + weights.angle * losses["angle"]
        + weights.width * losses["width"]
        + weights.mask * losses["mask"]
    )
    return losses
