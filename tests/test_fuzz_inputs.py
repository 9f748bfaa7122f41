"""Hypothesis against what comes from outside: frames off the wire and label files on disk.

Whatever the bytes, the image conversion either returns an (H, W, 3) uint8 array of the
header's size or raises ImageConversionError, and the label parsers either return finite
grasps or raise DatasetFormatError naming the file (and the line where there is one). Nothing
else may escape: the node counts anything else as a backend failure, the CLI as a traceback.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from vlm_grasp_ros.core.datasets.base import parse_corner_file
from vlm_grasp_ros.core.datasets.jacquard import read_jacquard_grasps
from vlm_grasp_ros.core.datasets.sample import DatasetFormatError
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.ros.image_conversion import (
    ImageConversionError,
    depth_to_metres,
    frame_to_rgb,
    metres_to_compressed_depth,
)

ENCODINGS = [
    "rgb8",
    "bgr8",
    "rgba8",
    "bgra8",
    "mono8",
    "8UC1",
    "mono16",
    "16UC1",
    "32FC1",
    "8UC3",
    "yuv422",
    "yuv422_yuy2",
    "bayer_rggb8",
    "bayer_grbg8",
    "nv21",
    "",
    "RGB8",
]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_PIXELS = 512 * 512


def check_conversion(frame: Image | CompressedImage) -> None:
    try:
        rgb = frame_to_rgb(frame, MAX_PIXELS)
    except ImageConversionError as error:
        assert str(error)  # says what is wrong
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert 0 < rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS
    if isinstance(frame, Image):
        assert rgb.shape[:2] == (frame.height, frame.width)


@FUZZ
@given(
    width=st.integers(0, 70_000),
    height=st.integers(0, 70_000),
    encoding=st.sampled_from(ENCODINGS),
    step=st.integers(0, 2**32 - 1),
    is_bigendian=st.integers(0, 1),
    data=st.binary(max_size=4096),
)
def test_any_raw_frame_converts_or_is_refused_cleanly(
    width: int, height: int, encoding: str, step: int, is_bigendian: int, data: bytes
) -> None:
    check_conversion(
        Image(width=width, height=height, encoding=encoding, step=step, is_bigendian=is_bigendian, data=data)
    )


@FUZZ
@given(width=st.integers(1, 24), height=st.integers(1, 24), encoding=st.sampled_from(ENCODINGS), seed=st.integers(0))
def test_a_consistent_raw_frame_of_a_known_encoding_converts(width: int, height: int, encoding: str, seed: int) -> None:
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "mono16": 2, "16UC1": 2}
    if encoding not in channels and encoding != "32FC1":
        return
    bytes_per_pixel = 4 if encoding == "32FC1" else channels[encoding]
    pixels = np.random.default_rng(seed).integers(0, 256, width * height * bytes_per_pixel, dtype=np.uint8)
    if encoding == "32FC1":  # finite floats: NaN depth in a colour topic is another test's business
        pixels = np.random.default_rng(seed).random(width * height, dtype=np.float32).view(np.uint8)
    frame = Image(width=width, height=height, encoding=encoding, step=width * bytes_per_pixel, data=pixels.tobytes())
    rgb = frame_to_rgb(frame, MAX_PIXELS)
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8


def _encoded(extension: str, width: int, height: int, seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(extension, image)
    assert ok
    return encoded.tobytes()


@FUZZ
@given(
    extension=st.sampled_from([".png", ".jpg"]),
    width=st.integers(1, 64),
    height=st.integers(1, 64),
    seed=st.integers(0, 1000),
    cut=st.integers(0, 10_000),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    image_format=st.sampled_from(["png", "jpeg", "rgb8; jpeg compressed bgr8", "", "tiff"]),
)
def test_any_damage_to_a_compressed_frame_converts_or_is_refused_cleanly(
    extension: str, width: int, height: int, seed: int, cut: int, flips: list[tuple[int, int]], image_format: str
) -> None:
    data = bytearray(_encoded(extension, width, height, seed))
    for position, value in flips:
        data[position % len(data)] = value
    check_conversion(CompressedImage(format=image_format, data=bytes(data[: max(0, len(data) - cut)])))


@FUZZ
@given(data=st.binary(max_size=2048), image_format=st.sampled_from(["png", "jpeg", ""]))
def test_random_bytes_as_a_compressed_frame_are_refused_cleanly(data: bytes, image_format: str) -> None:
    check_conversion(CompressedImage(format=image_format, data=data))


@FUZZ
@given(
    width=st.integers(1, 48),
    height=st.integers(1, 48),
    seed=st.integers(0, 1000),
    cut=st.integers(0, 4_000),
    flips=st.lists(st.tuples(st.integers(0, 4_000), st.integers(0, 255)), max_size=8),
    image_format=st.sampled_from(
        ["16UC1; compressedDepth png", "32FC1; compressedDepth png", "16UC1; compressedDepth"]
    ),
)
def test_any_damage_to_compressed_depth_gives_metres_or_is_refused_cleanly(
    width: int, height: int, seed: int, cut: int, flips: list[tuple[int, int]], image_format: str
) -> None:
    depth = np.random.default_rng(seed).uniform(0.2, 5.0, (height, width))
    data = bytearray(metres_to_compressed_depth(depth, Header()).data)
    for position, value in flips:
        data[position % len(data)] = value
    message = CompressedImage(format=image_format, data=bytes(data[: max(0, len(data) - cut)]))
    try:
        metres = depth_to_metres(message)
    except ImageConversionError as error:
        assert str(error)
        return
    assert metres.dtype == np.float32 and metres.ndim == 2 and metres.size <= 2**24
    assert not (metres <= 0).any()  # holes are NaN, never zero or negative


LINE_PIECES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["", " ", "\t", ";", ";;", "x", "nan", "1e999", "\x00", "é", "\r"]),
)
LINES = st.lists(st.lists(LINE_PIECES, max_size=7), max_size=12)


def _write(lines: list[str], garbage: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fuzz_labels_"))
    path = folder / "labels.txt"
    path.write_bytes("\n".join(lines).encode("utf-8") + garbage)
    return path


@pytest.mark.parametrize("read, separator", [(read_jacquard_grasps, ";"), (parse_corner_file, " ")])
@FUZZ
@given(rows=LINES, garbage=st.binary(max_size=8))
def test_any_label_file_parses_or_names_its_file(
    read: Callable[[Path], list[Grasp]], separator: str, rows: list[list[str]], garbage: bytes
) -> None:
    path = _write([separator.join(row) for row in rows], garbage)
    try:
        grasps = read(path)
    except DatasetFormatError as error:
        assert str(error).startswith(str(path))
        return
    assert all(math.isfinite(v) for g in grasps for v in (g.cx, g.cy, g.theta, g.width, g.height))
