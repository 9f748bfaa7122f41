"""The node's parameters: the shipped YAML, validation, and the declared descriptors."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import rclpy
from rclpy.parameter import Parameter

from vlm_grasp_ros.ros.grasp_node import GraspNode
from vlm_grasp_ros.ros.node_settings import (
    PARAMETERS,
    GraspNodeSettings,
    load_parameters_file,
    parameters_yaml,
    validate,
)

CONFIG = Path(__file__).resolve().parents[1] / "config" / "grasp_node.yaml"


def test_the_depth_parameter_file_turns_the_check_on_and_loosens_the_mask_below_the_models_own() -> None:
    """config/grasp_node_depth.yaml (README: With depth) is valid and says what the README says."""
    from vlm_grasp_ros.core.dense.checkpoint import read_config
    from vlm_grasp_ros.core.predictors.dense import EMBEDDED_MODEL

    values = load_parameters_file(CONFIG.with_name("grasp_node_depth.yaml"))
    assert values == {
        "support_plane": True,
        "score_threshold": 0.05,
        "dense.mask_threshold": 0.9,
        "dense.min_relative_quality": 0.5,
    }
    assert values["dense.mask_threshold"] < read_config(EMBEDDED_MODEL)[0].postprocess.mask_threshold
    readme = (CONFIG.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "config/grasp_node_depth.yaml" in readme and "`dense.mask_threshold: 0.9`" in readme


def test_shipped_parameter_file_is_the_generated_one_with_every_parameter() -> None:
    # Regenerate with: python -m vlm_grasp_ros.ros.node_settings > config/grasp_node.yaml
    assert CONFIG.read_text(encoding="utf-8") == parameters_yaml()
    values = load_parameters_file(CONFIG)
    assert set(values) == set(PARAMETERS) and "dense.model_path" in values and "vlm.adapter_path" in values
    assert {name: values[name] for name in (f.name for f in fields(GraspNodeSettings))} == {
        f.name: f.default for f in fields(GraspNodeSettings)
    }


@pytest.mark.parametrize(
    "name, value, reason",
    [
        ("backend", "yolo", "unknown backend 'yolo'"),
        ("dense.device", "gpu", "dense.device: must be auto, cpu, cuda or cuda:N"),
        ("vlm.quantization", "int3", "vlm.quantization must be one of none, nf4"),
        ("device", "cpu", "unknown parameter 'device'"),  # backend options live under the backend's name
        ("max_grasps", 0, r"max_grasps must be in \[1, 100\]"),
        ("score_threshold", 0, "score_threshold must be a float"),  # ROS refuses 0 for a double, so do we
        ("image_transport", "theora", "image_transport must be one of raw, compressed"),
        ("use_depth", "yes", "use_depth must be a bool"),
        ("colour", "red", "unknown parameter 'colour'"),
        ("workspace", "0 0 1", "4 numbers 'left top right bottom', got 3"),
        ("workspace", "0.5 0 0.2 1", "0 <= left < right <= 1"),
        ("workspace", "a b c d", "4 numbers"),
        ("support_max_height_m", -0.1, r"must be in \[0.0, 10.0\]"),
    ],
)
def test_bad_values_are_refused_with_the_reason(name: str, value: object, reason: str) -> None:
    problem = validate(name, value)
    assert problem is not None and re.search(reason, problem), problem


def test_good_values_pass() -> None:
    assert validate("dense.device", "cuda:1") is None and validate("backend", "pca") is None
    assert validate("workspace", "0.2, 0.3, 0.8, 1") is None


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


def test_support_heights_are_checked_together_at_start_on_set_and_in_files(tmp_path: Path) -> None:
    """min <= max: a start-up value is judged once every parameter is declared (min is declared
    before max, so min 0.6 with max 0.8 must pass), a set that breaks it is refused with the
    reason, and so is a parameter file or a start that gives min above max."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        overrides = [Parameter("support_min_height_m", value=0.6), Parameter("support_max_height_m", value=0.8)]
        node = GraspNode("heights_probe", context=context, parameter_overrides=overrides)
        assert (node.settings().support_min_height_m, node.settings().support_max_height_m) == (0.6, 0.8)
        (refused,) = node.set_parameters([Parameter("support_min_height_m", value=0.9)])
        assert not refused.successful and "must not exceed support_max_height_m (0.8)" in refused.reason
        assert node.settings().support_min_height_m == 0.6
        together = node.set_parameters_atomically(
            [Parameter("support_max_height_m", value=1.0), Parameter("support_min_height_m", value=0.9)]
        )
        assert together.successful and node.settings().support_min_height_m == 0.9
        node.destroy_node()
        with pytest.raises(ValueError, match="support_min_height_m"):
            GraspNode(
                "bad_heights", context=context, parameter_overrides=[Parameter("support_min_height_m", value=0.6)]
            )
    finally:
        rclpy.try_shutdown(context=context)
    inverted = tmp_path / "inverted.yaml"
    inverted.write_text("/**:\n  ros__parameters:\n    support_min_height_m: 0.6\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{inverted}: support_min_height_m \(0.6\) must not exceed"):
        load_parameters_file(inverted)


def test_an_option_added_to_a_backend_appears_in_the_node_and_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding an option touches only the backend's options dataclass: the node declares it (with
    its range) and the CLI has a flag for it, checked the same way."""
    import dataclasses
    import importlib

    from vlm_grasp_ros.cli import main as cli_main
    from vlm_grasp_ros.cli.model_arguments import backend_options
    from vlm_grasp_ros.core.options import option
    from vlm_grasp_ros.core.predictors import registry
    from vlm_grasp_ros.ros import grasp_node, node_settings

    @dataclasses.dataclass(frozen=True)
    class PcaWithSmoothing(registry.BaselineOptions):
        smoothing_px: int = option(3, "blur before segmenting", low=0, high=50, load_time=True)

    monkeypatch.setitem(
        registry.BACKENDS, "pca", dataclasses.replace(registry.BACKENDS["pca"], options=PcaWithSmoothing)
    )
    importlib.reload(node_settings)
    monkeypatch.setattr(grasp_node, "PARAMETERS", node_settings.PARAMETERS)
    try:
        args = cli_main.build_parser().parse_args(
            ["eval", "--dataset", "synthetic", "--root", "r", "--out", "o", "--backend", "pca", "--smoothing-px", "5"]
        )
        assert backend_options(args, ["pca"]) == {"pca": {"smoothing_px": 5}}
        bad = cli_main.build_parser().parse_args(
            ["eval", "--dataset", "synthetic", "--root", "r", "--out", "o", "--backend", "pca", "--smoothing-px", "99"]
        )
        with pytest.raises(ValueError, match=r"--smoothing-px must be in \[0, 50\]"):
            backend_options(bad, ["pca"])
        assert "smoothing_px: 3" in node_settings.parameters_yaml()
        context = rclpy.Context()
        rclpy.init(context=context)
        try:
            node = grasp_node.GraspNode(
                "option_probe", context=context, parameter_overrides=[Parameter("pca.smoothing_px", value=7)]
            )
            (descriptor,) = node.describe_parameters(["pca.smoothing_px"])
            assert descriptor.integer_range[0].to_value == 50 and "blur" in descriptor.description
            assert node.backend_options("pca")["smoothing_px"] == 7
            node.destroy_node()
        finally:
            rclpy.try_shutdown(context=context)
    finally:
        monkeypatch.undo()
        importlib.reload(node_settings)
