"""The ``dense`` backend's options (read by :mod:`core.predictors.dense`); kept free of torch so
that the CLI and the node can list them without loading a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlm_grasp_ros.core.options import DEVICE_HELP, check_device, option

RUNTIMES = ("auto", "torch", "onnxruntime")
FLIP_AVERAGE = ("model", "on", "off")


def _own_or_fraction_problem(value: float) -> str | None:
    """-1 (the model's own) or a value in [0, 1]; anything between would silently mean the model's own."""
    return (
        None if value == -1.0 or 0.0 <= value <= 1.0 else f"must be -1 (the model's own) or within [0, 1], got {value}"
    )


def _own_or_fraction(description: str) -> Any:
    """A post-processing threshold in [0, 1] that overrides the checkpoint's own; -1 keeps it."""
    return option(-1.0, description, low=-1.0, high=1.0, check=_own_or_fraction_problem, load_time=True)


@dataclass(frozen=True)
class DenseOptions:
    model_path: str = option(
        "", "dense checkpoint folder (config.json + model.safetensors); empty = the embedded model", load_time=True
    )
    device: str = option("auto", DEVICE_HELP, check=check_device, load_time=True)
    runtime: str = option(
        "auto",
        "what runs the network: auto (ONNX Runtime for the EfficientNet encoder on a CPU, "
        "else torch), torch, or onnxruntime (CPU only)",
        choices=RUNTIMES,
        load_time=True,
    )
    cpu_threads: int = option(
        0,
        "CPU threads for inference (torch or ONNX Runtime); 0 = every core, up to 4",
        low=0,
        high=1024,
        load_time=True,
    )
    mask_threshold: float = _own_or_fraction(
        "object-mask value a grasp's centre needs; -1 = the model's own (its config.json, chosen for colour "
        "alone); with depth and support_plane a looser one finds more objects (README: the embedded default)"
    )
    min_relative_quality: float = _own_or_fraction(
        "grasps scoring below this fraction of the frame's best are not published; -1 = the model's own "
        "(chosen for top-1 with few grasps off the objects); 0 keeps a grasp on every object it finds"
    )
    fallback_mask_threshold: float = _own_or_fraction(
        "a frame with no grasp on mask_threshold publishes its best grasp whose object-mask value clears this "
        "looser one, alone; -1 = the model's own (its config.json), 1 = never"
    )
    flip_average: str = option(
        "model",
        "test-time flip (the frame and its mirror image in one batch, maps averaged; twice the network's "
        "compute): model = the model's own choice (its config.json, calibrated with it), on or off",
        choices=FLIP_AVERAGE,
        load_time=True,
    )
