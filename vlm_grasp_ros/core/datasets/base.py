"""The dataset interface: an indexed, lazily loaded sequence of :class:`GraspSample`."""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import numpy as np

from vlm_grasp_ros.core.datasets.sample import DatasetFormatError, GraspSample, text_lines
from vlm_grasp_ros.core.grasp import Grasp

LOG = logging.getLogger(__name__)
Item = TypeVar("Item")


class GraspDataset(abc.ABC, Generic[Item]):
    """Indexes a dataset root on construction; reads files only when a sample is asked for."""

    #: The ``--dataset`` name and what the index looks for (used in error messages).
    name: ClassVar[str]
    expected_layout: ClassVar[str]

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"{self.name} dataset root {self.root} does not exist")
        self._items: list[Item] = self._index()
        if not self._items:
            raise DatasetFormatError(self.root, f"no {self.name} samples found; expected {self.expected_layout}")

    @abc.abstractmethod
    def _index(self) -> list[Item]:
        """Find the samples under ``root`` (sorted, so that indices are stable)."""

    @abc.abstractmethod
    def _load(self, item: Item) -> GraspSample:
        """Read one sample's files."""

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> GraspSample:
        return self._load(self._items[index])

    def __iter__(self) -> Iterator[GraspSample]:
        for item in self._items:
            yield self._load(item)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def parse_corner_file(path: Path, allow_nan_rectangles: bool = True) -> list[Grasp]:
    """Read Cornell-style rectangles: four ``x y`` lines per rectangle, corners in order.

    Rectangles containing NaN (present in the real Cornell files) are skipped with a
    warning; any other malformed line raises :class:`DatasetFormatError` naming the line.
    """
    rows: list[tuple[int, float, float]] = []
    for line_number, line in text_lines(path):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DatasetFormatError(path, f"expected 'x y', got {line.strip()!r}", line_number)
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise DatasetFormatError(path, f"not two numbers: {line.strip()!r}", line_number) from None
        rows.append((line_number, x, y))
    if len(rows) % 4:
        raise DatasetFormatError(path, f"{len(rows)} corner lines is not a multiple of 4", rows[-1][0])
    grasps: list[Grasp] = []
    for start in range(0, len(rows), 4):
        corners = np.array([(x, y) for _, x, y in rows[start : start + 4]])
        first_line = rows[start][0]
        if not np.all(np.isfinite(corners)):
            if not allow_nan_rectangles:
                raise DatasetFormatError(path, "rectangle with a non-finite corner", first_line)
            LOG.warning("%s:%d: skipping a rectangle with a NaN corner", path, first_line)
            continue
        grasps.append(Grasp.from_corners(corners))
    return grasps


def parse_float_fields(path: Path, line: str, line_number: int, count: int, separator: str | None) -> list[float]:
    """Split a line into exactly ``count`` finite floats or raise naming the file and line."""
    parts = line.strip().split(separator)
    if len(parts) != count:
        raise DatasetFormatError(path, f"expected {count} fields, got {len(parts)}: {line.strip()!r}", line_number)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise DatasetFormatError(path, f"non-numeric field in {line.strip()!r}", line_number) from None
    if not all(math.isfinite(v) for v in values):
        raise DatasetFormatError(path, f"non-finite field in {line.strip()!r}", line_number)
    return values
