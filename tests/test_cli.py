"""`vlm-grasp` end to end: synth -> eval (several backends) and predict, plus one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vlm_grasp_ros.cli.main import main
from vlm_grasp_ros.core.datasets.jacquard import format_jacquard_grasps
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.metrics import TOP1_OUTCOMES

METRIC_KEYS = {"n_images", "accuracy_top1", "mean_iou", "angle_err_deg", "center_err_px", "invalid_rate", "latency_ms"}


def test_synth_then_eval_with_two_backends(tmp_path: Path) -> None:
    data, out = tmp_path / "synth", tmp_path / "eval"
    assert main(["synth", "--out", str(data), "--n", "6", "--seed", "4", "--width", "320", "--height", "240"]) == 0
    assert len(list(data.glob("*_RGB.png"))) == 6
    assert (
        main(
            [
                "eval",
                "--dataset",
                "synthetic",
                "--root",
                str(data),
                "--backend",
                "pca",
                "random",
                "--out",
                str(out),
                "--limit",
                "5",
            ]
        )
        == 0
    )
    for backend in ("pca", "random"):
        metrics = json.loads((out / backend / "metrics.json").read_text())
        assert METRIC_KEYS <= metrics.keys() and metrics["n_images"] == 5
        assert {"median", "p95"} <= metrics["latency_ms"].keys()
        lines = (out / backend / "predictions.jsonl").read_text().splitlines()
        assert len(lines) == 5
        first = json.loads(lines[0])
        assert first["image"] == "00000_s4_RGB.png"
        assert set(first["grasps"][0]) == {"cx", "cy", "theta_deg", "width", "height", "score"}
    report = (out / "report.md").read_text()
    assert "| pca | 5 |" in report and "| random | 5 |" in report
    assert (out / "histograms.png").stat().st_size > 0 and (out / "overlays_pca.png").stat().st_size > 0


def test_robot_view_scenes_round_trip_and_report_background_grasps(tmp_path: Path) -> None:
    """Robot views written by synth read back with their labels and masks; eval reports the
    scenes with grasps off the objects and sweeps them over thresholds."""
    data, out = tmp_path / "robot", tmp_path / "eval"
    arguments = ["synth", "--view", "robot", "--out", str(data), "--n", "3", "--seed", "8"]
    assert main([*arguments, "--width", "320", "--height", "240"]) == 0
    from vlm_grasp_ros.core.datasets import open_dataset
    from vlm_grasp_ros.core.synthetic.robot_view import render_robot_view

    sample, rendered = open_dataset("synthetic", str(data))[1], render_robot_view(8, 1, 320, 240)
    assert np.array_equal(sample.image, rendered.image) and np.array_equal(sample.mask > 0, rendered.mask > 0)
    assert len(sample.grasps) == len(rendered.grasps)
    assert main(["eval", "--dataset", "synthetic", "--root", str(data), "--backend", "random", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())  # one backend: its files at the top
    assert 0.0 <= metrics["background_scenes"] <= 1.0 and metrics["precision"] is not None
    assert "grasps off the labelled objects, by score threshold" in (out / "report.md").read_text()
    # Where each best grasp lands: four shares that add up, the first of them top-1, and the same in the report.
    top1 = metrics["top1_outcome"]
    assert sum(top1[name] for name in TOP1_OUTCOMES) == pytest.approx(1.0)
    assert top1["hit"] == pytest.approx(metrics["accuracy_top1"])
    shares = " | ".join(f"{100 * top1[name]:.1f}%" for name in TOP1_OUTCOMES)
    assert f"| random | {shares} |" in (out / "report.md").read_text()
    # Every miss on an object has one cause, and the report's row ends with them.
    assert top1["miss_on_object"] > 0  # random grasps on these scenes do miss on objects: the check below bites
    causes = top1["misses_on_object_by_cause"]
    assert list(causes) == ["opening", "angle", "place"]
    assert sum(causes.values()) == round(top1["miss_on_object"] * metrics["n_images"])
    row = next(
        line for line in (out / "report.md").read_text().splitlines() if line.startswith(f"| random | {shares} |")
    )
    assert row.endswith(" | " + ", ".join(f"{cause} {count}" for cause, count in causes.items()) + " |")
    # By kind: every image whose best grasp lands on an object counts once, under that object's kind.
    by_kind = top1["top1_by_kind"]
    on_objects = (top1["hit"] + top1["miss_on_object"]) * metrics["n_images"]
    assert sum(c["images"] for c in by_kind.values()) == round(on_objects)
    assert sum(c["hits"] for c in by_kind.values()) == round(top1["hit"] * metrics["n_images"])
    for kind, counted in by_kind.items():
        assert f"| {kind} | {counted['hits']} of {counted['images']} (" in (out / "report.md").read_text()
    # As a robot with depth sees them: random grasps land mostly on the room, which the
    # support-plane check drops, so fewer scenes keep a grasp off the objects.
    checked = tmp_path / "eval_support"
    arguments = ["eval", "--dataset", "synthetic", "--root", str(data), "--backend", "random", "--out", str(checked)]
    assert main([*arguments, "--support-plane"]) == 0
    with_depth = json.loads((checked / "metrics.json").read_text())
    assert with_depth["background_scenes"] < metrics["background_scenes"]
    assert with_depth["support_plane"]["unchecked_images"] == 0 and with_depth["support_plane"]["dropped_grasps"] > 0
    assert "support_plane" not in metrics
    assert "grasps dropped, not checked on 0 of 3 images" in (checked / "report.md").read_text()
    # Empty tables written beside them: accuracy over the labelled scenes only, the empties priced apart.
    empty, with_empty = tmp_path / "empty", tmp_path / "eval_empty"
    assert main(["synth", "--view", "robot", "--out", str(empty), "--n", "2", "--seed", "8", "--empty-share", "1"]) == 0
    assert all(not sample.grasps for sample in open_dataset("synthetic", str(empty)))
    arguments = [
        "eval",
        "--dataset",
        "synthetic",
        "--root",
        str(empty),
        "--backend",
        "random",
        "--out",
        str(with_empty),
    ]
    assert main(arguments) == 0
    only_empty = json.loads((with_empty / "metrics.json").read_text())
    assert (only_empty["n_unlabelled"], only_empty["accuracy_top1"]) == (2, None)
    # With nothing labelled, every scene with a grasp is a background scene, and no other is.
    assert only_empty["background_scenes"] == only_empty["unlabelled_with_grasp"] > 0


def test_eval_on_a_jacquard_layout_set_scores_a_perfect_backend(tmp_path: Path) -> None:
    """With oracle masks, the PCA baseline on a lone rectangle matches its label: 100% top-1."""
    for index in range(2):
        image = np.full((120, 160, 3), 230, np.uint8)
        mask = np.zeros((120, 160), np.uint8)
        cv2.rectangle(mask, (50, 40), (109, 79), 1, -1)  # 60 x 40 px block
        image[mask > 0] = (40, 90, 200)
        cv2.imwrite(str(tmp_path / f"{index}_block_RGB.png"), image)
        cv2.imwrite(str(tmp_path / f"{index}_block_mask.png"), mask)
        label = Grasp(79.5, 59.5, 1.5707963, 52.0, 26.0)  # across the 40 px side
        (tmp_path / f"{index}_block_grasps.txt").write_text(format_jacquard_grasps([label]))
    out = tmp_path / "out"
    assert (
        main(
            [
                "eval",
                "--dataset",
                "jacquard",
                "--root",
                str(tmp_path),
                "--backend",
                "pca",
                "--out",
                str(out),
                "--oracle-mask",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy_top1"] == 1.0 and metrics["n_images"] == 2 and metrics["oracle_mask"] is True
    assert metrics["angle_err_deg"] < 1.0


def test_predict_writes_json_and_overlay(tmp_path: Path) -> None:
    image = np.full((100, 140, 3), 235, np.uint8)
    cv2.circle(image, (70, 50), 18, (10, 10, 200), -1)
    cv2.imwrite(str(tmp_path / "cup.png"), image)
    assert main(["predict", str(tmp_path / "cup.png"), "--backend", "min_area_rect", "--out", str(tmp_path / "o")]) == 0
    record = json.loads((tmp_path / "o" / "cup.json").read_text())
    assert (record["width"], record["height"], record["backend"]) == (140, 100, "min_area_rect")
    assert record["grasps"][0]["cx"] == pytest.approx(70, abs=1.5)
    overlay = cv2.imread(str(tmp_path / "o" / "cup_overlay.png"))
    assert overlay.shape == (100, 140, 3) and not np.array_equal(overlay, image[..., ::-1])


def test_eval_names_every_unreadable_sample_before_any_model_runs_or_skips_them_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "synth"
    assert main(["synth", "--out", str(data), "--n", "4", "--seed", "5", "--width", "160", "--height", "120"]) == 0
    (data / "00001_s5_RGB.png").write_bytes(b"not a png")
    with (data / "00002_s5_grasps.txt").open("a") as labels:
        labels.write("1;2;oops\n")
    bad_line = len((data / "00002_s5_grasps.txt").read_text().splitlines())
    argv = ["eval", "--dataset", "synthetic", "--root", str(data), "--backend", "pca", "--out", str(tmp_path / "e")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "2 of 4 samples cannot be used" in err and "--skip-bad-samples" in err
    assert "00001_s5_RGB.png: cannot be read as an image" in err
    assert f"00002_s5_grasps.txt:{bad_line}: expected 5 fields, got 3" in err
    assert not (tmp_path / "e").exists()  # nothing written, nothing half-scored
    assert main([*argv, "--skip-bad-samples"]) == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["n_images"] == 2 and metrics["skipped_samples"]["skipped"] == 2
    assert [json.loads(line)["image"] for line in (tmp_path / "e" / "predictions.jsonl").read_text().splitlines()] == [
        "00000_s5_RGB.png",
        "00003_s5_RGB.png",
    ]
    assert "skipped 2 of 4 samples" in (tmp_path / "e" / "report.md").read_text()


def _cup_image(path: Path, centre: tuple[int, int] = (70, 50)) -> None:
    image = np.full((100, 140, 3), 235, np.uint8)
    cv2.circle(image, centre, 18, (10, 10, 200), -1)
    cv2.imwrite(str(path), image)


def test_predict_skips_an_unreadable_image_and_keeps_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cup_image(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    _cup_image(tmp_path / "c.png", centre=(40, 60))
    argv = ["predict", *(str(tmp_path / f"{n}.png") for n in "abc"), "--backend", "min_area_rect", "--out"]
    assert main([*argv, str(tmp_path / "o")]) == 2
    assert sorted(p.name for p in (tmp_path / "o").glob("*.json")) == ["a.json", "c.json"]
    assert json.loads((tmp_path / "o" / "c.json").read_text())["grasps"][0]["cx"] == pytest.approx(40, abs=1.5)
    err = capsys.readouterr().err
    assert f"skipped {tmp_path / 'b.png'}: cannot be read as an image" in err
    assert f"skipped 1 of 3 images: {tmp_path / 'b.png'}" in err


def test_predict_takes_folders_and_never_overwrites_one_image_with_another(tmp_path: Path) -> None:
    for scene, centre in (("scene_1", (40, 50)), ("scene_2", (100, 50))):
        (tmp_path / scene).mkdir()
        _cup_image(tmp_path / scene / "rgb.png", centre)
    (tmp_path / "scene_2" / "notes.txt").write_text("not an image")
    out = tmp_path / "o"
    argv = ["predict", str(tmp_path / "scene_1"), str(tmp_path / "scene_2"), str(tmp_path / "scene_1" / "rgb.png")]
    assert main([*argv, "--backend", "min_area_rect", "--out", str(out)]) == 0
    records = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert sorted(records) == ["scene_1__rgb.json", "scene_2__rgb.json"]  # the repeated file once, notes.txt not
    assert records["scene_1__rgb.json"]["grasps"][0]["cx"] == pytest.approx(40, abs=1.5)
    assert records["scene_2__rgb.json"]["grasps"][0]["cx"] == pytest.approx(100, abs=1.5)
    _cup_image(tmp_path / "scene_1" / "rgb.jpg", (70, 50))
    assert (
        main(["predict", str(tmp_path / "scene_1"), "--backend", "min_area_rect", "--out", str(tmp_path / "o2")]) == 0
    )
    assert sorted(p.name for p in (tmp_path / "o2").glob("*.json")) == ["rgb_jpg.json", "rgb_png.json"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["eval", "--dataset", "cornell", "--root", "/nonexistent/x", "--backend", "pca", "--out", "o"],
            "does not exist",
        ),
        (
            ["eval", "--dataset", "cornell", "--root", "{tmp}", "--backend", "pca", "--out", "o"],
            "no cornell samples found",
        ),
        (
            ["eval", "--dataset", "synthetic", "--root", "{tmp}", "--backend", "nope", "--out", "o"],
            "unknown backend 'nope'",
        ),
        (["predict", "/nonexistent/a.png", "--out", "o"], "no such image file or folder: /nonexistent/a.png"),
        (["predict", "{tmp}", "--out", "o"], "a folder with no image files"),
        (["predict", "{tmp}/a_file", "--out", "{tmp}/a_file"], "a_file: exists and is not a folder"),
        (["synth", "--out", "o", "--n", "2", "--width", "0"], "argument --width: must be at least 1, got 0"),
        (
            ["synth", "--out", "o", "--n", "2", "--view", "mixed", "--robot-share", "0.8", "--bullet-share", "0.5"],
            "robot_share + bullet_share must be at most 1, got 0.8 + 0.5",
        ),
        (["synth", "--out", "o", "--n", "2", "--empty-share", "1.5"], "empty_share must be within [0, 1], got 1.5"),
        (
            ["eval", "--dataset", "synthetic", "--root", "{tmp}", "--backend", "pca", "--out", "o", "--max-grasps=-3"],
            "argument --max-grasps: must be at least 1, got -3",
        ),
        (
            ["eval", "--dataset", "synthetic", "--root", "{tmp}", "--backend", "pca", "--out", "{tmp}/a_file/sub"],
            "a_file/sub: {tmp}/a_file is a file, not a folder",
        ),
        (
            ["bag", "--dataset", "synthetic", "--root", "{tmp}", "--out", "{tmp}/a_file"],
            "a_file: exists and is not a folder",
        ),
        (["replay", "{tmp}/nothing", "--out", "{tmp}/a_file/r"], "a_file is a file, not a folder"),
        (
            ["eval", "--dataset", "synthetic", "--root", "{tmp}", "--out", "o", "--support-plane"]
            + ["--support-height-m", "0.5", "0.1"],
            "--support-height-m must be 0 <= MIN <= MAX, got 0.5 0.1",
        ),
    ],
)
def test_errors_are_one_clear_line(argv: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    message = message.replace("{tmp}", str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "vlm_grasp_ros.cli.main", *argv], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith(f"vlm-grasp {argv[0]}: error:")


def test_inspect_writes_statistics_and_a_sample_grid(tmp_path: Path) -> None:
    data = tmp_path / "synth"
    assert main(["synth", "--out", str(data), "--n", "3", "--seed", "9", "--width", "320", "--height", "240"]) == 0
    assert main(["inspect", "--dataset", "synthetic", "--root", str(data), "--out", str(tmp_path / "i")]) == 0
    stats = json.loads((tmp_path / "i" / "stats.json").read_text())
    labels = sum(len((data / f"{i:05d}_s9_grasps.txt").read_text().splitlines()) for i in range(3))
    assert stats["n_images"] == 3 and stats["n_grasps"] == labels and stats["image_sizes"] == ["320x240"]
    assert cv2.imread(str(tmp_path / "i" / "samples.png")).shape == (240, 1280, 3)
