"""The seed design's annotation files: a pickle (opt-in only) or an HDF5 file.

Schema assumed here (the seed design's own files were not available to check against):

* Pickle, ``*.pkl`` under the root: a list of records, each a dict with ``"image"`` (path
  relative to the root) and ``"grasps"`` (a list of ``[cx, cy, theta_deg, width, height]``
  in this package's convention), optionally ``"mask"`` (path of an object-label image).
* HDF5, ``*.h5`` / ``*.hdf5`` under the root: ``images`` (N, H, W, 3) uint8 RGB, ``grasps``
  (N, K, 5) float with the same five columns and NaN rows as padding, optionally ``masks``
  (N, H, W).

Loading a pickle can run code stored in the file, so it needs ``allow_pickle=True``
(``--allow-pickle`` on the command line); even then only plain containers, numbers, strings
and numpy arrays are accepted by a restricted unpickler.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlm_grasp_ros.core.datasets.base import GraspDataset
from vlm_grasp_ros.core.datasets.sample import DatasetFormatError, GraspSample, read_label_mask, read_rgb
from vlm_grasp_ros.core.grasp import Grasp


@dataclass(frozen=True)
class _Entry:
    file: Path
    index: int
    record: dict[str, Any] | None  # pickle records are small; HDF5 rows are read on demand


class _PlainDataUnpickler(pickle.Unpickler):
    """Refuses every class except what numpy arrays need, so a pickle cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an annotation pickle")


class SeedAnnotationDataset(GraspDataset[_Entry]):
    name = "seed-pickle"
    expected_layout = "*.pkl (with allow_pickle) or *.h5 / *.hdf5 annotation files under the root"

    def __init__(self, root: str | Path, allow_pickle: bool = False) -> None:
        self.allow_pickle = allow_pickle
        super().__init__(root)

    def _index(self) -> list[_Entry]:
        entries: list[_Entry] = []
        for path in sorted(self.root.rglob("*")):
            if path.suffix == ".pkl":
                entries.extend(self._index_pickle(path))
            elif path.suffix in (".h5", ".hdf5"):
                entries.extend(self._index_hdf5(path))
        return entries

    def _index_pickle(self, path: Path) -> list[_Entry]:
        if not self.allow_pickle:
            raise PermissionError(
                f"{path} is a pickle, and loading a pickle can run code stored in it; "
                "pass allow_pickle=True (--allow-pickle) only for files you trust"
            )
        with open(path, "rb") as handle:
            try:
                records = _PlainDataUnpickler(handle).load()
            except (pickle.UnpicklingError, EOFError) as error:
                raise DatasetFormatError(path, f"not a plain-data annotation pickle: {error}") from None
        if not isinstance(records, list) or not all(
            isinstance(r, dict) and "image" in r and "grasps" in r for r in records
        ):
            raise DatasetFormatError(path, "expected a list of dicts with 'image' and 'grasps' keys")
        return [_Entry(path, i, r) for i, r in enumerate(records)]

    def _index_hdf5(self, path: Path) -> list[_Entry]:
        import h5py  # only needed for this format

        with h5py.File(path, "r") as handle:
            for key in ("images", "grasps"):
                if key not in handle:
                    raise DatasetFormatError(path, f"missing the '{key}' dataset")
            count = handle["images"].shape[0]
            if handle["grasps"].shape[0] != count or handle["grasps"].shape[-1] != 5:
                raise DatasetFormatError(path, f"grasps of shape {handle['grasps'].shape} do not match {count} images")
        return [_Entry(path, i, None) for i in range(count)]

    def _load(self, entry: _Entry) -> GraspSample:
        if entry.record is not None:
            record = entry.record
            image_path = self.root / str(record["image"])
            mask_path = self.root / str(record["mask"]) if record.get("mask") else None
            return GraspSample(
                image=read_rgb(image_path),
                grasps=_grasps_from_rows(record["grasps"], entry.file, entry.index),
                name=self.relative(image_path),
                mask=read_label_mask(mask_path) if mask_path else None,
            )
        import h5py

        with h5py.File(entry.file, "r") as handle:
            image = np.asarray(handle["images"][entry.index], dtype=np.uint8)
            rows = np.asarray(handle["grasps"][entry.index], dtype=float)
            mask = np.asarray(handle["masks"][entry.index], dtype=np.int32) if "masks" in handle else None
        rows = rows[~np.all(np.isnan(rows), axis=1)]  # NaN rows pad every image to K grasps
        return GraspSample(
            image=image,
            grasps=_grasps_from_rows(rows, entry.file, entry.index),
            name=f"{self.relative(entry.file)}#{entry.index}",
            mask=mask,
        )


def _grasps_from_rows(rows: Any, path: Path, record_index: int) -> list[Grasp]:
    grasps = []
    for row in rows:
        values = [float(v) for v in row]
        if len(values) != 5 or not all(math.isfinite(v) for v in values):
            raise DatasetFormatError(path, f"record {record_index}: grasp {list(row)} is not 5 finite numbers")
        cx, cy, theta_deg, width, height = values
        grasps.append(Grasp(cx, cy, math.radians(theta_deg), width, height))
    return grasps
