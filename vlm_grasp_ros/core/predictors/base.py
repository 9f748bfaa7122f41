"""The interface every backend implements: RGB image in, ranked grasps out."""

from __future__ import annotations

import abc

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp


class GraspPredictor(abc.ABC):
    """Image -> list of grasps, best first. Backends never see ROS types."""

    #: The backend's name as given to ``--backend`` and the node's ``backend`` parameter.
    name: str = ""

    @property
    def model_id(self) -> str:
        """The checkpoint or model behind the backend ("" for classical baselines)."""
        return ""

    def release(self) -> None:
        """Free the model's memory (GPU included); the predictor is not used afterwards."""

    @abc.abstractmethod
    def predict(
        self,
        image: np.ndarray,
        prompt: str | None = None,
        max_grasps: int | None = None,
        mask: np.ndarray | None = None,
    ) -> list[Grasp]:
        """Grasps for one (H, W, 3) uint8 RGB image, sorted by score, best first.

        ``prompt`` names what to grasp (backends without language ignore it); ``mask`` is an
        optional (H, W) object-label image that backends may use instead of their own
        segmentation.
        """


def check_rgb_image(image: np.ndarray) -> None:
    """Raise a clear ``ValueError`` unless ``image`` is a non-empty (H, W, 3) uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {shape} and dtype {dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
