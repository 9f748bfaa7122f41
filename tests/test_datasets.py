"""Every dataset format: small files written in the exact layout and read back."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from vlm_grasp_ros.core.datasets import DatasetFormatError, open_dataset
from vlm_grasp_ros.core.datasets.jacquard import format_jacquard_grasps
from vlm_grasp_ros.core.grasp import Grasp, angle_difference

GRASPS = [Grasp(40.0, 30.0, math.radians(25.0), 30.0, 12.0), Grasp(90.5, 60.25, math.radians(-80.0), 22.0, 9.0)]


def _image(height: int = 96, width: int = 128, value: int = 0) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = 200  # red in RGB: checks that loaders convert OpenCV's BGR
    image[0, 0] = (value, value, value)
    return image


def _write_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def _corner_lines(grasps: list[Grasp]) -> str:
    return "".join(f"{x:.4f} {y:.4f}\n" for g in grasps for x, y in g.corners())


def _assert_same_grasps(read: list[Grasp], expected: list[Grasp], tolerance: float = 1e-3) -> None:
    assert len(read) == len(expected)
    for a, b in zip(read, expected):
        assert (a.cx, a.cy, a.width, a.height) == pytest.approx((b.cx, b.cy, b.width, b.height), abs=tolerance)
        assert angle_difference(a.theta, b.theta) < 1e-3


def test_cornell_round_trip_skips_nan_rectangles(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "01"
    _write_rgb(folder / "pcd0100r.png", _image())
    nan_rectangle = "NaN NaN\n1 1\n2 2\n3 3\n"
    (folder / "pcd0100cpos.txt").write_text(_corner_lines(GRASPS[:1]) + nan_rectangle + _corner_lines(GRASPS[1:]))
    dataset = open_dataset("cornell", tmp_path)
    sample = dataset[0]
    assert len(dataset) == 1 and sample.name == "01/pcd0100r.png"
    assert sample.image.shape == (96, 128, 3) and tuple(sample.image[5, 5]) == (200, 0, 0)
    _assert_same_grasps(sample.grasps, GRASPS)
    assert "NaN corner" in caplog.text


def test_cornell_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    _write_rgb(tmp_path / "pcd0101r.png", _image())
    (tmp_path / "pcd0101cpos.txt").write_text("1 2\n3 4\n5 six\n7 8\n")
    with pytest.raises(DatasetFormatError, match=r"pcd0101cpos.txt:3: not two numbers"):
        open_dataset("cornell", tmp_path)[0]
    (tmp_path / "pcd0101cpos.txt").write_text("1 2\n3 4\n5 6\n")
    with pytest.raises(DatasetFormatError, match=r"pcd0101cpos.txt:3: 3 corner lines is not a multiple of 4"):
        open_dataset("cornell", tmp_path)[0]


def test_jacquard_round_trip_and_flipped_angle(tmp_path: Path) -> None:
    _write_rgb(tmp_path / "3_abc_RGB.png", _image())
    mask = np.zeros((96, 128), np.uint8)
    mask[20:40, 30:50] = 255
    cv2.imwrite(str(tmp_path / "3_abc_mask.png"), mask)
    cv2.imwrite(str(tmp_path / "3_abc_perfect_depth.tiff"), np.full((96, 128), 1.5, np.float32))
    (tmp_path / "3_abc_grasps.txt").write_text(format_jacquard_grasps(GRASPS))
    sample = open_dataset("jacquard", tmp_path)[0]
    _assert_same_grasps(sample.grasps, GRASPS)
    assert sample.mask is not None and sample.mask[30, 40] == 255 and sample.mask[0, 0] == 0
    assert sample.depth is not None and sample.depth.dtype == np.float32 and sample.depth[5, 5] == pytest.approx(1.5)
    # Jacquard's own angle runs the other way: 30 in the file is -30 degrees here.
    (tmp_path / "3_abc_grasps.txt").write_text("50;40;30;20;10\n")
    assert open_dataset("jacquard", tmp_path)[0].grasps[0].theta_deg == pytest.approx(-30.0)


def test_label_files_from_windows_tools_read_the_same(tmp_path: Path) -> None:
    """A byte-order mark and CRLF line ends (Windows editors, spreadsheets) change no label."""
    _write_rgb(tmp_path / "0_x_RGB.png", _image())
    text = format_jacquard_grasps(GRASPS)
    (tmp_path / "0_x_grasps.txt").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    _assert_same_grasps(open_dataset("jacquard", tmp_path)[0].grasps, GRASPS)
    _write_rgb(tmp_path / "c" / "pcd0100r.png", _image())
    (tmp_path / "c" / "pcd0100cpos.txt").write_bytes(b"\xef\xbb\xbf" + _corner_lines(GRASPS).encode())
    _assert_same_grasps(open_dataset("cornell", tmp_path / "c")[0].grasps, GRASPS)


def test_jacquard_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    _write_rgb(tmp_path / "0_x_RGB.png", _image())
    (tmp_path / "0_x_grasps.txt").write_text("50;40;30;20;10\n\n50;40;30;20\n")
    with pytest.raises(DatasetFormatError, match=r"0_x_grasps.txt:3: expected 5 fields, got 4"):
        open_dataset("jacquard", tmp_path)[0]


def test_jacquard_camera_file_gives_intrinsics_and_bad_ones_name_the_line(tmp_path: Path) -> None:
    _write_rgb(tmp_path / "0_x_RGB.png", _image())
    (tmp_path / "0_x_grasps.txt").write_text("50;40;30;20;10\n")
    assert open_dataset("jacquard", tmp_path)[0].camera is None  # Jacquard's own scenes have none
    (tmp_path / "0_x_camera.txt").write_text("\n300.5 301 63.5 47.5\n")
    camera = open_dataset("jacquard", tmp_path)[0].camera
    assert camera is not None and (camera.fx, camera.fy, camera.cx, camera.cy) == (300.5, 301.0, 63.5, 47.5)
    assert (camera.width, camera.height) == (128, 96)  # the image's size
    bad_files = {"\n-300 300 63.5 47.5\n": ":2: invalid intrinsics", "300 300 63.5\n": ":1: expected 4 fields, got 3"}
    for text, problem in bad_files.items():
        (tmp_path / "0_x_camera.txt").write_text(text)
        with pytest.raises(DatasetFormatError, match="0_x_camera.txt" + problem):
            open_dataset("jacquard", tmp_path)[0]


def test_ocid_round_trip_with_labelled_mask(tmp_path: Path) -> None:
    scene = tmp_path / "ARID20" / "table" / "top" / "seq07"
    _write_rgb(scene / "rgb" / "result_2018.png", _image())
    (scene / "Annotations").mkdir(parents=True)
    (scene / "Annotations" / "result_2018.txt").write_text(_corner_lines(GRASPS))
    labels = np.zeros((96, 128), np.uint8)
    labels[10:50, 20:60] = 3
    (scene / "seg_mask_labeled_combi").mkdir()
    cv2.imwrite(str(scene / "seg_mask_labeled_combi" / "result_2018.png"), labels)
    sample = open_dataset("ocid", tmp_path)[0]
    _assert_same_grasps(sample.grasps, GRASPS)
    assert sample.name == "ARID20/table/top/seq07/rgb/result_2018.png"
    assert sample.mask[30, 40] == 3


def test_graspnet_rect_rows_become_grasps(tmp_path: Path) -> None:
    camera = tmp_path / "scenes" / "scene_0001" / "realsense"
    _write_rgb(camera / "rgb" / "0000.png", _image())
    (camera / "rect").mkdir()
    g = GRASPS[0]
    open_point = np.array([g.cx, g.cy]) + g.opening_axis * g.width / 2
    rows = np.array([[g.cx, g.cy, open_point[0], open_point[1], g.height, 0.9, 7.0], [10, 10, 14, 10, 4, 0.1, 2.0]])
    np.save(camera / "rect" / "0000.npy", rows)
    (camera / "depth").mkdir()
    cv2.imwrite(str(camera / "depth" / "0000.png"), np.full((96, 128), 600, np.uint16))
    sample = open_dataset("graspnet", tmp_path)[0]
    _assert_same_grasps(sample.grasps[:1], [g])
    assert sample.grasps[0].score == pytest.approx(0.9)
    assert sample.depth[0, 0] == pytest.approx(0.6)  # 600 mm


def test_graspnet_rejects_pickled_or_misshapen_arrays(tmp_path: Path) -> None:
    camera = tmp_path / "scenes" / "scene_0002" / "kinect"
    _write_rgb(camera / "rgb" / "0001.png", _image())
    (camera / "rect").mkdir()
    np.save(camera / "rect" / "0001.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetFormatError, match="not a plain numeric"):
        open_dataset("graspnet", tmp_path)[0]
    np.save(camera / "rect" / "0001.npy", np.zeros((3, 5)))
    with pytest.raises(DatasetFormatError, match=r"rows of 7 values, got an array of shape \(3, 5\)"):
        open_dataset("graspnet", tmp_path)[0]


def _seed_records(tmp_path: Path) -> list[dict]:
    _write_rgb(tmp_path / "images" / "a.png", _image())
    return [{"image": "images/a.png", "grasps": [[g.cx, g.cy, g.theta_deg, g.width, g.height] for g in GRASPS]}]


def test_seed_pickle_needs_an_explicit_opt_in(tmp_path: Path) -> None:
    with open(tmp_path / "annotations.pkl", "wb") as handle:
        pickle.dump(_seed_records(tmp_path), handle)
    with pytest.raises(PermissionError, match="allow_pickle"):
        open_dataset("seed-pickle", tmp_path)
    sample = open_dataset("seed-pickle", tmp_path, allow_pickle=True)[0]
    _assert_same_grasps(sample.grasps, GRASPS)
    assert sample.name == "images/a.png"


class _RunsCode:
    def __reduce__(self):  # what a malicious pickle does: call a function on load
        return (print, ("this must never run",))


def test_seed_pickle_refuses_code_even_when_allowed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = _seed_records(tmp_path)
    records[0]["extra"] = _RunsCode()
    with open(tmp_path / "annotations.pkl", "wb") as handle:
        pickle.dump(records, handle)
    with pytest.raises(DatasetFormatError, match="refusing to load builtins.print"):
        open_dataset("seed-pickle", tmp_path, allow_pickle=True)
    assert "this must never run" not in capsys.readouterr().out


def test_seed_hdf5_round_trip_with_nan_padding(tmp_path: Path) -> None:
    rows = np.full((2, 3, 5), np.nan)
    rows[0, :2] = [[g.cx, g.cy, g.theta_deg, g.width, g.height] for g in GRASPS]
    rows[1, :1] = [[5, 6, 10, 7, 3]]
    with h5py.File(tmp_path / "set.h5", "w") as handle:
        handle["images"] = np.stack([_image(value=1), _image(value=2)])
        handle["grasps"] = rows
    dataset = open_dataset("seed-pickle", tmp_path)
    assert len(dataset) == 2
    _assert_same_grasps(dataset[0].grasps, GRASPS)
    assert len(dataset[1].grasps) == 1 and dataset[1].image[0, 0, 0] == 2 and dataset[1].name == "set.h5#1"


def test_bad_roots_and_names_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_dataset("cornell", tmp_path / "missing")
    with pytest.raises(DatasetFormatError, match="no jacquard samples found; expected <i>_<id>_RGB.png"):
        open_dataset("jacquard", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'coco'"):
        open_dataset("coco", tmp_path)
