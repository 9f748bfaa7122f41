"""Backend names -> predictors. The CLIs and the node create backends only through here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from vlm_grasp_ros.core.predictors.base import GraspPredictor
from vlm_grasp_ros.core.predictors.baselines import MinAreaRectBaseline, PcaBaseline, RandomBaseline


@dataclass(frozen=True)
class BackendOptions:
    """What a backend may need to load; each backend reads the fields it uses."""

    model_path: str = ""  # "" = the backend's default model
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    runtime: str = "auto"  # dense: auto | torch | onnxruntime
    cpu_threads: int = 0  # CPU inference threads (0 = the framework's own choice)
    ensemble_size: int = 1
    seed: int = 0
    adapter_path: str = ""  # vlm: a LoRA adapter folder
    quantization: str = "none"  # vlm: none | nf4
    num_grasps: int = 1  # vlm: distinct grasps per image
    max_pixels: int = 0  # vlm: image pixel budget (fewer image tokens); 0 = the model folder's own
    constrained: bool = True  # vlm: decode with the answer grammar


_FACTORIES: dict[str, Callable[[BackendOptions], GraspPredictor]] = {
    "min_area_rect": lambda options: MinAreaRectBaseline(),
    "pca": lambda options: PcaBaseline(),
    "random": lambda options: RandomBaseline(seed=options.seed),
    "dense": lambda options: _dense(options),
    "vlm": lambda options: _vlm(options),
}


def _dense(options: BackendOptions) -> GraspPredictor:
    from vlm_grasp_ros.core.predictors.dense import DensePredictor  # torch loads only when asked for

    return DensePredictor.from_path(options.model_path, options.device, options.runtime, options.cpu_threads)


def _vlm(options: BackendOptions) -> GraspPredictor:
    from vlm_grasp_ros.core.predictors.vlm import VlmPredictor, VlmSettings
    from vlm_grasp_ros.core.vlm.model import VlmLoadOptions

    load = VlmLoadOptions(model_path=options.model_path, adapter_path=options.adapter_path,
                          quantization=options.quantization, device=options.device,
                          max_pixels=options.max_pixels or None)
    return VlmPredictor.load(load, VlmSettings(ensemble_size=options.ensemble_size, num_grasps=options.num_grasps,
                                                 constrained=options.constrained))


def backend_names() -> list[str]:
    return sorted(_FACTORIES)


def create_predictor(name: str, options: BackendOptions | None = None) -> GraspPredictor:
    """Build a backend by name; unknown names get an error listing the known ones."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(backend_names())}") from None
    return factory(options or BackendOptions())
