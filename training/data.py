"""Training data: samples (generated or from a dataset) -> augmented model-frame image and the
five target maps, built with the same resize as inference (``core/dense/model.py``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from training.config import AugmentConfig, DataSource, TargetConfig
from vlm_grasp_ros.core import augment
from vlm_grasp_ros.core.datasets import GraspSample, open_dataset
from vlm_grasp_ros.core.dense.encoders import Preprocessing
from vlm_grasp_ros.core.dense.grasp_maps import rasterize_grasps
from vlm_grasp_ros.core.dense.model import DenseModelConfig, frame_geometry, resize_to_model, scale_grasp
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene


class SampleSource:
    """Indexable samples: rendered synthetic scenes or a dataset opened as ``vlm-grasp eval`` does."""

    def __init__(self, source: DataSource) -> None:
        self.source = source
        if source.dataset == "generated":
            if source.count < 1:
                raise ValueError("a generated data source needs count >= 1")
            self.dataset = None
            self.length = source.count
            defaults = SceneConfig()
            width, height = source.image_size
            self.scene_config = dataclasses.replace(
                defaults,
                width=int(width),
                height=int(height),
                min_objects=max(defaults.min_objects, source.min_objects),
                max_objects=max(defaults.max_objects, source.min_objects),
                view=source.view,
                robot_share=source.robot_share,
                bullet_share=source.bullet_share,
                empty_share=source.empty_share,
                kind_boost=dict(source.kind_boost),
            )
        else:
            self.dataset = open_dataset(source.dataset, source.root, allow_pickle=source.allow_pickle)
            self.length = min(len(self.dataset), source.limit) if source.limit else len(self.dataset)
            if self.length == 0:
                raise ValueError(f"dataset {source.dataset} at {source.root} has no samples")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> GraspSample:
        if self.dataset is None:
            return render_scene(self.source.seed, index, self.scene_config)
        return self.dataset[index]


def augment_sample(sample: GraspSample, rng: np.random.Generator, config: AugmentConfig) -> GraspSample:
    if rng.random() < config.crop_probability:
        sample = augment.random_crop(sample, rng, config.min_crop_fraction)
    if rng.random() < config.rotation_probability:
        sample = augment.random_rotation(sample, rng, config.max_rotation_deg)
    if rng.random() < config.flip_probability:
        sample = augment.flip_sample(sample)
    if config.colour_strength > 0:
        sample.image = augment.jitter_colour(sample.image, rng, config.colour_strength)
    return sample


def object_under(grasp: Grasp, mask: np.ndarray | None) -> int:
    """The mask label under a grasp's centre (clamped into the image): the object whose grasps
    :func:`narrowest_per_object` compares; 0 for every grasp when there is no mask."""
    if mask is None:
        return 0
    row = min(max(int(grasp.cy), 0), mask.shape[0] - 1)
    col = min(max(int(grasp.cx), 0), mask.shape[1] - 1)
    return int(mask[row, col])


def narrowest_per_object(grasps: list[Grasp], mask: np.ndarray | None, ratio: float) -> list[Grasp]:
    """Each object's grasps whose opening is at most ``ratio`` x its narrowest (see TargetConfig)."""
    if ratio <= 0:
        return grasps
    narrowest: dict[int, float] = {}
    for grasp in grasps:
        key = object_under(grasp, mask)
        narrowest[key] = min(narrowest.get(key, grasp.width), grasp.width)
    return [g for g in grasps if g.width <= ratio * narrowest[object_under(g, mask)]]


def model_frame_targets(
    sample: GraspSample, model: DenseModelConfig, preprocessing: Preprocessing, targets: TargetConfig = TargetConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image and (5, H, W) float32 targets in the model's padded frame."""
    geometry = frame_geometry(sample.image.shape[:2], model.input_long_side, preprocessing)
    image = resize_to_model(sample.image, geometry)
    kept = narrowest_per_object(sample.grasps, sample.mask, targets.narrowest_ratio)
    grasps = [scale_grasp(g, 1.0 / geometry.scale) for g in kept]
    mask = None
    if sample.mask is not None:
        mask = resize_to_model((sample.mask > 0).astype(np.uint8), geometry, cv2.INTER_NEAREST)
    maps = rasterize_grasps(grasps, geometry.padded, model.width_scale, mask)
    return image, maps.stacked()


class AugmentedSamples(Dataset):
    """A source's samples, each augmented with a generator seeded by (seed, index, epoch): set
    ``epoch`` before each epoch for new draws; with ``fixed_augmentation`` an index gets the same
    augmentation in every epoch (needed when features are cached)."""

    def __init__(
        self, samples: SampleSource, augment_config: AugmentConfig | None, seed: int, fixed_augmentation: bool = False
    ) -> None:
        self.samples = samples
        self.augment_config = augment_config
        self.seed = seed
        self.fixed_augmentation = fixed_augmentation
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def augmented(self, index: int) -> tuple[GraspSample, np.random.Generator]:
        """Sample ``index`` as augmented this epoch, and the generator to draw anything else from."""
        rng = np.random.default_rng([self.seed, index, 0 if self.fixed_augmentation else self.epoch])
        sample = self.samples[index]
        if self.augment_config is not None:
            sample = augment_sample(sample, rng, self.augment_config)
        return sample, rng


class GraspMapDataset(AugmentedSamples):
    """Items: {"image": (H, W, 3) uint8, "targets": (5, H, W) float16, "index": int}."""

    def __init__(
        self,
        source: DataSource,
        model: DenseModelConfig,
        preprocessing: Preprocessing,
        augment_config: AugmentConfig | None,
        seed: int,
        fixed_augmentation: bool,
        targets: TargetConfig = TargetConfig(),
    ) -> None:
        super().__init__(SampleSource(source), augment_config, seed, fixed_augmentation)
        self.model = model
        self.preprocessing = preprocessing
        self.targets = targets

    def __getitem__(self, index: int) -> dict[str, object]:
        sample, _ = self.augmented(index)
        image, targets = model_frame_targets(sample, self.model, self.preprocessing, self.targets)
        return {
            "image": torch.from_numpy(image),
            "targets": torch.from_numpy(targets.astype(np.float16)),
            "index": index,
        }


def collate_padded(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack items, zero-padding to the largest height and width (images of mixed sizes)."""
    height = max(item["image"].shape[0] for item in items)
    width = max(item["image"].shape[1] for item in items)
    images = torch.zeros((len(items), height, width, 3), dtype=torch.uint8)
    targets = torch.zeros((len(items), 5, height, width), dtype=torch.float16)
    targets[:, 1] = 1.0  # cos 2theta of "no label", as rasterize_grasps writes it
    for i, item in enumerate(items):
        h, w = item["image"].shape[:2]
        images[i, :h, :w] = item["image"]
        targets[i, :, :h, :w] = item["targets"]
    return {"image": images, "targets": targets, "index": torch.tensor([item["index"] for item in items])}
