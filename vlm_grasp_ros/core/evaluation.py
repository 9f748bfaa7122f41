"""Per-image results: the one place where a prediction meets its labels.

`vlm-grasp eval`, `vlm-grasp replay` and both trainers' validation build their
:class:`ImageResult` objects here, so the three report the same figures for the same images.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from tqdm import tqdm

from vlm_grasp_ros.core.datasets import GraspSample
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.metrics import (
    OFF_OBJECT,
    ON_OBJECT,
    ImageResult,
    labelled_objects,
    miss_cause,
    object_label_at,
    objects_hit,
    per_object_hits,
    prediction_outcomes,
)
from vlm_grasp_ros.core.pipeline import DEFAULT_SUPPORT_HEIGHT_M, NOT_CHECKED, GraspRequest, keep_grasps_on_support
from vlm_grasp_ros.core.predictors.base import GraspPredictor, ImagePrediction

LOG = logging.getLogger(__name__)

#: What a robot does with a sample's ranked grasps before using them (the support-plane check
#: with depth): (sample, grasps) -> the grasps kept, order unchanged.
GraspFilter = Callable[[GraspSample, list[Grasp]], list[Grasp]]


@dataclass
class SupportPlaneFilter:
    """The node's support-plane check (``support_plane: true``) on a dataset's samples, from their
    depth and intrinsics: grasps whose centre is not ``height_m`` above the support plane go."""

    height_m: tuple[float, float] = DEFAULT_SUPPORT_HEIGHT_M
    dropped: int = 0
    #: Samples the check could not run on (no depth, no intrinsics, too little valid depth).
    unchecked: list[str] = field(default_factory=list)

    def __call__(self, sample: GraspSample, grasps: list[Grasp]) -> list[Grasp]:
        if sample.depth is None or sample.camera is None:
            self.unchecked.append(sample.name)
            return grasps
        request = GraspRequest(support_height_m=self.height_m)
        kept, problems = keep_grasps_on_support(
            grasps, sample.depth, sample.camera, (sample.width, sample.height), request
        )
        if any(problem.startswith(NOT_CHECKED) for problem in problems):
            self.unchecked.append(sample.name)
        self.dropped += len(grasps) - len(kept)
        return kept

    def section(self) -> dict[str, object]:
        """What metrics.json records of the check."""
        return {
            "height_m": list(self.height_m),
            "dropped_grasps": self.dropped,
            "unchecked_images": len(self.unchecked),
        }

    def summary(self, images: int) -> str:
        low, high = self.height_m
        return (
            f"support-plane check ({low:g}-{high:g} m above the support plane in the depth): "
            f"{self.dropped} grasps dropped, not checked on {len(self.unchecked)} of {images} images"
        )


class Samples(Protocol):
    """Anything indexable that gives samples: a dataset, a list, a training sample source."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> GraspSample: ...


def score_image(
    name: str,
    predictions: list[Grasp],
    ground_truth: list[Grasp],
    object_mask: np.ndarray | None = None,
    latency_ms: float = 0.0,
    error: str = "",
    answers: int = 0,
    invalid_answers: int = 0,
    object_kinds: Sequence[str] | None = None,
) -> ImageResult:
    """One image's result; ``error`` non-empty marks it invalid (a backend failure or no answer).
    ``object_kinds`` (entry k-1 names mask label k) gives accuracy by kind of object."""
    result = ImageResult(
        name, predictions, ground_truth, latency_ms, not error, error, answers=answers, invalid_answers=invalid_answers
    )
    if object_mask is not None:
        result.object_hits = per_object_hits(predictions, ground_truth, object_mask)
        if object_kinds is not None:
            result.object_kinds = [
                object_kinds[label - 1] if 0 < label <= len(object_kinds) else "unnamed"
                for label in labelled_objects(ground_truth, object_mask)
            ]
        result.objects_in_top3 = (len(objects_hit(predictions, ground_truth, object_mask, 3)), len(result.object_hits))
        result.outcomes = prediction_outcomes(predictions, ground_truth, object_mask)
        top_label = object_label_at(object_mask, predictions[0]) if predictions else 0
        if predictions and result.outcomes[0][1] == ON_OBJECT:
            result.top1_miss_cause = miss_cause(predictions[0], ground_truth)
        if object_kinds is not None and top_label > 0 and result.outcomes[0][1] != OFF_OBJECT:
            result.top1_kind = object_kinds[top_label - 1] if top_label <= len(object_kinds) else "unnamed"
    return result


