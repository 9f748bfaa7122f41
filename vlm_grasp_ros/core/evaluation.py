"""Run a predictor over a dataset and collect per-image results (the core of `vlm-grasp eval`)."""

from __future__ import annotations

import logging
import time
from typing import Iterator

from tqdm import tqdm

from vlm_grasp_ros.core.datasets import GraspDataset, GraspSample
from vlm_grasp_ros.core.metrics import ImageResult, per_object_hits
from vlm_grasp_ros.core.predictors.base import GraspPredictor

LOG = logging.getLogger(__name__)


def evaluate_predictor(
    predictor: GraspPredictor,
    dataset: GraspDataset,
    limit: int | None = None,
    oracle_mask: bool = False,
    max_grasps: int | None = None,
    progress: bool = True,
) -> Iterator[tuple[GraspSample, ImageResult]]:
    """Yield (sample, result) per image. A backend error is recorded as invalid, not raised."""
    count = min(len(dataset), limit) if limit else len(dataset)
    for index in tqdm(range(count), desc=f"eval {predictor.name}", unit="img", disable=not progress):
        sample = dataset[index]
        start = time.perf_counter()
        try:
            grasps = predictor.predict(sample.image, max_grasps=max_grasps, mask=sample.mask if oracle_mask else None)
            valid, error = True, ""
        except Exception as exc:  # noqa: BLE001 (one image's failure must not end the evaluation)
            LOG.warning("%s failed on %s: %s", predictor.name, sample.name, exc)
            grasps, valid, error = [], False, f"{type(exc).__name__}: {exc}"
        latency_ms = (time.perf_counter() - start) * 1000.0
        object_hits = None if sample.mask is None else per_object_hits(grasps, sample.grasps, sample.mask)
        yield sample, ImageResult(sample.name, grasps, sample.grasps, latency_ms, valid, error, object_hits)
