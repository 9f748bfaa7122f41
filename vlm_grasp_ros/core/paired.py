"""Two evaluations of the same images compared image by image: which images only one of them gets
right at top-1 (``predictions.jsonl``'s ``top1_hit``).

Two top-1 rates near 93% on a few hundred images differ by a point or two by chance alone; the
images on which the runs disagree say more. McNemar's exact test asks how likely so lopsided a
split of those images would be if either run were as likely to win each one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from vlm_grasp_ros.core.evaluation_files import PREDICTIONS_NAME


@dataclass(frozen=True)
class PairedTop1:
    both: int
    only_first: int
    only_second: int
    neither: int

    @property
    def images(self) -> int:
        return self.both + self.only_first + self.only_second + self.neither

    @property
    def p_value(self) -> float:
        """Two-sided exact McNemar test: the binomial(n, 1/2) tail of the smaller split, doubled."""
        n, k = self.only_first + self.only_second, min(self.only_first, self.only_second)
        if n == 0:
            return 1.0
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def read_top1_hits(path: str | Path) -> dict[str, bool]:
    """Image name -> top-1 hit, from an evaluation folder (its predictions.jsonl) or the file itself.
    Images without labels (no ``top1_hit``) are left out; errors name the file and the line."""
    path = Path(path)
    if path.is_dir():
        path = path / PREDICTIONS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such predictions file (vlm-grasp eval writes {PREDICTIONS_NAME})")
    hits: dict[str, bool] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("image"), str):
                raise ValueError(f"{path}:{number}: a line needs an image name")
            hit = record.get("top1_hit")
            if hit is None:
                continue
            if not isinstance(hit, bool):
                raise ValueError(f"{path}:{number}: top1_hit must be true or false, got {hit!r}")
            if record["image"] in hits:
                raise ValueError(f"{path}:{number}: image {record['image']} appears twice")
            hits[record["image"]] = hit
    if not hits:
        raise ValueError(f"{path}: no labelled image with top1_hit (written by an older vlm-grasp eval? re-run it)")
    return hits


def compare_top1(first: dict[str, bool], second: dict[str, bool]) -> PairedTop1:
    """Counts over the images both runs scored; refused when they scored different images."""
    if first.keys() != second.keys():
        only = sorted(first.keys() ^ second.keys())
        raise ValueError(f"the runs scored different images ({len(only)} in one only, e.g. {only[0]})")
    pairs = [(first[name], second[name]) for name in first]
    return PairedTop1(
        both=sum(a and b for a, b in pairs),
        only_first=sum(a and not b for a, b in pairs),
        only_second=sum(b and not a for a, b in pairs),
        neither=sum(not a and not b for a, b in pairs),
    )
