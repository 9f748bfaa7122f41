"""How often a dense model publishes a grasp on a scene with nothing to grasp: robot views rendered
with no objects (the table, the room and its clutter only), for several fallback mask thresholds.

    python -m training.empty_scenes [--model-path DIR] [--n 50] [--seed 77] \
        [--views robot bullet] [--fallback-mask-thresholds 1 0.9 0.8 0.5] [--mask-threshold 0.93]

The calibration (``training/calibrate_threshold.py``) scores scenes that all hold objects, so it
cannot see what ``postprocess.fallback_mask_threshold`` costs when the table is empty: a frame with
no grasp on the strict mask threshold then publishes its best peak on the looser one, and an empty
frame has no sure grasp by construction. This counts those frames. The network runs once per
scene; only the post-processing is repeated per threshold (the model's other thresholds stay).
"""

from __future__ import annotations

import argparse
import dataclasses

from tqdm import tqdm

from training.calibrate_threshold import fallback_text
from vlm_grasp_ros.core.predictors.dense import DensePredictor
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene

FALLBACK_MASK_THRESHOLDS = (1.0, 0.9, 0.8, 0.5)  # 1.0: no fallback


def frames_with_a_grasp(
    predictor: DensePredictor, views: list[str], count: int, seed: int, fallbacks: list[float], size: tuple[int, int]
) -> dict[str, dict[float, int]]:
    """For each view, how many of ``count`` empty scenes get at least one grasp, per fallback threshold."""
    config = predictor.model.config
    own = config.postprocess
    found: dict[str, dict[float, int]] = {}
    try:
        for view in views:
            found[view] = dict.fromkeys(fallbacks, 0)
            scene_config = SceneConfig(width=size[0], height=size[1], view=view, empty_share=1.0)
            for index in tqdm(range(count), desc=f"empty {view} views", unit="scene"):
                scene = render_scene(seed, index, scene_config)
                if scene.grasps:  # the generator's promise, checked: a label here would be an object
                    raise SystemExit(f"{view} scene {index} of seed {seed} has labels; it is not empty")
                maps, geometry = predictor.predict_maps(scene.image)
                for fallback in fallbacks:
                    config.postprocess = dataclasses.replace(own, fallback_mask_threshold=fallback)
                    found[view][fallback] += bool(predictor.model.grasps_from_maps(maps, geometry))
    finally:
        config.postprocess = own
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", default="", help="a dense checkpoint folder (default: the embedded one)")
    parser.add_argument("--n", type=int, default=50, help="empty scenes per view")
    parser.add_argument("--seed", type=int, default=77)
    parser.add_argument("--views", nargs="+", choices=("robot", "bullet"), default=["robot", "bullet"])
    parser.add_argument("--fallback-mask-thresholds", type=float, nargs="+", default=list(FALLBACK_MASK_THRESHOLDS))
    parser.add_argument("--mask-threshold", type=float, default=-1.0, help="instead of the model's own (-1)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    if args.n < 1:
        raise SystemExit(f"--n must be at least 1, got {args.n}")
    if not all(0.0 <= f <= 1.0 for f in args.fallback_mask_thresholds):
        raise SystemExit(f"--fallback-mask-thresholds must lie in [0, 1], got {args.fallback_mask_thresholds}")
    if not (args.mask_threshold == -1.0 or 0.0 <= args.mask_threshold <= 1.0):
        raise SystemExit(f"--mask-threshold must be -1 (the model's own) or lie in [0, 1], got {args.mask_threshold}")
    predictor = DensePredictor.from_path(args.model_path, "cpu")
    if args.mask_threshold >= 0.0:
        config = predictor.model.config
        config.postprocess = dataclasses.replace(config.postprocess, mask_threshold=args.mask_threshold)
    postprocess = predictor.model.config.postprocess
    found = frames_with_a_grasp(
        predictor, args.views, args.n, args.seed, args.fallback_mask_thresholds, (args.width, args.height)
    )
    print(
        f"# Empty scenes with a grasp: `{predictor.model_id}`\n\n{args.n} empty scenes per view (seed {args.seed}, "
        f"{args.width}x{args.height}); thresholds: mask {postprocess.mask_threshold:.2f}, relative "
        f"{postprocess.min_relative_quality:.2f}, score {postprocess.min_quality:.2f}, fallback "
        f"{fallback_text(postprocess.fallback_mask_threshold)}.\n"
    )
    print("| fallback mask threshold | " + " | ".join(f"{view} views with a grasp" for view in args.views) + " |")
    print("|---|" + "---|" * len(args.views))
    for fallback in args.fallback_mask_thresholds:
        shares = (f"{found[view][fallback]} ({100 * found[view][fallback] / args.n:.0f}%)" for view in args.views)
        print(f"| {fallback_text(fallback)} | " + " | ".join(shares) + " |")


if __name__ == "__main__":
    main()
