"""The ``dense`` backend: a frozen encoder + FPN decoder checkpoint (see ``core/dense``).

With no ``model_path`` it loads the embedded default that ships in the package
(``vlm_grasp_ros/models/dense_lite0_synthetic``): EfficientNet-Lite0 + a decoder trained on
synthetic scenes by ``training/configs/dense_lite0_synthetic.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlm_grasp_ros.core.device import resolve_device
from vlm_grasp_ros.core.dense.checkpoint import load_checkpoint
from vlm_grasp_ros.core.dense.model import DenseGraspModel
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.predictors.base import GraspPredictor, check_rgb_image

EMBEDDED_MODEL = Path(__file__).resolve().parents[2] / "models" / "dense_lite0_synthetic"


class DensePredictor(GraspPredictor):
    name = "dense"

    def __init__(self, model: DenseGraspModel, model_id: str) -> None:
        self.model = model.eval()
        self._model_id = model_id

    @classmethod
    def from_path(cls, model_path: str = "", device: str = "auto") -> "DensePredictor":
        folder = Path(model_path) if model_path else EMBEDDED_MODEL
        model = load_checkpoint(folder, resolve_device(device))
        return cls(model, model_id=str(folder) if model_path else f"embedded:{folder.name}")

    @property
    def model_id(self) -> str:
        return self._model_id

    def predict(self, image: np.ndarray, prompt: str | None = None, max_grasps: int | None = None,
                mask: np.ndarray | None = None) -> list[Grasp]:
        """``prompt`` is ignored (no language); ``mask`` too: the model predicts its own."""
        check_rgb_image(image)
        return self.model.predict(image, max_grasps)

    def release(self) -> None:
        self.model.to("cpu")
        del self.model
