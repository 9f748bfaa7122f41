"""Backend names -> predictors, each with its options dataclass. The CLIs and the node create
backends only through here, and build their flags and parameters from :data:`BACKENDS`.

Adding a backend, or an option to one, touches only the backend's own files: its options
class (``core.predictors.<name>_options``) and its entry below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vlm_grasp_ros.core.options import build_options
from vlm_grasp_ros.core.predictors.base import GraspPredictor
from vlm_grasp_ros.core.predictors.baseline_options import BaselineOptions, RandomBaselineOptions
from vlm_grasp_ros.core.predictors.dense_options import DenseOptions
from vlm_grasp_ros.core.predictors.vlm_options import VlmOptions


@dataclass(frozen=True)
class Backend:
    name: str
    summary: str
    options: type  # a dataclass of core.options.option fields
    create: Callable[[Any], GraspPredictor]


def _dense(options: DenseOptions) -> GraspPredictor:
    from vlm_grasp_ros.core.predictors.dense import DensePredictor  # torch loads only when asked for

    return DensePredictor.from_options(options)


def _vlm(options: VlmOptions) -> GraspPredictor:
    from vlm_grasp_ros.core.predictors.vlm import VlmPredictor

    return VlmPredictor.from_options(options)


def _baseline(kind: str) -> Callable[[Any], GraspPredictor]:
    def create(options: Any) -> GraspPredictor:
        from vlm_grasp_ros.core.predictors import baselines

        return {
            "min_area_rect": baselines.MinAreaRectBaseline,
            "pca": baselines.PcaBaseline,
            "random": baselines.RandomBaseline,
        }[kind](options)

    return create


BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("dense", "frozen encoder + FPN decoder (the embedded model by default)", DenseOptions, _dense),
        Backend("vlm", "Qwen3-VL (+ LoRA) writing a grasp as five integers", VlmOptions, _vlm),
        Backend(
            "min_area_rect",
            "classical: minimum-area rectangle of each segmented object",
            BaselineOptions,
            _baseline("min_area_rect"),
        ),
        Backend("pca", "classical: across each segmented object's principal axis", BaselineOptions, _baseline("pca")),
        Backend(
            "random", "classical: a random grasp on each segmented object", RandomBaselineOptions, _baseline("random")
        ),
    )
}


def backend_names() -> list[str]:
    return sorted(BACKENDS)


def backend(name: str) -> Backend:
    """The registered backend; unknown names get an error listing the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(backend_names())}") from None


def create_predictor(name: str, options: Any | Mapping[str, Any] | None = None) -> GraspPredictor:
    """Build a backend from its options object, or a mapping of option values (checked; unset
    ones keep their defaults)."""
    spec = backend(name)
    if options is None or isinstance(options, Mapping):
        options = build_options(spec.options, options or {}, where=f"backend {name}")
    elif not isinstance(options, spec.options):
        raise TypeError(f"backend {name} takes {spec.options.__name__}, got {type(options).__name__}")
    return spec.create(options)
