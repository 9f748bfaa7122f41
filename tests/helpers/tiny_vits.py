"""Tiny vision towers for tests: the real transformers classes (InternViT, Qwen2-VL's ViT) at a
few layers and 32 channels, so from_pretrained folders build in milliseconds."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

INTERNVIT_HIDDEN, INTERNVIT_LAYERS = 32, 3
#: InternVLVisionConfig fields of the tiny InternViT (56x56 input, 14-pixel patches).
TINY_INTERNVIT: dict[str, Any] = dict(
    hidden_size=INTERNVIT_HIDDEN,
    num_hidden_layers=INTERNVIT_LAYERS,
    num_attention_heads=2,
    intermediate_size=64,
    image_size=[56, 56],
    patch_size=[14, 14],
)
#: Qwen2VLVisionConfig fields of the tiny Qwen2-VL tower (hidden_size is the merger's output).
TINY_QWEN2VL_VIT: dict[str, Any] = dict(
    depth=2,
    embed_dim=32,
    hidden_size=32,
    num_heads=2,
    mlp_ratio=2,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
)


def tiny_internvit(seed: int, jitter: float = 0.0, **changes: Any) -> nn.Module:
    """An InternVLVisionModel; ``jitter`` adds noise so that layer scales (0.1) and norms (1) matter."""
    from transformers import InternVLVisionConfig, InternVLVisionModel

    torch.manual_seed(seed)
    model = InternVLVisionModel(InternVLVisionConfig(**(TINY_INTERNVIT | changes)))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * jitter)
    return model.eval()


def tiny_qwen2vl_tower(seed: int, **changes: Any) -> nn.Module:
    from transformers.models.qwen2_vl.configuration_qwen2_vl import Qwen2VLVisionConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

    torch.manual_seed(seed)
    return Qwen2VisionTransformerPretrainedModel(Qwen2VLVisionConfig(**(TINY_QWEN2VL_VIT | changes))).eval()
