"""Look at a dense model's grasps on real photographs (the ones scikit-image ships, no
download, never used as training texture): an overlay grid with each image's quality and mask
maps beside it, and a compact grid of overlays alone (``real_photos_overlays.png``).

    python -m training.inspect_photos --out out/real_photos [--model-path DIR]
    python -m training.inspect_photos --images ~/photos/ shot.jpg --out out/my_photos   # your own

There are no labels: this is for looking, to see where a model trained on synthetic scenes
fails on real images, not a metric. With ``--images`` (files or folders of them) it shows your
photographs instead; one that cannot be read is named and left out.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vlm_grasp_ros.core.datasets.sample import DatasetFormatError, read_rgb
from vlm_grasp_ros.core.image_files import expand_image_paths
from vlm_grasp_ros.core.overlay import draw_grasps
from vlm_grasp_ros.core.predictors.dense import DensePredictor
from vlm_grasp_ros.core.synthetic.photo_textures import SHOWCASE_PHOTOS, photo_folder


def _heat(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    colour = cv2.applyColorMap((np.clip(values, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    return cv2.resize(cv2.cvtColor(colour, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_NEAREST)


def _tile(images: list[np.ndarray], columns: int) -> np.ndarray:
    """Equal-height images in rows of ``columns``, left-aligned on white."""
    rows = [np.hstack([np.pad(i, ((0, 4), (0, 4), (0, 0)), constant_values=255) for i in images[k : k + columns]])
            for k in range(0, len(images), columns)]  # fmt: skip
    width = max(row.shape[1] for row in rows)
    return np.vstack([np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model-path", default="")
    parser.add_argument("--max-grasps", type=int, default=5)
    parser.add_argument("--images", nargs="+", default=None, help="your photographs (files or folders of them)")
    args = parser.parse_args(argv)
    photos = expand_image_paths(args.images) if args.images else [photo_folder() / name for name in SHOWCASE_PHOTOS]
    predictor = DensePredictor.from_path(args.model_path, "cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, lines = (
        [],
        [
            f"# `{predictor.model_id}` on real photographs",
            "",
            "Each row: the top grasps (colour = score), the quality map, the object-mask map.",
            "",
        ],
    )
    tiles = []
    for path in photos:  # by default scikit-image's showcase photographs (in its wheel), never used as texture
        try:
            image = read_rgb(path)
        except DatasetFormatError as error:
            print(f"inspect_photos: skipped {error}", file=sys.stderr)
            continue
        name = path.name
        grasps = predictor.predict(np.ascontiguousarray(image), max_grasps=args.max_grasps)
        maps, _ = predictor.model.predict_maps(image)
        height = 240
        width = round(image.shape[1] * height / image.shape[0])
        overlay = cv2.resize(draw_grasps(image, grasps, thickness=2, label_scores=True), (width, height))
        rows.append(np.hstack([overlay, _heat(maps.quality, (width, height)), _heat(maps.mask, (width, height))]))
        tiles.append(cv2.resize(overlay, (round(width * 200 / height), 200)))
        scores = ", ".join(f"{g.score:.2f}" for g in grasps) or "none"
        lines.append(f"- **{name}** ({image.shape[1]}x{image.shape[0]}): {len(grasps)} grasps, scores {scores}")
    if not rows:
        raise SystemExit("inspect_photos: no photograph could be read")
    canvas_width = max(row.shape[1] for row in rows)
    grid = np.vstack(
        [np.pad(row, ((0, 4), (0, canvas_width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    )
    cv2.imwrite(str(out / "real_photos.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(out / "real_photos_overlays.png"), cv2.cvtColor(_tile(tiles, 3), cv2.COLOR_RGB2BGR))
    lines += ["", "![grasps, quality, mask](real_photos.png)"]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[4:-2]))
    print(f"wrote {out / 'report.md'}")


if __name__ == "__main__":
    main()