def _check_max_grasps(max_grasps: int | None) -> None:
    if max_grasps is not None and max_grasps < 1:
        raise ValueError(f"max_grasps must be at least 1, got {max_grasps}")


def evaluate_predictor(
    predictor: GraspPredictor,
    samples: Samples,
    limit: int | None = None,
    oracle_mask: bool = False,
    max_grasps: int | None = None,
    batch_size: int = 1,
    progress: bool = True,
    grasp_filter: GraspFilter | None = None,
) -> Iterator[tuple[GraspSample, ImageResult]]:
    """Yield (sample, result) per image, in order. A backend error is recorded as invalid, not
    raised. Backends that batch (``predictor.batches``) get ``batch_size`` images per call; each
    image's latency is then its share of the batch. ``grasp_filter`` runs on each image's grasps
    before they are scored, as the node runs its checks after the model."""
    _check_max_grasps(max_grasps)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    count = min(len(samples), limit) if limit else len(samples)
    step = batch_size if predictor.batches and not oracle_mask else 1
    with tqdm(total=count, desc=f"eval {predictor.name}", unit="img", disable=not progress) as bar:
        for start in range(0, count, step):
            chunk = [samples[index] for index in range(start, min(start + step, count))]
            yield from zip(chunk, _predict_chunk(predictor, chunk, oracle_mask, max_grasps, grasp_filter))
            bar.update(len(chunk))


def _predict_chunk(
    predictor: GraspPredictor,
    chunk: list[GraspSample],
    oracle_mask: bool,
    max_grasps: int | None,
    grasp_filter: GraspFilter | None,
) -> list[ImageResult]:
    kept = grasp_filter or (lambda _sample, grasps: grasps)
    if len(chunk) > 1:
        start = time.perf_counter()
        try:
            outputs = predictor.predict_batch([sample.image for sample in chunk], None, max_grasps)
        except Exception as exc:  # one image's failure must not end the evaluation
            LOG.warning("%s failed on a batch (%s); retrying its images one by one", predictor.name, exc)
        else:
            share = (time.perf_counter() - start) * 1000.0 / len(chunk)
            return [
                _result(sample, output, kept(sample, output.grasps), share)
                for sample, output in zip(chunk, outputs, strict=True)
            ]
    results = []
    for sample in chunk:
        start = time.perf_counter()
        try:
            grasps = predictor.predict(sample.image, max_grasps=max_grasps, mask=sample.mask if oracle_mask else None)
            error = ""
        except Exception as exc:  # one image's failure must not end the evaluation
            LOG.warning("%s failed on %s: %s", predictor.name, sample.name, exc)
            grasps, error = [], f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - start) * 1000.0  # the model's time; the filter is not the backend's
        grasps = kept(sample, grasps)
        results.append(
            score_image(
                sample.name, grasps, sample.grasps, sample.mask, latency, error, object_kinds=sample.object_kinds
            )
        )
    return results


def _result(sample: GraspSample, output: ImagePrediction, grasps: list[Grasp], latency_ms: float) -> ImageResult:
    """``output`` scored by its kept ``grasps`` (all of them, or what the filter left)."""
    error = (
        ""
        if output.grasps or not output.invalid
        else f"GraspTextError: no valid answer among {len(output.invalid)}: first was {output.invalid[0]!r}"
    )
    return score_image(
        sample.name,
        grasps,
        sample.grasps,
        sample.mask,
        latency_ms,
        error,
        len(output.answers),
        len(output.invalid),
        sample.object_kinds,
    )
