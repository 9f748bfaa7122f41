"""The dense grasp model: frozen encoder + FPN decoder, with the frame <-> model-pixel mapping
that training and inference share (so they can never disagree).

A frame is resized, aspect kept, so that its longer side is ``input_long_side`` (ViTs with a
fixed input size: that size), then padded at the right and bottom to the encoder's size
multiple. Maps are predicted in those model pixels; grasps are scaled back to the frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np
import torch
from torch import nn

from vlm_grasp_ros.core.dense.decoder import DecoderConfig, FpnDecoder
from vlm_grasp_ros.core.dense.encoders import EncoderConfig, FeatureEncoder, Preprocessing, build_encoder
from vlm_grasp_ros.core.dense.grasp_maps import GraspMaps
from vlm_grasp_ros.core.dense.postprocess import PostprocessConfig, maps_to_grasps
from vlm_grasp_ros.core.grasp import Grasp

#: A replacement for the module's forward pass on numpy arrays (see DenseGraspModel.predict_maps).
ArrayForward = Callable[[np.ndarray], np.ndarray]


@dataclass
class DenseModelConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    #: The frame's longer side in model pixels (ignored by fixed-size encoders).
    input_long_side: int = 256
    #: width map x width_scale = opening in model pixels.
    width_scale: float = 64.0
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    #: Test-time flip: the network also sees the frame mirrored left-right, in the same batch, and
    #: the two predictions are averaged (twice the network's compute). Its thresholds are
    #: calibrated with it, so it is saved with them.
    flip_average: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            self.encoder = EncoderConfig(**self.encoder)
        if isinstance(self.decoder, dict):
            self.decoder = DecoderConfig(**self.decoder)
        if isinstance(self.postprocess, dict):
            self.postprocess = PostprocessConfig(**self.postprocess)
        if not isinstance(self.flip_average, bool):  # "false" in a hand-edited file must not mean on
            raise ValueError(f"flip_average must be true or false, got {self.flip_average!r}")
        if self.input_long_side < 32 or self.width_scale <= 0:
            raise ValueError(
                f"input_long_side must be >= 32 and width_scale > 0, got {self.input_long_side}, {self.width_scale}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FrameGeometry:
    """Where a frame sits in the model's input: ``scale`` frame pixels per model pixel, and
    the ``valid`` (height, width) of the resized frame inside the padded ``padded`` size."""

    scale: float
    valid: tuple[int, int]
    padded: tuple[int, int]


def frame_geometry(frame_shape: tuple[int, int], long_side: int, preprocessing: Preprocessing) -> FrameGeometry:
    height, width = frame_shape
    target = preprocessing.fixed_size or long_side
    scale = max(height, width) / float(target)
    valid = (max(1, round(height / scale)), max(1, round(width / scale)))
    multiple = preprocessing.size_multiple
    if preprocessing.fixed_size:
        padded = (target, target)
    else:
        padded = (math.ceil(valid[0] / multiple) * multiple, math.ceil(valid[1] / multiple) * multiple)
    return FrameGeometry(scale, valid, padded)


def resize_to_model(image: np.ndarray, geometry: FrameGeometry, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Resize ``image`` (H, W[, C]) into the padded model frame; the padding is zeros."""
    valid_h, valid_w = geometry.valid
    resized = cv2.resize(image, (valid_w, valid_h), interpolation=interpolation)
    out = np.zeros(geometry.padded + image.shape[2:], image.dtype)
    out[:valid_h, :valid_w] = resized
    return out


def scale_grasp(grasp: Grasp, factor: float) -> Grasp:
    return replace(
        grasp, cx=grasp.cx * factor, cy=grasp.cy * factor, width=grasp.width * factor, height=grasp.height * factor
    )


