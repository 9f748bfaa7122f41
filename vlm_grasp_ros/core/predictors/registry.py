"""Backend names -> predictors. The CLIs and the node create backends only through here."""

from __future__ import annotations

from typing import Callable

from vlm_grasp_ros.core.predictors.base import GraspPredictor
from vlm_grasp_ros.core.predictors.baselines import MinAreaRectBaseline, PcaBaseline, RandomBaseline

_FACTORIES: dict[str, Callable[..., GraspPredictor]] = {
    "min_area_rect": MinAreaRectBaseline,
    "pca": PcaBaseline,
    "random": RandomBaseline,
}


def backend_names() -> list[str]:
    return sorted(_FACTORIES)


def create_predictor(name: str, **options: object) -> GraspPredictor:
    """Build a backend by name; unknown names get an error listing the known ones."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(backend_names())}") from None
    return factory(**options)
