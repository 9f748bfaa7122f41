"""The ``vlm`` backend: Qwen3-VL (+ LoRA) lists grasps as ``cx cy theta w h``; views and images
run as one batch."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.predictors.base import GraspPredictor, GraspQuery, ImagePrediction, check_rgb_image
from vlm_grasp_ros.core.predictors.vlm_options import VlmOptions
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspTextError
from vlm_grasp_ros.core.vlm.ensemble import View, make_views, merge_answers
from vlm_grasp_ros.core.vlm.model import Answer, QwenGraspModel, VlmLoadOptions

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class VlmSettings:
    #: Views per image (test-time ensemble, :mod:`core.vlm.ensemble`); 1 = the image alone.
    ensemble_size: int = 1
    #: Grasps the model may list per image (best first; an adapter trained to list K grasps,
    #: ``max_grasps`` in its grasp_prompt.json, lists up to K).
    num_grasps: int = 1
    #: Mask every token that cannot continue a valid answer (``core.vlm.constrained``).
    constrained: bool = True
    #: How much of each side a shifted view leaves out.
    view_shift: float = 0.06
    #: Most prompt rows (images x views) in one generate call; more run as several batches.
    max_batch_rows: int = 32

    def __post_init__(self) -> None:
        for name in ("ensemble_size", "num_grasps", "max_batch_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class VlmPredictor(GraspPredictor):
    name = "vlm"
    batches = True

    def __init__(
        self, model: QwenGraspModel, settings: VlmSettings = VlmSettings(), quantizer: GraspQuantizer = GraspQuantizer()
    ) -> None:
        self.model = model
        self.settings = settings
        self.quantizer = quantizer
        trained = model.prompt.max_grasps
        if settings.num_grasps > trained:
            LOG.warning(
                "num_grasps is %d but %s was trained to list at most %d grasp(s); it may stop after %d",
                settings.num_grasps,
                model.model_id,
                trained,
                trained,
            )

    @classmethod
    def load(cls, options: VlmLoadOptions, settings: VlmSettings = VlmSettings()) -> VlmPredictor:
        return cls(QwenGraspModel.load(options), settings)

    @classmethod
    def from_options(cls, options: VlmOptions) -> VlmPredictor:
        """The backend as the registry builds it."""
        load = VlmLoadOptions(
            model_path=options.model_path,
            adapter_path=options.adapter_path,
            quantization=options.quantization,
            device=options.device,
            max_pixels=options.max_pixels or None,
        )
        return cls.load(
            load,
            VlmSettings(
                ensemble_size=options.ensemble_size, num_grasps=options.num_grasps, constrained=options.constrained
            ),
        )

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def _predict(self, image: np.ndarray, query: GraspQuery) -> list[Grasp]:
        """Raises :class:`GraspTextError` when no answer for the image parses (only possible
        with ``constrained`` off, or an answer cut off at the length cap)."""
        result = self.predict_batch([image], [query.prompt], query.max_grasps)[0]
        if not result.grasps and result.invalid:
            raise GraspTextError(f"no valid answer among {len(result.invalid)}: first was {result.invalid[0]!r}")
        return result.grasps

    def predict_batch(
        self, images: list[np.ndarray], prompts: list[str | None] | None = None, max_grasps: int | None = None
    ) -> list[ImagePrediction]:
        """Every view of every image in as few generate calls as ``max_batch_rows`` allows."""
        prompts = prompts or [None] * len(images)
        if len(prompts) != len(images):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        rows: list[tuple[int, View]] = []
        for index, image in enumerate(images):
            check_rgb_image(image)
            height, width = image.shape[:2]
            rows += [
                (index, view)
                for view in make_views(width, height, self.settings.ensemble_size, self.settings.view_shift)
            ]
        answers: list[Answer] = []
        for start in range(0, len(rows), self.settings.max_batch_rows):
            chunk = rows[start : start + self.settings.max_batch_rows]
            answers += self.model.generate(
                [view.crop(images[index]) for index, view in chunk],
                [prompts[index] for index, _view in chunk],
                constrained=self.settings.constrained,
                max_grasps=self.settings.num_grasps,
            )
        results = [ImagePrediction(grasps=[]) for _ in images]
        per_view: list[list[list[Grasp]]] = [[] for _ in images]
        for (index, view), answer in zip(rows, answers):
            results[index].answers.append(answer.text)
            if answer.error:
                results[index].invalid.append(answer.text)
            per_view[index].append(
                [
                    view.to_image(self.quantizer.decode(grasp.values, view.width, view.height, score=grasp.score))
                    for grasp in answer.grasps
                ]
            )
        wanted = self.settings.num_grasps if max_grasps is None else min(max_grasps, self.settings.num_grasps)
        for index, result in enumerate(results):
            result.grasps = merge_answers(per_view[index], max(wanted, 1))
        return results

    def release(self) -> None:
        self.model.release()