class DenseGraspModel(nn.Module):
    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, config: DenseModelConfig, encoder: FeatureEncoder | None = None) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder if encoder is not None else build_encoder(config.encoder)
        # Record which pretrained weights the decoder is trained on, so a later load can check.
        self.config.encoder.weights_sha256 = self.encoder.weights_sha256
        self.decoder = FpnDecoder(self.encoder.channels, config.decoder)
        preprocessing = self.encoder.preprocessing
        self.register_buffer("mean", torch.tensor(preprocessing.mean).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(preprocessing.std).view(1, 3, 1, 1) * 255.0, persistent=False)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.encoder.preprocessing

    def geometry(self, frame_shape: tuple[int, int]) -> FrameGeometry:
        return frame_geometry(frame_shape, self.config.input_long_side, self.preprocessing)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, 3, H, W) float normalised as the encoder expects."""
        pixels = images.permute(0, 3, 1, 2).float()
        return (pixels - self.mean) / self.std

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            return self.encoder(self.normalise(images))

    def frozen_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """What training may cache: the encoder's maps below its tuned blocks (all when frozen)."""
        with torch.no_grad():
            return self.encoder.frozen_part(self.normalise(images))

    def decode_frozen(self, frozen: list[torch.Tensor], output_size: tuple[int, int]) -> torch.Tensor:
        """Raw outputs from :meth:`frozen_features`, through the tuned blocks (if any) and the decoder."""
        return self.decoder(self.encoder.tuned_part(frozen), output_size)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """What a checkpoint keeps: the decoder's weights and any tuned encoder blocks (``encoder.``)."""
        state = dict(self.decoder.state_dict())
        state.update({f"encoder.{name}": tensor for name, tensor in self.encoder.tuned_state_dict().items()})
        return state

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """The inverse of :meth:`trainable_state`. The decoder's keys must all be there; tuned blocks
        may be missing (they keep their pretrained weights: a frozen model starting a tuned run)."""
        prefix = "encoder."
        self.decoder.load_state_dict({k: v for k, v in state.items() if not k.startswith(prefix)}, strict=True)
        tuned = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        unknown = sorted(set(tuned) - set(self.encoder.tuned_state_dict()))
        if unknown:
            raise ValueError(f"encoder weights {unknown[:3]} are not among this encoder's tuned blocks")
        if tuned:
            self.encoder.load_state_dict(tuned, strict=False)

    def decode(self, features: list[torch.Tensor], output_size: tuple[int, int]) -> torch.Tensor:
        return self.decoder(features, output_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 model-frame images -> (B, 5, H, W) raw outputs."""
        return self.decode(self.features(images), (images.shape[1], images.shape[2]))

    def model_pixels(self, image: np.ndarray, geometry: FrameGeometry) -> np.ndarray:
        """The network's input batch for one frame: (B, H, W, 3) uint8 in the padded model frame;
        with ``flip_average`` B is 2, the second the frame mirrored (the padding stays at the right)."""
        model_image = resize_to_model(image, geometry)
        if not self.config.flip_average:
            return model_image[np.newaxis]
        valid_h, valid_w = geometry.valid
        mirror = model_image.copy()
        mirror[:valid_h, :valid_w] = model_image[:valid_h, :valid_w][:, ::-1]
        return np.stack([model_image, mirror])

    def maps_from_raw(self, raw: torch.Tensor, geometry: FrameGeometry) -> GraspMaps:
        """The network's (B, 5, H, W) outputs for :meth:`model_pixels`' batch -> the frame's maps
        (activations applied, cropped to the frame's area, a mirrored prediction mirrored back and
        averaged in)."""
        valid_h, valid_w = geometry.valid
        maps = [maps_from_outputs(outputs[:, :valid_h, :valid_w]) for outputs in raw]
        return maps[0].averaged_with(maps[1].mirrored()) if len(maps) == 2 else maps[0]

    @torch.inference_mode()
    def predict_maps(self, image: np.ndarray, forward: ArrayForward | None = None) -> tuple[GraspMaps, FrameGeometry]:
        """The five maps (activations applied) for one RGB frame, cropped to the frame's area.

        ``forward`` runs the network instead of this module (e.g. :class:`OnnxForward`): model-frame
        pixels (B, H, W, 3) uint8 -> raw outputs (B, 5, H, W); B is 2 with ``flip_average``.
        """
        geometry = self.geometry(image.shape[:2])
        pixels = self.model_pixels(image, geometry)
        if forward is not None:
            raw = torch.from_numpy(forward(pixels))
        else:
            raw = self(torch.from_numpy(pixels).to(self.mean.device))
        return self.maps_from_raw(raw, geometry), geometry

    def predict(
        self, image: np.ndarray, max_grasps: int | None = None, forward: ArrayForward | None = None
    ) -> list[Grasp]:
        """Ranked grasps in the frame's pixels (``forward``: see :meth:`predict_maps`)."""
        return self.grasps_from_maps(*self.predict_maps(image, forward), max_grasps)

    def grasps_from_maps(self, maps: GraspMaps, geometry: FrameGeometry, max_grasps: int | None = None) -> list[Grasp]:
        """The post-processing half of :meth:`predict`, under the current ``config.postprocess``."""
        grasps = maps_to_grasps(maps, self.config.postprocess, self.config.width_scale, max_grasps)
        return [scale_grasp(grasp, geometry.scale) for grasp in grasps]


def maps_from_outputs(raw: torch.Tensor) -> GraspMaps:
    """(5, H, W) raw outputs -> maps: sigmoid on the quality and mask logits, width >= 0."""
    quality, cos2, sin2, width, mask = raw.float().cpu()
    return GraspMaps(
        torch.sigmoid(quality).numpy(),
        cos2.numpy(),
        sin2.numpy(),
        width.clamp(min=0).numpy(),
        torch.sigmoid(mask).numpy(),
    )
