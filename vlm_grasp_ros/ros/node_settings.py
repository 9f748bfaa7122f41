"""The grasp node's parameters: its own settings (one dataclass) and every backend's options,
namespaced by backend (``dense.model_path``, ``vlm.adapter_path``, ``random.seed``).

Both come from :mod:`core.options` fields, so one table gives the node its declared parameters
(with descriptors), :func:`validate` its checks on every set, and :func:`parameters_yaml` the
shipped ``config/grasp_node.yaml``. Load-time parameters shape the model or the subscriptions,
so they can change only while the node is unconfigured.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vlm_grasp_ros.core.options import OptionSpec, check_option, option, option_specs
from vlm_grasp_ros.core.pipeline import DEFAULT_SUPPORT_HEIGHT_M
from vlm_grasp_ros.core.predictors.registry import BACKENDS, backend_names
from vlm_grasp_ros.ros.image_conversion import DEFAULT_MAX_PIXELS


def parse_workspace(text: str) -> tuple[float, float, float, float]:
    """``"left top right bottom"`` (fractions of the image) -> a tuple; ValueError says why not."""
    try:
        values = tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise ValueError(f"workspace must be 4 numbers 'left top right bottom', got {text!r}") from None
    if len(values) != 4:
        raise ValueError(f"workspace must be 4 numbers 'left top right bottom', got {len(values)} in {text!r}")
    left, top, right, bottom = values
    if not (0.0 <= left < right <= 1.0 and 0.0 <= top < bottom <= 1.0):
        raise ValueError(f"workspace needs 0 <= left < right <= 1 and 0 <= top < bottom <= 1, got {text!r}")
    return left, top, right, bottom


def _workspace_problem(text: str) -> str | None:
    try:
        parse_workspace(text)
    except ValueError as error:
        return str(error)
    return None


def _known_backend(name: str) -> str | None:
    return None if name in BACKENDS else f"unknown backend {name!r}; known backends: {', '.join(backend_names())}"


@dataclass(frozen=True)
class GraspNodeSettings:
    """The node's own parameters (the backend's are ``<backend>.<option>``)."""

    backend: str = option(
        "dense",
        "grasp backend: " + ", ".join(BACKENDS) + " (each one's options are <backend>.<option>)",
        check=_known_backend,
        load_time=True,
    )
    max_image_pixels: int = option(
        DEFAULT_MAX_PIXELS,
        "frames with more pixels are refused before they are decoded "
        "(compressed: from the header); the default fits 4K",
        low=1,
        high=1_000_000_000,
    )
    max_grasps: int = option(10, "most grasps published per frame", low=1, high=100)
    score_threshold: float = option(0.0, "grasps scoring below this are not published", low=0.0, high=1.0)
    prompt: str = option("", "what to grasp, for backends that take language (vlm)")
    image_transport: str = option(
        "raw",
        "raw: subscribe `image`; compressed: `image/compressed` (jpeg/png)",
        choices=("raw", "compressed"),
        load_time=True,
    )
    use_depth: bool = option(
        False,
        "subscribe `depth` (16UC1 mm or 32FC1 m, aligned to the image) and `camera_info` to give each grasp a pose",
        load_time=True,
    )
    depth_transport: str = option(
        "raw",
        "with use_depth: raw: subscribe `depth`; compressedDepth: `depth/compressedDepth` (png)",
        choices=("raw", "compressedDepth"),
        load_time=True,
    )
    min_depth_m: float = option(
        0.05, "depths nearer than this (metres) are holes: no pose from them", low=0.0, high=100.0
    )
    max_depth_m: float = option(
        10.0, "depths farther than this (metres) are holes: no pose from them", low=0.001, high=1000.0
    )
    sync_tolerance_s: float = option(
        0.05, "largest stamp difference for matching depth/camera_info to a frame", low=0.0, high=1.0
    )
    depth_wait_s: float = option(
        0.1, "how long a frame waits for its depth before going out without poses", low=0.0, high=2.0
    )
    workspace: str = option(
        "0 0 1 1",
        "the image region grasps may come from, 'left top right bottom' as fractions of the width and "
        "height; the model sees only this crop (e.g. '0.2 0.3 0.8 1' for a table in the lower middle)",
        check=_workspace_problem,
    )
    support_plane: bool = option(
        False,
        "with use_depth: fit the support plane in the workspace's depth (RANSAC) and drop grasps whose "
        "centre is not support_min_height_m..support_max_height_m above it",
    )
    support_min_height_m: float = option(
        DEFAULT_SUPPORT_HEIGHT_M[0],
        "lowest height above the support plane a grasp centre may have (m)",
        low=0.0,
        high=10.0,
    )
    support_max_height_m: float = option(
        DEFAULT_SUPPORT_HEIGHT_M[1],
        "highest height above the support plane a grasp centre may have (m)",
        low=0.0,
        high=10.0,
    )
    marker_pixel_size_m: float = option(
        0.001, "size of one pixel in RViz for grasps without a pose", low=1e-6, high=1.0
    )
    stats_period_s: float = option(10.0, "seconds between frame-counter log lines; 0 = never", low=0.0, high=3600.0)
    diagnostics_period_s: float = option(
        1.0,
        "seconds between diagnostic_msgs/DiagnosticArray messages on "
        "/diagnostics (frame counters, latency, rate); 0 = never",
        low=0.0,
        high=3600.0,
    )
    autostart: bool = option(
        True, "configure and activate at start; false leaves it to a lifecycle manager", load_time=True
    )

    def problem(self) -> str | None:
        """What is wrong with the parameters together (each is checked alone by ``validate``)."""
        if self.support_min_height_m > self.support_max_height_m:
            return (
                f"support_min_height_m ({self.support_min_height_m}) must not exceed "
                f"support_max_height_m ({self.support_max_height_m})"
            )
        return None


NODE_OPTIONS: dict[str, OptionSpec] = {spec.name: spec for spec in option_specs(GraspNodeSettings)}
#: Every parameter the node declares: its own, then each backend's as ``<backend>.<option>``.
PARAMETERS: dict[str, OptionSpec] = NODE_OPTIONS | {
    f"{name}.{spec.name}": spec for name, entry in BACKENDS.items() for spec in option_specs(entry.options)
}


def validate(name: str, value: Any) -> str | None:
    """None when ``value`` is acceptable for parameter ``name``, else the reason it is not."""
    spec = PARAMETERS.get(name)
    if spec is None:
        return f"unknown parameter {name!r}"
    return check_option(spec, value, name)


def backend_parameters(backend: str) -> list[str]:
    """The parameter names of one backend's options."""
    return [name for name in PARAMETERS if name.startswith(backend + ".")]


