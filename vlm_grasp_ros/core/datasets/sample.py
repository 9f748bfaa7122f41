"""The one sample type every dataset loader yields, and the errors loaders raise."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.projection import PinholeCamera


@dataclass
class GraspSample:
    """One image with its ground truth.

    ``image``: (H, W, 3) uint8 RGB. ``grasps``: the labelled grasps in its pixels.
    ``mask``: (H, W) integer object labels (0 = background, 1.. = objects) or None.
    ``depth``: (H, W) float32 metres (NaN or 0 where unknown) or None.
    ``name``: the image's path relative to the dataset root (stable across runs).
    ``object_kinds``: what each masked object is (entry k-1 names mask label k: "pen", "mug"),
    where the data say so (synthetic scenes), for accuracy by kind of object; else None.
    ``camera``: the image's intrinsics where the data give them (synthetic camera views), so that
    depth can be turned into points (the support-plane check); else None.
    """

    image: np.ndarray
    grasps: list[Grasp]
    name: str
    mask: np.ndarray | None = None
    depth: np.ndarray | None = None
    object_kinds: tuple[str, ...] | None = None
    camera: PinholeCamera | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


class DatasetFormatError(ValueError):
    """A dataset file that does not follow its format; the message names the file and line."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = Path(path)
        self.line = line


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 text file; bytes that are not UTF-8 raise
    :class:`DatasetFormatError` naming the file and the line (a plain decode error names neither).
    A leading byte-order mark (Windows editors and spreadsheets write one) is not part of the text."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise DatasetFormatError(
                    path, f"not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1})", number
                ) from None


def read_rgb(path: Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; grey and alpha images are converted."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetFormatError(path, "cannot be read as an image")
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_label_mask(path: Path) -> np.ndarray:
    """Read an object-label image as (H, W) int32 (0 = background)."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DatasetFormatError(path, "cannot be read as a mask image")
    if mask.ndim == 3:
        mask = mask[..., 0]
    return mask.astype(np.int32)


def read_depth_metres(path: Path, scale_to_metres: float) -> np.ndarray:
    """Read a depth image (TIFF float or 16-bit PNG) and scale it to float32 metres."""
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise DatasetFormatError(path, "cannot be read as a depth image")
    if depth.ndim == 3:
        depth = depth[..., 0]
    return depth.astype(np.float32) * np.float32(scale_to_metres)
