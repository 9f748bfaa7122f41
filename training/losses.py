"""Per-map losses for the five grasp maps.

Quality and mask: binary cross-entropy on logits over every pixel. Angle (cos 2theta,
sin 2theta) and width: mean squared error only where a grasp is labelled (the quality
target), because elsewhere they have no meaning and would pull the maps toward the
arbitrary "no label" values. The width's error is taken on the map itself or on its log
(``LossWeights.width_form``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.config import LossWeights

#: Below this width-map value (1% of width_scale, under a model pixel) the log goes on as its
#: tangent line: defined at zero and below, and still pushing a too-small opening up.
LOG_WIDTH_FLOOR = 0.01


def extended_log(values: torch.Tensor) -> torch.Tensor:
    """log(x) above ``LOG_WIDTH_FLOOR``, its tangent at the floor below it (same value and slope)."""
    floor = torch.tensor(LOG_WIDTH_FLOOR, dtype=values.dtype, device=values.device)
    tangent = floor.log() + (values - floor) / floor
    return torch.where(values > floor, values.clamp(min=LOG_WIDTH_FLOOR).log(), tangent)


def grasp_map_losses(outputs: torch.Tensor, targets: torch.Tensor, weights: LossWeights) -> dict[str, torch.Tensor]:
    """``outputs`` (B, 5, H, W) raw, ``targets`` (B, 5, H, W) -> named losses and ``total``."""
    targets = targets.float()
    outputs = outputs.float()
    quality_target, mask_target = targets[:, 0], targets[:, 4]
    labelled = quality_target > 0.5
    count = labelled.sum().clamp(min=1)

    def squared_error_on_grasps(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((predicted - target).square() * labelled).sum() / count

    def on_grasps(channel: int) -> torch.Tensor:
        return squared_error_on_grasps(outputs[:, channel], targets[:, channel])

    def width_loss() -> torch.Tensor:
        if weights.width_form == "linear":
            return on_grasps(3)
        return squared_error_on_grasps(extended_log(outputs[:, 3]), extended_log(targets[:, 3]))

    losses = {
        "quality": F.binary_cross_entropy_with_logits(outputs[:, 0], quality_target),
        "angle": on_grasps(1) + on_grasps(2),
        "width": width_loss(),
        "mask": F.binary_cross_entropy_with_logits(outputs[:, 4], mask_target),
    }
    losses["total"] = (
        weights.quality * losses["quality"]
        + weights.angle * losses["angle"]
        + weights.width * losses["width"]
        + weights.mask * losses["mask"]
    )
    return losses