def flatten(section: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML maps -> dotted parameter names, as ROS reads a parameters file."""
    flat: dict[str, Any] = {}
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


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
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    values: dict[str, Any] = {}
    for key, section in document.items() if isinstance(document, dict) else []:
        if key in ("/**", node_name, f"/{node_name}", f"/**/{node_name}") and isinstance(section, dict):
            values.update(flatten(section.get("ros__parameters", {}) or {}))
    for name, value in values.items():
        problem = validate(name, value)
        if problem:
            raise ValueError(f"{path}: {problem}")
    problem = settings_from(values).problem()
    if problem:
        raise ValueError(f"{path}: {problem}")
    return values


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _entry(name: str, spec: OptionSpec, indent: str) -> list[str]:
    note = spec.description + (" [load-time]" if spec.load_time else "")
    return [f"{indent}# {note}", f"{indent}{name}: {_yaml_value(spec.default)}"]


def parameters_yaml() -> str:
    """The shipped config/grasp_node.yaml: every parameter at its default, described."""
    lines = [
        "# Parameters of vlm_grasp's grasp_node, generated from the option dataclasses by",
        "#   python -m vlm_grasp_ros.ros.node_settings > config/grasp_node.yaml",
        "# (a test checks that this file is what that command writes). Every parameter is declared with",
        "# its description and range: `ros2 param describe /grasp_node <name>`. [load-time] parameters",
        "# change only while the node is unconfigured; the others apply from the next frame.",
        "/**:",
        "  ros__parameters:",
    ]
    for name, spec in NODE_OPTIONS.items():
        lines += _entry(name, spec, "    ")
    for name, entry in BACKENDS.items():
        specs = option_specs(entry.options)
        if specs:
            lines += [f"    {name}:  # backend {name}: {entry.summary}"]
            for spec in specs:
                lines += _entry(spec.name, spec, "      ")
    return "\n".join(lines) + "\n"


def settings_from(values: dict[str, Any]) -> GraspNodeSettings:
    """The node's own settings from parameter values (others ignored)."""
    return GraspNodeSettings(**{k: v for k, v in values.items() if k in NODE_OPTIONS})


def with_changes(settings: GraspNodeSettings, values: dict[str, Any]) -> GraspNodeSettings:
    return dataclasses.replace(settings, **{k: v for k, v in values.items() if k in NODE_OPTIONS})


if __name__ == "__main__":
    print(parameters_yaml(), end="")
