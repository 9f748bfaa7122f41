"""Per-image results: the one place where a prediction meets its labels.

`vlm-grasp eval`, `vlm-grasp replay` and both trainers' validation build their
:class:`ImageResult` objects here, so the three report the same figures for the same images.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
from tqdm import tqdm

from vlm_grasp_ros.core.datasets import GraspSample
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.metrics import ImageResult, labelled_objects, objects_hit, per_object_hits, prediction_outcomes
from vlm_grasp_ros.core.predictors.base import GraspPredictor, ImagePrediction

LOG = logging.getLogger(__name__)


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
) -> Iterator[tuple[GraspSample, ImageResult]]:
    """Yield (sample, result) per image, in order. A backend error is recorded as invalid, not
    raised. Backends that batch (``predictor.batches``) get ``batch_size`` images per call; each
    image's latency is then its share of the batch."""
    _check_max_grasps(max_grasps)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    count = min(len(samples), limit) if limit else len(samples)
    step = batch_size if predictor.batches and not oracle_mask else 1
    with tqdm(total=count, desc=f"eval {predictor.name}", unit="img", disable=not progress) as bar:
        for start in range(0, count, step):
            chunk = [samples[index] for index in range(start, min(start + step, count))]
            yield from zip(chunk, _predict_chunk(predictor, chunk, oracle_mask, max_grasps))
            bar.update(len(chunk))


def _predict_chunk(
    predictor: GraspPredictor, chunk: list[GraspSample], oracle_mask: bool, max_grasps: int | None
) -> list[ImageResult]:
    if len(chunk) > 1:
        start = time.perf_counter()
        try:
            outputs = predictor.predict_batch([sample.image for sample in chunk], None, max_grasps)
        except Exception as exc:  # one image's failure must not end the evaluation
            LOG.warning("%s failed on a batch (%s); retrying its images one by one", predictor.name, exc)
        else:
            share = (time.perf_counter() - start) * 1000.0 / len(chunk)
            return [_result(sample, output, share) for sample, output in zip(chunk, outputs, strict=True)]
    results = []
    for sample in chunk:
        start = time.perf_counter()
        try:
            grasps = predictor.predict(sample.image, max_grasps=max_grasps, mask=sample.mask if oracle_mask else None)
            error = ""
        except Exception as exc:  # one image's failure must not end the evaluation
            LOG.warning("%s failed on %s: %s", predictor.name, sample.name, exc)
            grasps, error = [], f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - start) * 1000.0
        results.append(
            score_image(
                sample.name, grasps, sample.grasps, sample.mask, latency, error, object_kinds=sample.object_kinds
            )
        )
    return results


def _result(sample: GraspSample, output: ImagePrediction, latency_ms: float) -> ImageResult:
    error = (
        ""
        if output.grasps or not output.invalid
        else f"GraspTextError: no valid answer among {len(output.invalid)}: first was {output.invalid[0]!r}"
    )
    return score_image(
        sample.name,
        output.grasps,
        sample.grasps,
        sample.mask,
        latency_ms,
        error,
        len(output.answers),
        len(output.invalid),
        sample.object_kinds,
    )
