"""sensor_msgs images <-> numpy: every supported encoding, padding, byte order, and errors."""

from __future__ import annotations

import io
import re
import struct
import time

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from vlm_grasp_ros.ros.image_conversion import (
    ImageConversionError,
    array_to_image,
    compressed_to_rgb,
    depth_to_metres,
    image_to_array,
    image_to_rgb,
    metres_to_compressed_depth,
    rgb_to_image,
)

RNG = np.random.default_rng(5)
RGB = RNG.integers(0, 256, (7, 9, 3), dtype=np.uint8)


def padded(msg: Image, extra: int) -> Image:
    """The same image with ``extra`` junk bytes after every row."""
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    junk = np.full((msg.height, extra), 0xAB, np.uint8)
    msg.data = np.hstack([rows, junk]).tobytes()
    msg.step += extra
    return msg


@pytest.mark.parametrize(
    "encoding, pixels",
    [
        ("rgb8", RGB),
        ("bgr8", RGB[:, :, ::-1]),
        ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])),
        ("bgra8", np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 7, np.uint8)])),
    ],
)
@pytest.mark.parametrize("padding", [0, 5])
def test_colour_encodings_become_the_same_rgb(encoding: str, pixels: np.ndarray, padding: int) -> None:
    msg = padded(array_to_image(pixels, encoding), padding)
    assert np.array_equal(image_to_rgb(msg), RGB)


# A camera's raw output, made by hand from a known colour picture: each pattern's first row names
# the colours of its first two pixels (ROS's convention), so a wrong mapping swaps red and blue.
BAYER_OFFSETS = {"rggb": {"r": (0, 0), "b": (1, 1)}, "bggr": {"r": (1, 1), "b": (0, 0)},
                 "gbrg": {"r": (1, 0), "b": (0, 1)}, "grbg": {"r": (0, 1), "b": (1, 0)}}  # fmt: skip


def _smooth_colour_picture(height: int = 40, width: int = 48) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return np.dstack([200 - 2 * cols, 60 + rows, 40 + 3 * cols]).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("pattern", list(BAYER_OFFSETS))
def test_bayer_frames_are_debayered_with_the_colours_in_place(pattern: str) -> None:
    picture = _smooth_colour_picture()
    mosaic = picture[:, :, 1].copy()  # green wherever red or blue is not
    for channel, (row, col) in ((0, BAYER_OFFSETS[pattern]["r"]), (2, BAYER_OFFSETS[pattern]["b"])):
        mosaic[row::2, col::2] = picture[row::2, col::2, channel]
    rgb = image_to_rgb(padded(array_to_image(mosaic, f"bayer_{pattern}8"), 3))
    inner = (slice(2, -2), slice(2, -2))  # demosaicing guesses at the border
    error = np.abs(rgb[inner].astype(int) - picture[inner].astype(int))
    assert error.mean() < 4.0, f"{pattern}: mean error {error.mean():.1f}"
    swapped = np.abs(rgb[inner][..., ::-1].astype(int) - picture[inner].astype(int)).mean()
    assert swapped > 40  # so the check above could fail: red and blue differ a lot in this picture


