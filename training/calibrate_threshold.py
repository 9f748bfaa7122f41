"""Choose a dense model's thresholds on validation scenes so that grasps off the objects (the
table, the floor, walls, clutter) rarely pass, and say what it costs.

    vlm-grasp synth --view robot --n 300 --seed 3 --out out/synth_robot_val
    python -m training.calibrate_threshold --root out/synth_robot_val --out out/calibration \
        [--model-path DIR] [--max-background 0.05] [--mask-thresholds 0.5 0.9 0.95] \
        [--fallback-mask-thresholds 1 0.5 0.8] [--flip-average model|on|off] [--write]

``--root`` takes several folders (scenes of both generators, say): the thresholds are then
chosen on all their scenes together, so that they do not fit one generator's look. Scenes with no
objects (``vlm-grasp synth --empty-share``) price what a threshold publishes on an empty table:
any grasp there is a background scene; top-1 and precision are over the scenes with labels.

Four thresholds decide what the model publishes: the score (the quality map's peak), the
object-mask map under the peak (a peak where the mask map is lower is not on an object), the
score relative to the frame's best grasp (``postprocess.min_relative_quality``) and the looser
mask threshold of the single grasp a frame with none on the strict one falls back to
(``postprocess.fallback_mask_threshold``; 1 is off). The network runs once per scene (scenes and
maps stay in memory, about 4 MB a scene at 640x480); for each mask, relative and fallback
threshold the maps are post-processed with a low score floor (0.05), then every score threshold
from 0.05 to 0.95 is scored: the share of scenes with a grasp centred off every
labelled object, top-1 accuracy, the share of the top 5 on objects and the precision (grasps
that hit a label). The chosen set has the best top-1 among those whose background share is at
most ``--max-background`` (and, with ``--max-empty-with-grasp``, that leave at most that share of
the scenes with no objects with a grasp: those are a few of all scenes, so the background share
alone prices them lightly); ``--write`` stores it in the checkpoint's ``config.json``
(``postprocess.min_quality``, ``mask_threshold``, ``min_relative_quality`` and
``fallback_mask_threshold``: a score scale belongs to one model, so its thresholds travel with
it), with ``flip_average``: test-time flipping changes the maps the thresholds were chosen on
(``--flip-average on|off`` sets it for the run; model: as saved).

``--support-plane`` scores the grasps a robot with a depth camera keeps after the node's
support-plane check (scenes written with their intrinsics: ``vlm-grasp synth --view robot`` or
``bullet``). Depth removes most grasps off the objects by itself, so a looser mask threshold
pays there; it is given to the node as ``dense.mask_threshold`` and never written into the
checkpoint, whose thresholds are for colour alone. The node has no relative or fallback threshold
of its own, so this sweep keeps the checkpoint's unless ``--relative-thresholds`` or
``--fallback-mask-thresholds`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.datasets.sample import GraspSample
from vlm_grasp_ros.core.dense.grasp_maps import GraspMaps
from vlm_grasp_ros.core.dense.model import FrameGeometry
from vlm_grasp_ros.core.evaluation import GraspFilter, SupportPlaneFilter, evaluate_predictor
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.metrics import choose_operating_point, outcomes_and_labels, threshold_sweep
from vlm_grasp_ros.core.predictors.base import GraspPredictor, GraspQuery
from vlm_grasp_ros.core.predictors.dense import EMBEDDED_MODEL, DensePredictor
from vlm_grasp_ros.core.report import sweep_table

FLOOR = 0.05
MASK_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.93, 0.95, 0.97, 0.98)
RELATIVE_THRESHOLDS = (0.0, 0.5, 0.7)
FALLBACK_MASK_THRESHOLDS = (1.0, 0.5, 0.7, 0.8, 0.9)  # 1.0: no fallback


class MapsOnce(GraspPredictor):
    """A dense predictor whose network runs once per image: the thresholds being swept only change
    the post-processing, so each later pass re-reads the kept maps (images are told apart by
    identity: the caller keeps the same arrays alive across passes)."""

    name = "dense"

    def __init__(self, predictor: DensePredictor) -> None:
        self.predictor = predictor
        self._maps: dict[int, tuple[GraspMaps, FrameGeometry]] = {}

    @property
    def model_id(self) -> str:
        return self.predictor.model_id

    def _predict(self, image: np.ndarray, query: GraspQuery) -> list[Grasp]:
        if id(image) not in self._maps:
            self._maps[id(image)] = self.predictor.predict_maps(image)
        return self.predictor.model.grasps_from_maps(*self._maps[id(image)], query.max_grasps)


def _sweep(
    predictor: MapsOnce,
    samples: list[GraspSample],
    mask_threshold: float,
    relative_threshold: float,
    fallback_threshold: float,
    max_grasps: int,
    grasp_filter: GraspFilter | None = None,
) -> list[dict]:
    config = predictor.predictor.model.config
    config.postprocess = dataclasses.replace(
        config.postprocess,
        min_quality=FLOOR,
        mask_threshold=mask_threshold,
        min_relative_quality=relative_threshold,
        fallback_mask_threshold=fallback_threshold,
    )
    results = evaluate_predictor(predictor, samples, max_grasps=max_grasps, progress=False, grasp_filter=grasp_filter)
    outcomes, labelled = outcomes_and_labels(result for _sample, result in results)
    assert len(outcomes) == len(samples)  # masks were checked on loading
    rows = threshold_sweep(outcomes, np.round(np.arange(FLOOR, 0.951, 0.05), 2).tolist(), labelled)
    thresholds = dict(
        mask_threshold=mask_threshold, relative_threshold=relative_threshold, fallback_threshold=fallback_threshold
    )
    return [{**thresholds, **row} for row in rows]


def _load_scenes(roots: list[str]) -> list[GraspSample]:
    samples = []
    for root in roots:
        for sample in tqdm(open_dataset("synthetic", root), desc=f"load {root}", unit="scene"):
            if sample.mask is None:
                raise SystemExit(f"{root}: images without object masks cannot be calibrated")
            samples.append(sample)
    if not any(sample.grasps for sample in samples):
        raise SystemExit(f"{', '.join(roots)}: no scene has labels; top-1 cannot be scored")
    return samples


def fallback_text(threshold: float) -> str:
    """A fallback mask threshold as the reports print it: 1 (never fires) is "off"."""
    return "off" if threshold >= 1.0 else f"{threshold:.2f}"


def _best_per_mask_table(
    rows: list[dict], max_background: float, max_empty_with_grasp: float | None, chosen: dict
) -> list[str]:
    unlabelled = any(row.get("unlabelled_with_grasp") is not None for row in rows)
    lines = [
        "| mask threshold | relative threshold | fallback mask threshold | score threshold "
        "| scenes with a grasp off the objects | top-1 hit | precision |"
        + (" empty scenes with a grasp |" if unlabelled else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if unlabelled else ""),
    ]
    for mask_threshold in sorted({row["mask_threshold"] for row in rows}):
        best, passing = choose_operating_point(
            [r for r in rows if r["mask_threshold"] == mask_threshold], max_background, max_empty_with_grasp
        )
        mark = "**" if best is chosen else ""
        lines.append(
            f"| {mark}{mask_threshold:.2f}{mark} | {best['relative_threshold']:.2f} | "
            f"{fallback_text(best['fallback_threshold'])} | "
            f"{best['threshold']:.2f}{'' if passing else ' (none passes)'} | "
            f"{100 * best['background_scenes']:.1f}% | {100 * best['top1_hit']:.1f}% | "
            + ("" if best["precision"] is None else f"{100 * best['precision']:.1f}%")
            + " |"
            + (f" {100 * best['unlabelled_with_grasp']:.1f}% |" if unlabelled else "")
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root", required=True, nargs="+", help="`vlm-grasp synth` folders (object masks are needed), one or more"
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--model-path", default="", help="a dense checkpoint folder (default: the embedded one)")
    parser.add_argument("--max-background", type=float, default=0.05)
    parser.add_argument(
        "--max-empty-with-grasp",
        type=float,
        default=None,
        help="also at most this share of the scenes with no objects may get a grasp (default: no limit)",
    )
    parser.add_argument("--mask-thresholds", type=float, nargs="+", default=list(MASK_THRESHOLDS))
    parser.add_argument(
        "--relative-thresholds",
        type=float,
        nargs="+",
        default=None,
        help="fractions of a frame's best grasp below which grasps are cut (postprocess.min_relative_quality; "
        f"default {' '.join(map(str, RELATIVE_THRESHOLDS))}, with --support-plane the checkpoint's own)",
    )
    parser.add_argument(
        "--fallback-mask-thresholds",
        type=float,
        nargs="+",
        default=None,
        help="looser mask thresholds for the single grasp of a frame with none on the strict one "
        "(postprocess.fallback_mask_threshold; 1 = off; only those below a mask threshold are tried with it; "
        f"default {' '.join(map(str, FALLBACK_MASK_THRESHOLDS))}, with --support-plane the checkpoint's own)",
    )
    parser.add_argument("--max-grasps", type=int, default=10)
    parser.add_argument(
        "--flip-average",
        choices=("model", "on", "off"),
        default="model",
        help="test-time flip for this run (model: as the checkpoint says); --write stores it with the thresholds",
    )
    parser.add_argument("--write", action="store_true", help="store the thresholds in the checkpoint's config.json")
    parser.add_argument(
        "--support-plane",
        action="store_true",
        help="score as a robot with depth and the node's support_plane check sees the grasps (scenes need "
        "intrinsics: vlm-grasp synth camera views); the result is for dense.mask_threshold, never written",
    )
    args = parser.parse_args()
    if args.support_plane and args.write:
        raise SystemExit(
            "--support-plane thresholds hold only with depth; set them as dense.mask_threshold, not --write"
        )
    if args.max_empty_with_grasp is not None and not 0.0 <= args.max_empty_with_grasp <= 1.0:
        raise SystemExit(f"--max-empty-with-grasp must lie in [0, 1], got {args.max_empty_with_grasp}")
    if not all(0.0 <= m < 1.0 for m in args.mask_thresholds):
        raise SystemExit(f"--mask-thresholds must lie in [0, 1), got {args.mask_thresholds}")
    if args.relative_thresholds is not None and not all(0.0 <= r <= 1.0 for r in args.relative_thresholds):
        raise SystemExit(f"--relative-thresholds must lie in [0, 1], got {args.relative_thresholds}")
    if args.fallback_mask_thresholds is not None and not all(0.0 <= f <= 1.0 for f in args.fallback_mask_thresholds):
        raise SystemExit(f"--fallback-mask-thresholds must lie in [0, 1], got {args.fallback_mask_thresholds}")

    dense = DensePredictor.from_path(args.model_path, "cpu")
    if args.flip_average != "model":
        dense.model.config.flip_average = args.flip_average == "on"
    flip_average = dense.model.config.flip_average
    if args.relative_thresholds is None:
        own = dense.model.config.postprocess.min_relative_quality
        args.relative_thresholds = [own] if args.support_plane else list(RELATIVE_THRESHOLDS)
    if args.fallback_mask_thresholds is None:
        own = dense.model.config.postprocess.fallback_mask_threshold
        args.fallback_mask_thresholds = [own] if args.support_plane else list(FALLBACK_MASK_THRESHOLDS)
    predictor = MapsOnce(dense)
    samples = _load_scenes(args.root)
    support = SupportPlaneFilter() if args.support_plane else None
    # A fallback at or above the mask threshold never fires: the same grasps as none (1.0), one row for both.
    settings = [
        (m, r, f)
        for m in args.mask_thresholds
        for r in args.relative_thresholds
        for f in sorted({f if f < m else 1.0 for f in args.fallback_mask_thresholds}, reverse=True)
    ]
    rows = [
        row
        for m, r, f in tqdm(settings, desc="mask, relative and fallback thresholds")
        for row in _sweep(predictor, samples, m, r, f, args.max_grasps, support)
    ]
    if support is not None and support.unchecked:
        raise SystemExit(
            f"--support-plane: {len(set(support.unchecked))} scenes could not be checked (no depth or intrinsics), "
            f"e.g. {support.unchecked[0]}"
        )
    chosen, passing = choose_operating_point(rows, args.max_background, args.max_empty_with_grasp)
    empty_limit = (
        ""
        if args.max_empty_with_grasp is None
        else f" and a grasp on at most {100 * args.max_empty_with_grasp:.0f}% of the scenes with no objects"
    )
    scenes = (
        f"{', '.join(f'`{root}`' for root in args.root)}, up to {args.max_grasps} grasps each"
        + (", after the support-plane check (depth)" if support is not None else "")
        + (", test-time flip on" if flip_average else "")
    )
    lines = [
        f"# Thresholds for `{predictor.model_id}`",
        "",
        f"On the scenes of {scenes}. Chosen: the best top-1 with at most {100 * args.max_background:.0f}% "
        f"of scenes holding a grasp off the objects{empty_limit}: **mask {chosen['mask_threshold']:.2f}, relative "
        f"{chosen['relative_threshold']:.2f}, fallback {fallback_text(chosen['fallback_threshold'])}, "
        f"score {chosen['threshold']:.2f}**"
        + ("" if passing else " (none met the target: the fewest background scenes)"),
        "",
        "Best score threshold for each mask threshold:",
        "",
        *_best_per_mask_table(rows, args.max_background, args.max_empty_with_grasp, chosen),
        "",
        f"Every score threshold at mask threshold {chosen['mask_threshold']:.2f}, relative threshold "
        f"{chosen['relative_threshold']:.2f}, fallback {fallback_text(chosen['fallback_threshold'])}:",
        "",
        *sweep_table(
            [
                r
                for r in rows
                if all(r[key] == chosen[key] for key in ("mask_threshold", "relative_threshold", "fallback_threshold"))
            ],
            chosen["threshold"],
        ),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "calibration.json").write_text(
        json.dumps(
            {"chosen": chosen, "support_plane": args.support_plane, "flip_average": flip_average, "rows": rows},
            indent=2,
        ),
        encoding="utf-8",
    )
    print("\n".join(lines))
    if args.write:
        path = Path(args.model_path or EMBEDDED_MODEL) / "config.json"
        saved = json.loads(path.read_text(encoding="utf-8-sig"))
        saved["model"]["postprocess"].update(
            min_quality=chosen["threshold"],
            mask_threshold=chosen["mask_threshold"],
            min_relative_quality=chosen["relative_threshold"],
            fallback_mask_threshold=chosen["fallback_threshold"],
        )
        saved["model"]["flip_average"] = flip_average
        path.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
        print(
            f"wrote min_quality {chosen['threshold']:.2f}, mask_threshold {chosen['mask_threshold']:.2f}, "
            f"min_relative_quality {chosen['relative_threshold']:.2f}, "
            f"fallback_mask_threshold {chosen['fallback_threshold']:.2f}, "
            f"flip_average {flip_average} into {path}"
        )


if __name__ == "__main__":
    main()
