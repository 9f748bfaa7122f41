"""The node's parameters: the shipped YAML, validation, and the declared descriptors."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import rclpy
from rclpy.parameter import Parameter

from vlm_grasp_ros.ros.grasp_node import GraspNode
from vlm_grasp_ros.ros.node_settings import GraspNodeSettings, load_parameters_file, validate

CONFIG = Path(__file__).resolve().parents[1] / "config" / "grasp_node.yaml"


def test_shipped_parameter_file_sets_every_parameter_with_a_valid_value() -> None:
    values = load_parameters_file(CONFIG)
    assert set(values) == {f.name for f in fields(GraspNodeSettings)}
    assert GraspNodeSettings(**values) == GraspNodeSettings()  # the file documents the defaults


@pytest.mark.parametrize("name, value, reason", [
    ("backend", "yolo", "unknown backend 'yolo'"),
    ("device", "gpu", "device must be auto, cpu, cuda or cuda:N"),
    ("max_grasps", 0, r"max_grasps must be in \[1, 100\]"),
    ("score_threshold", 0, "score_threshold must be a float"),  # ROS refuses 0 for a double, so do we
    ("image_transport", "theora", "image_transport must be one of raw, compressed"),
    ("use_depth", "yes", "use_depth must be a bool"),
    ("colour", "red", "unknown parameter 'colour'"),
])
def test_bad_values_are_refused_with_the_reason(name: str, value: object, reason: str) -> None:
    problem = validate(name, value)
    assert problem is not None and re.search(reason, problem), problem


def test_good_values_pass() -> None:
    assert validate("device", "cuda:1") is None and validate("backend", "pca") is None


def test_a_bad_parameter_file_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("/**:\n  ros__parameters:\n    backend: [pca\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{broken}:4: not valid YAML"):
        load_parameters_file(broken)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("grasp_node:\n  ros__parameters:\n    max_grasps: 500\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{wrong}: max_grasps must be in"):
        load_parameters_file(wrong)


def test_declared_parameters_carry_ranges_and_descriptions() -> None:
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = GraspNode("settings_probe", context=context, parameter_overrides=[Parameter("max_grasps", value=3)])
        assert node.settings().max_grasps == 3
        (threshold,) = node.describe_parameters(["score_threshold"])
        assert (threshold.floating_point_range[0].from_value, threshold.floating_point_range[0].to_value) == (0.0, 1.0)
        (backend,) = node.describe_parameters(["backend"])
        assert "load-time" in backend.description
        assert not node.set_parameters([Parameter("max_grasps", value=101)])[0].successful
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