def _yuv(rgb: np.ndarray) -> np.ndarray:
    """BT.601 (studio range), as cameras and OpenCV's YUV422 conversions use."""
    r, g, b = (rgb[..., k].astype(float) for k in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    return np.dstack([y, u, v]).round().clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("encoding", ["yuv422_yuy2", "yuv422"])
def test_yuv422_frames_become_rgb(encoding: str) -> None:
    picture = np.zeros((4, 8, 3), np.uint8)
    picture[:, :4] = (220, 30, 30)  # red half, blue half: pairs of pixels share U and V
    picture[:, 4:] = (30, 40, 210)
    yuv = _yuv(picture)
    packed = np.zeros((4, 8, 2), np.uint8)
    packed[:, :, 0 if encoding == "yuv422_yuy2" else 1] = yuv[:, :, 0]  # Y of every pixel
    chroma = 1 if encoding == "yuv422_yuy2" else 0
    packed[:, 0::2, chroma] = yuv[:, 0::2, 1]  # U on even pixels, V on odd ones
    packed[:, 1::2, chroma] = yuv[:, 0::2, 2]
    rgb = image_to_rgb(array_to_image(packed, encoding))
    assert np.abs(rgb.astype(int) - picture.astype(int)).max() <= 6
    with pytest.raises(ImageConversionError, match=f"{encoding} needs an even width"):
        image_to_rgb(array_to_image(packed[:, :7], encoding))


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("encoding, dtype", [("mono16", np.uint16), ("16UC1", np.uint16), ("32FC1", np.float32)])
def test_multi_byte_encodings_honour_byte_order_and_padding(encoding: str, dtype: type, big_endian: bool) -> None:
    values = (RNG.random((6, 4)) * 60000).astype(dtype)
    msg = padded(array_to_image(values, encoding, big_endian=big_endian), 6)
    assert np.array_equal(image_to_array(msg), values)
    assert image_to_array(msg).dtype == np.dtype(dtype)  # native order after conversion


def test_grey_and_depth_images_become_grey_rgb() -> None:
    grey = RNG.integers(0, 256, (5, 6), dtype=np.uint8)
    assert np.array_equal(image_to_rgb(array_to_image(grey, "mono8")), np.dstack([grey] * 3))
    mono16 = grey.astype(np.uint16) * 256 + 255
    assert np.array_equal(image_to_rgb(array_to_image(mono16, "mono16")), np.dstack([grey] * 3))
    depth = np.array([[0.5, 1.0], [1.5, np.nan]], np.float32)
    assert image_to_rgb(array_to_image(depth, "32FC1"))[:, :, 0].tolist() == [[0, 128], [255, 0]]


def test_depth_is_metres_with_holes_as_nan() -> None:
    millimetres = np.array([[800, 0], [1234, 65535]], np.uint16)
    depth = depth_to_metres(array_to_image(millimetres, "16UC1", big_endian=True))
    assert depth[0, 0] == pytest.approx(0.8) and np.isnan(depth[0, 1]) and depth[1, 0] == pytest.approx(1.234)
    metres = np.array([[0.8, -1.0], [np.inf, 2.0]], np.float32)
    depth = depth_to_metres(array_to_image(metres, "32FC1"))
    assert depth[0, 0] == pytest.approx(0.8) and np.isnan(depth[0, 1]) and np.isnan(depth[1, 0])
    with pytest.raises(ImageConversionError, match="depth encoding 'rgb8'"):
        depth_to_metres(rgb_to_image(RGB, Header()))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"encoding": "nv21"}, "unsupported encoding 'nv21'"),
        ({"width": 0, "height": 0, "step": 0, "data": b""}, "empty image"),
        ({"step": 20}, r"step 20 is less than width x pixel size = 9 x 3 = 27"),
        ({"data": bytes(10)}, r"data has 10 bytes, step x height = 27 x 7 = 189"),
        ({"height": 8}, r"data has 189 bytes, step x height = 27 x 8 = 216"),
    ],
)
def test_inconsistent_frames_are_named(change: dict, message: str) -> None:
    msg = rgb_to_image(RGB, Header())
    for name, value in change.items():
        setattr(msg, name, value)
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(msg)


def test_compressed_png_is_exact_and_garbage_is_named() -> None:
    ok, png = cv2.imencode(".png", cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    assert ok
    assert np.array_equal(compressed_to_rgb(CompressedImage(format="png", data=png.tobytes())), RGB)
    with pytest.raises(ImageConversionError, match="could not decode the 3-byte 'jpeg' image"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"abc"))
    with pytest.raises(ImageConversionError, match="unsupported compressed format 'tiff'"):
        compressed_to_rgb(CompressedImage(format="tiff", data=png.tobytes()))
    with pytest.raises(ImageConversionError, match="compressedDepth"):
        compressed_to_rgb(CompressedImage(format="16UC1; compressedDepth png", data=png.tobytes()))


def test_rgb_to_image_round_trips() -> None:
    header = Header(frame_id="cam")
    msg = rgb_to_image(RGB, header)
    assert (msg.encoding, msg.step, msg.header.frame_id) == ("rgb8", 27, "cam")
    assert np.array_equal(image_to_rgb(msg), RGB)


