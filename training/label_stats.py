"""What ``targets.narrowest_ratio`` keeps of a dataset's labels, by kind of object.

    python -m training.label_stats --root out/synth_robot_val out/synth_bullet_val [--ratios 1.25 2 3]

Training rasterises only each object's grasps whose opening is within ``narrowest_ratio`` of that
object's narrowest (``training/config.py``, ``TargetConfig``); the metric counts a hit on any
label. On objects whose labels span many openings (an irregular blob, a mug grasped by its wall or
round its body) the ratio drops most labels, and the model never learns the grasps it drops. This
prints, per kind, the labels, the share each ratio keeps (grouped by object as training groups
them), and the median over objects of the widest label's opening over the narrowest's.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tqdm import tqdm

from training.data import narrowest_per_object, object_under
from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.datasets.sample import GraspSample

DEFAULT_RATIOS = (1.25, 1.5, 2.0, 3.0)


@dataclass
class KindLabels:
    """One kind's labels: how many, how many each ratio keeps, and each object's widest / narrowest."""

    labels: int = 0
    kept: dict[float, int] = field(default_factory=dict)
    spreads: list[float] = field(default_factory=list)


def kind_of(sample: GraspSample, label: int) -> str:
    """What mask label ``label`` is: its kind where the data name it, "background" for 0 (a grasp
    centred off every mask), "unnamed" for a label the data do not name, "all" without a mask."""
    if sample.mask is None:
        return "all"
    if label == 0:
        return "background"
    kinds = sample.object_kinds or ()
    return kinds[label - 1] if label <= len(kinds) else "unnamed"


def labels_by_kind(samples: Iterable[GraspSample], ratios: Sequence[float]) -> dict[str, KindLabels]:
    """Per kind, what each of ``ratios`` keeps of the labels (see the module docstring)."""
    table: dict[str, KindLabels] = {}
    for sample in samples:
        by_object: dict[int, list[float]] = {}
        for grasp in sample.grasps:
            by_object.setdefault(object_under(grasp, sample.mask), []).append(grasp.width)
        for label, openings in by_object.items():
            entry = table.setdefault(kind_of(sample, label), KindLabels(kept=dict.fromkeys(ratios, 0)))
            entry.labels += len(openings)
            entry.spreads.append(max(openings) / min(openings))
        for ratio in ratios:
            for grasp in narrowest_per_object(sample.grasps, sample.mask, ratio):
                table[kind_of(sample, object_under(grasp, sample.mask))].kept[ratio] += 1
    return dict(sorted(table.items()))


def markdown(table: dict[str, KindLabels], ratios: Sequence[float]) -> str:
    header = "| kind | labels | " + " | ".join(f"kept at {r:g}" for r in ratios) + " | widest / narrowest (median) |"
    lines = [header, "|---|---|" + "---|" * len(ratios) + "---|"]
    for kind, entry in table.items():
        shares = " | ".join(f"{100 * entry.kept[r] / entry.labels:.0f}%" for r in ratios)
        lines.append(f"| {kind} | {entry.labels} | {shares} | {statistics.median(entry.spreads):.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", nargs="+", required=True, help="synthetic dataset folders (vlm-grasp synth)")
    parser.add_argument("--dataset", default="synthetic", help="the dataset format of the folders")
    parser.add_argument("--ratios", type=float, nargs="+", default=list(DEFAULT_RATIOS))
    args = parser.parse_args(argv)
    if any(r < 1.0 for r in args.ratios):
        raise SystemExit(f"--ratios must be at least 1 (1: only the narrowest), got {args.ratios}")
    samples = (sample for root in args.root for sample in tqdm(open_dataset(args.dataset, root), desc=root))
    print(f"# Labels kept by targets.narrowest_ratio: {', '.join(args.root)}\n")
    print(markdown(labels_by_kind(samples, args.ratios), args.ratios))


if __name__ == "__main__":
    main()
