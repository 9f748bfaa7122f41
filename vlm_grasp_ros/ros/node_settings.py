"""The grasp node's parameters: one dataclass, whose fields carry description, range and choices.

The node declares a ROS parameter per field (with a descriptor built from this metadata),
``config/grasp_node.yaml`` sets them, and :func:`validate` checks a value on every set.
Fields marked ``load_time`` shape the model or the subscriptions, so they can change only
while the node is unconfigured.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from vlm_grasp_ros.core.predictors.registry import backend_names


def _param(default: Any, description: str, *, low: float | None = None, high: float | None = None,
           choices: tuple[str, ...] | None = None, load_time: bool = False) -> Any:
    return field(default=default, metadata={"description": description, "low": low, "high": high,
                                            "choices": choices, "load_time": load_time})


@dataclass
class GraspNodeSettings:
    backend: str = _param("dense", "grasp backend (dense, vlm, min_area_rect, pca, random)", load_time=True)
    model_path: str = _param("", "model folder: dense checkpoint (empty = the embedded one) or the Qwen3-VL base "
                                 "folder for vlm (required)", load_time=True)
    adapter_path: str = _param("", "vlm: LoRA adapter folder from training/train_lora.py; empty = the base alone",
                               load_time=True)
    quantization: str = _param("none", "vlm: none, or nf4 (4-bit language model via bitsandbytes; vision tower "
                                       "unquantised)", choices=("none", "nf4"), load_time=True)
    device: str = _param("auto", "where the model runs: auto (cuda if available), cpu, cuda or cuda:N", load_time=True)
    runtime: str = _param("auto", "dense: what runs the network: auto (ONNX Runtime for the EfficientNet encoder on a "
                                  "CPU, else torch), torch or onnxruntime (CPU only)",
                          choices=("auto", "torch", "onnxruntime"), load_time=True)
    cpu_threads: int = _param(0, "CPU threads for model inference (torch or ONNX Runtime); 0 = every core, up to 4", low=0, high=1024, load_time=True)
    ensemble_size: int = _param(1, "vlm: test-time ensemble, views of each frame (shifted crops) run as one "
                                   "batch and merged", low=1, high=32, load_time=True)
    num_grasps: int = _param(1, "vlm: distinct grasps asked of the model per frame (beam search when > 1)",
                             low=1, high=20, load_time=True)
    max_pixels: int = _param(0, "vlm: image pixel budget (Qwen resizes each view to at most this many pixels; one "
                                "image token per 32x32); 0 = the adapter's or model folder's own", low=0,
                             high=100_000_000, load_time=True)
    max_image_pixels: int = _param(4096 * 4096, "frames with more pixels are refused before they are decoded "
                                                "(compressed: from the header); the default fits 4K",
                                   low=1, high=1_000_000_000)
    max_grasps: int = _param(10, "most grasps published per frame", low=1, high=100)
    score_threshold: float = _param(0.0, "grasps scoring below this are not published", low=0.0, high=1.0)
    prompt: str = _param("", "what to grasp, for backends that take language (vlm)")
    image_transport: str = _param("raw", "raw: subscribe `image`; compressed: `image/compressed` (jpeg/png)",
                                  choices=("raw", "compressed"), load_time=True)
    use_depth: bool = _param(False, "subscribe `depth` (16UC1 mm or 32FC1 m, aligned to the image) and "
                                    "`camera_info` to give each grasp a pose", load_time=True)
    sync_tolerance_s: float = _param(0.05, "largest stamp difference for matching depth/camera_info to a frame",
                                     low=0.0, high=1.0)
    depth_wait_s: float = _param(0.1, "how long a frame waits for its depth before going out without poses",
                                 low=0.0, high=2.0)
    marker_pixel_size_m: float = _param(0.001, "size of one pixel in RViz for grasps without a pose",
                                        low=1e-6, high=1.0)
    stats_period_s: float = _param(10.0, "seconds between frame-counter log lines; 0 = never", low=0.0, high=3600.0)
    diagnostics_period_s: float = _param(1.0, "seconds between diagnostic_msgs/DiagnosticArray messages on "
                                              "/diagnostics (frame counters, latency, rate); 0 = never",
                                         low=0.0, high=3600.0)
    autostart: bool = _param(True, "configure and activate at start; false leaves it to a lifecycle manager",
                             load_time=True)


SETTING_FIELDS = {f.name: f for f in fields(GraspNodeSettings)}


def validate(name: str, value: Any) -> str | None:
    """None when ``value`` is acceptable for parameter ``name``, else the reason it is not."""
    if name not in SETTING_FIELDS:
        return f"unknown parameter {name!r}"
    meta = SETTING_FIELDS[name].metadata
    expected = type(SETTING_FIELDS[name].default)
    # Strict like ROS: a double parameter given 0 instead of 0.0 is refused at start.
    if type(value) is not expected:
        return f"{name} must be a {expected.__name__}, got {value!r}"
    if meta["low"] is not None and not meta["low"] <= value <= meta["high"]:
        return f"{name} must be in [{meta['low']}, {meta['high']}], got {value}"
    if meta["choices"] and value not in meta["choices"]:
        return f"{name} must be one of {', '.join(meta['choices'])}, got {value!r}"
    if name == "backend" and value not in backend_names():
        return f"unknown backend {value!r}; known backends: {', '.join(backend_names())}"
    if name == "device" and not (value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())):
        return f"device must be auto, cpu, cuda or cuda:N, got {value!r}"
    return None


def load_parameters_file(path: str | Path, node_name: str = "grasp_node") -> dict[str, Any]:
    """The grasp node's parameters from a ROS 2 parameters YAML (``/**`` or the node's own section).

    Raises ValueError naming the file (and the line, for YAML syntax errors) and the bad key.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ValueError(f"{where}: not valid YAML: {getattr(error, 'problem', error)}") from None
    values: dict[str, Any] = {}
    for key, section in document.items() if isinstance(document, dict) else []:
        if key in ("/**", node_name, f"/{node_name}", f"/**/{node_name}") and isinstance(section, dict):
            values.update(section.get("ros__parameters", {}) or {})
    for name, value in values.items():
        problem = validate(name, value)
        if problem:
            raise ValueError(f"{path}: {problem}")
    return values