def _png_bomb(side: int) -> bytes:
    """A real png of side x side black pixels: a few hundred KB that decode to side^2 x 3 bytes."""
    from PIL import Image as PilImage

    buffer = io.BytesIO()
    PilImage.new("1", (side, side)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _jpeg_header(width: int, height: int) -> bytes:
    """SOI, a baseline SOF0 frame header claiming width x height, SOS and EOI: no real pixels."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 16 + b"\xff\xd9"


def test_oversized_frames_are_refused_before_they_are_decoded() -> None:
    bomb = _png_bomb(20000)
    assert len(bomb) < 1_000_000  # small on the wire, 1.2 GB once decoded
    start = time.perf_counter()
    with pytest.raises(ImageConversionError, match=r"400000000 pixels.*over the limit of 16\.8 MP"):
        compressed_to_rgb(CompressedImage(format="png", data=bomb))
    with pytest.raises(ImageConversionError, match=r"4225000000 pixels.*over the limit"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=_jpeg_header(65000, 65000)))
    with pytest.raises(ImageConversionError, match=r"5000x5000 = 25\.0 MP, over the limit of 16\.8 MP"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=_jpeg_header(5000, 5000)))  # under Pillow's own
    assert time.perf_counter() - start < 2.0  # the header alone was read, nothing decoded
    with pytest.raises(ImageConversionError, match="over the limit of 1.0 MP"):  # raw frames: before the data
        image_to_rgb(
            Image(height=2000, width=2000, encoding="rgb8", step=6000, data=b"\x00" * 10), max_pixels=1_000_000
        )
    with pytest.raises(ImageConversionError, match="header is unreadable"):
        compressed_to_rgb(CompressedImage(format="png", data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 30))
    small = cv2.imencode(".png", RGB)[1].tobytes()
    assert (
        compressed_to_rgb(CompressedImage(format="png", data=small), max_pixels=RGB.shape[0] * RGB.shape[1]).shape
        == RGB.shape
    )


def _compressed_depth(fmt: str, quant: tuple[float, float], png_pixels: np.ndarray) -> CompressedImage:
    """A compressedDepth message laid out as image_transport's plugin sends it: a 12-byte header
    (int32 format, float32 quantisation A and B) before a 16-bit PNG."""
    ok, png = cv2.imencode(".png", png_pixels)
    assert ok
    return CompressedImage(format=fmt, data=struct.pack("<iff", 0, *quant) + png.tobytes())


def test_compressed_depth_in_millimetres_reads_exactly_and_round_trips() -> None:
    depth = RNG.uniform(0.3, 4.0, (24, 32)).astype(np.float32)
    depth[3:6, 4:9] = np.nan  # holes
    message = metres_to_compressed_depth(depth, Header())
    assert message.format == "16UC1; compressedDepth png"
    decoded = depth_to_metres(message)
    expected = np.round(depth * 1000.0) / 1000.0
    assert np.array_equal(np.isnan(decoded), np.isnan(depth))
    assert np.allclose(decoded[~np.isnan(depth)], expected[~np.isnan(depth)], atol=1e-6)
    # Another sender's 16UC1 millimetres, with the plugin's older format string.
    millimetres = (np.arange(12, dtype=np.uint16).reshape(3, 4) + 500) * 2
    other = _compressed_depth("16UC1; compressedDepth", (0.0, 0.0), millimetres)
    assert np.allclose(depth_to_metres(other), millimetres / 1000.0)


def test_compressed_float_depth_undoes_the_inverse_depth_quantisation() -> None:
    # The plugin's defaults: depth_quantization 100, depth_max 10 m; 0 means no depth.
    quant_a = 100.0 * (100.0 + 1.0)
    quant_b = 1.0 - quant_a / 10.0
    depth = np.array([[0.25, 0.5, 1.0, 2.0], [4.0, 9.5, np.nan, 12.0]], np.float32)
    with np.errstate(invalid="ignore"):
        inverse = np.where(depth < 10.0, quant_a / depth + quant_b, 0.0).astype(np.uint16)
    decoded = depth_to_metres(_compressed_depth("32FC1; compressedDepth png", (quant_a, quant_b), inverse))
    near = ~np.isnan(depth) & (depth < 10.0)
    assert np.allclose(decoded[near], depth[near], rtol=1e-3)  # quantisation: about d / 10,000 at d metres
    assert np.isnan(decoded[~near]).all()  # a hole and beyond the sender's maximum


@pytest.mark.parametrize(
    ("fmt", "data", "message"),
    [
        ("16UC1; compressedDepth rvl", None, "compressedDepth format '16UC1; compressedDepth rvl' is not supported"),
        ("16UC1; compressedDepth png", b"\x00" * 12, "no room for its header and PNG"),
        ("8UC1; compressedDepth png", None, "compressedDepth of '8UC1': expected 16UC1 or 32FC1"),
        ("16UC1; compressedDepth png", "8-bit", "the PNG is not one 16-bit channel"),
        ("16UC1; compressedDepth png", b"\x00" * 12 + b"not a png at all", "header is unreadable"),
        ("png", None, "is not compressedDepth"),
    ],
)
def test_bad_compressed_depth_is_named(fmt: str, data: object, message: str) -> None:
    good = _compressed_depth(fmt, (0.0, 0.0), np.full((4, 4), 900, np.uint16))
    if data == "8-bit":
        good = _compressed_depth(fmt, (0.0, 0.0), np.full((4, 4), 9, np.uint8))
    elif data is not None:
        good.data = data
    with pytest.raises(ImageConversionError, match=re.escape(message)):
        depth_to_metres(good)
