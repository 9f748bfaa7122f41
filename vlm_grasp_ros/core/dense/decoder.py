"""FPN-style decoder: multi-scale encoder features -> the five grasp maps at input resolution.

Top-down path as in FPN (1x1 laterals, upsample and add, a 3x3 smoothing conv per level),
with optional extra 3x3 "context" convs at the coarsest level, where they are cheap. The
finest level (stride 4) is narrowed to ``head_channels`` before any 3x3 conv: at stride 4 a
wide conv would cost more than the whole encoder on a CPU. The head predicts the five maps
at stride 4; they are upsampled bilinearly to the input size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vlm_grasp_ros.core.dense.grasp_maps import MAP_NAMES


@dataclass
class DecoderConfig:
    channels: int = 96  # FPN width at strides 8 and coarser
    head_channels: int = 32  # width at stride 4 and in the head
    context_blocks: int = 1  # extra 3x3 convs at the coarsest level

    def __post_init__(self) -> None:
        if self.channels < 1 or self.head_channels < 1 or self.context_blocks < 0:
            raise ValueError(f"decoder sizes must be positive, got {self}")


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class FpnDecoder(nn.Module):
    """``forward(features)`` with features finest first (the encoder's order) -> (B, 5, H, W)
    raw outputs: logits for quality and mask, linear values for cos2, sin2 and width."""

    def __init__(self, in_channels: Sequence[int], config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.head_channels] + [config.channels] * (len(in_channels) - 1)
        self.laterals = nn.ModuleList(nn.Conv2d(cin, width, 1) for cin, width in zip(in_channels, widths))
        self.context = nn.Sequential(*(_conv_bn_relu(widths[-1], widths[-1]) for _ in range(config.context_blocks)))
        # A 1x1 from each coarser level's width to the next finer one's (only the last one narrows).
        self.narrow = nn.ModuleList(
            nn.Conv2d(widths[i + 1], widths[i], 1) if widths[i + 1] != widths[i] else nn.Identity()
            for i in range(len(widths) - 1)
        )
        self.smooth = nn.ModuleList(_conv_bn_relu(width, width) for width in widths)
        self.head = nn.Conv2d(config.head_channels, len(MAP_NAMES), 1)

    def forward(self, features: Sequence[torch.Tensor], output_size: tuple[int, int]) -> torch.Tensor:
        x = self.context(self.laterals[-1](features[-1]))
        x = self.smooth[-1](x)
        for level in range(len(features) - 2, -1, -1):
            lateral = self.laterals[level](features[level])
            upsampled = F.interpolate(self.narrow[level](x), size=lateral.shape[-2:], mode="nearest")
            x = self.smooth[level](lateral + upsampled)
        return F.interpolate(self.head(x), size=output_size, mode="bilinear", align_corners=False)


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
