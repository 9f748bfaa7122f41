"""The interface every backend implements: RGB image in, ranked grasps out."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp


@dataclass
class ImagePrediction:
    """One image's share of a batch: the grasps, best first, and for backends that write text
    (vlm) every raw answer and those that did not parse."""

    grasps: list[Grasp]
    answers: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GraspQuery:
    """What :meth:`GraspPredictor.predict` is asked besides the image (see there)."""

    prompt: str | None = None
    max_grasps: int | None = None
    mask: np.ndarray | None = None


class GraspPredictor(abc.ABC):
    """Image -> list of grasps, best first. Backends never see ROS types."""

    #: The backend's name as given to ``--backend`` and the node's ``backend`` parameter.
    name: str = ""
    #: True when :meth:`predict_batch` runs images together (cheaper than one by one).
    batches: bool = False

    @property
    def model_id(self) -> str:
        """The checkpoint or model behind the backend ("" for classical baselines)."""
        return ""

    def release(self) -> None:  # noqa: B027 (optional: backends without a model have nothing to free)
        """Free the model's memory (GPU included); the predictor is not used afterwards."""

    def predict(
        self,
        image: np.ndarray,
        prompt: str | None = None,
        max_grasps: int | None = None,
        mask: np.ndarray | None = None,
    ) -> list[Grasp]:
        """Grasps for one (H, W, 3) uint8 RGB image, sorted by score, best first, at most
        ``max_grasps`` (None: all the backend finds).

        ``prompt`` names what to grasp (backends without language ignore it); ``mask`` is an
        optional (H, W) object-label image that backends may use instead of their own
        segmentation. Bad arguments raise ``ValueError`` before the backend runs.
        """
        check_rgb_image(image)
        if max_grasps is not None and max_grasps < 1:
            raise ValueError(f"max_grasps must be at least 1 (or None for all), got {max_grasps}")
        if mask is not None and np.shape(mask) != image.shape[:2]:
            raise ValueError(f"mask shape {np.shape(mask)} does not match image shape {image.shape[:2]}")
        return self._predict(image, GraspQuery(prompt, max_grasps, mask))

    @abc.abstractmethod
    def _predict(self, image: np.ndarray, query: GraspQuery) -> list[Grasp]:
        """:meth:`predict` for a checked image and query."""

    def predict_batch(
        self, images: list[np.ndarray], prompts: list[str | None] | None = None, max_grasps: int | None = None
    ) -> list[ImagePrediction]:
        """Several images at once; this default runs them one by one (an error ends the batch)."""
        prompts = prompts or [None] * len(images)
        return [ImagePrediction(self.predict(image, prompt, max_grasps)) for image, prompt in zip(images, prompts)]


def check_rgb_image(image: np.ndarray) -> None:
    """Raise a clear ``ValueError`` unless ``image`` is a non-empty (H, W, 3) uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {shape} and dtype {dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
