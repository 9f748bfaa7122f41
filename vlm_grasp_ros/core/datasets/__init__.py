"""Dataset loaders: every format yields the same :class:`GraspSample`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlm_grasp_ros.core.datasets.base import GraspDataset
from vlm_grasp_ros.core.datasets.cornell import CornellDataset
from vlm_grasp_ros.core.datasets.graspnet import GraspNetRectDataset
from vlm_grasp_ros.core.datasets.jacquard import JacquardDataset
from vlm_grasp_ros.core.datasets.ocid import OcidGraspDataset
from vlm_grasp_ros.core.datasets.sample import DatasetFormatError, GraspSample
from vlm_grasp_ros.core.datasets.seed import SeedAnnotationDataset

#: ``--dataset`` names. ``synthetic`` is the generator's output, written in the Jacquard layout.
DATASET_NAMES = ("cornell", "jacquard", "ocid", "graspnet", "synthetic", "seed-pickle")


def open_dataset(name: str, root: str | Path, allow_pickle: bool = False) -> GraspDataset:
    """Open a dataset by its ``--dataset`` name; raises a one-line error for bad names or roots."""
    if name == "seed-pickle":
        return SeedAnnotationDataset(root, allow_pickle=allow_pickle)
    classes: dict[str, Callable[[str | Path], GraspDataset]] = {
        "cornell": CornellDataset,
        "jacquard": JacquardDataset,
        "synthetic": JacquardDataset,
        "ocid": OcidGraspDataset,
        "graspnet": GraspNetRectDataset,
    }
    if name not in classes:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASET_NAMES)}")
    return classes[name](root)


__all__ = ["DATASET_NAMES", "DatasetFormatError", "GraspDataset", "GraspSample", "open_dataset"]
