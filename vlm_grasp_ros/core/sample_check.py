"""A dataset read through once before a long run, so that every sample that cannot be used is
known (file and line) before any model runs, not one per failed run after hours of inference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from vlm_grasp_ros.core.datasets.sample import DatasetFormatError, GraspSample
from vlm_grasp_ros.core.evaluation import Samples


@dataclass
class SampleCheck:
    checked: int
    usable: list[int]  # indices of the samples that load
    problems: list[str]  # one message per sample that does not, naming its file (and line)

    def section(self) -> dict[str, object]:
        """What metrics.json records of the samples left out."""
        return {"checked": self.checked, "skipped": len(self.problems), "problems": self.problems}


class SampleSubset:
    """The samples at ``indices`` of ``samples``, in that order (a :class:`Samples`)."""

    def __init__(self, samples: Samples, indices: Sequence[int]) -> None:
        self.samples = samples
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> GraspSample:
        return self.samples[self.indices[index]]


def check_samples(samples: Samples, limit: int | None = None, progress: bool = True) -> SampleCheck:
    """Load the first ``limit`` samples (all with None) once each and sort them into usable and not."""
    count = min(len(samples), limit) if limit else len(samples)
    usable: list[int] = []
    problems: list[str] = []
    for index in tqdm(range(count), desc="check samples", unit="sample", disable=not progress):
        try:
            samples[index]
        except (DatasetFormatError, OSError) as error:  # both name the file
            problems.append(str(error))
        else:
            usable.append(index)
    return SampleCheck(count, usable, problems)


def bad_samples_message(check: SampleCheck, shown: int = 3) -> str:
    """One line: how many cannot be used, the first few, and what to do."""
    listed = "; ".join(check.problems[:shown])
    more = f"; and {len(check.problems) - shown} more" if len(check.problems) > shown else ""
    return (
        f"{len(check.problems)} of {check.checked} samples cannot be used (fix them, or pass --skip-bad-samples "
        f"to score the others): {listed}{more}"
    )
