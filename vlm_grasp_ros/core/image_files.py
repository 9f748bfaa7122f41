"""Image files named on a command line: folders expanded to the images in them, and output names
that never collide (``vlm-grasp predict``, ``training.inspect_photos``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: What a folder argument expands to (OpenCV reads all of these).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def expand_image_paths(arguments: Sequence[str]) -> list[Path]:
    """Files as given, folders as their image files (sorted, not recursive), each path once."""
    paths: list[Path] = []
    missing: list[str] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise ValueError(f"{path}: a folder with no image files ({', '.join(IMAGE_SUFFIXES)})")
            paths.extend(images)
        elif path.is_file():
            paths.append(path)
        else:
            missing.append(argument)
    if missing:
        raise FileNotFoundError(f"no such image file or folder: {', '.join(missing)}")
    unique = {os.path.realpath(p): p for p in reversed(paths)}  # keep the first spelling of each file
    return [p for p in paths if unique.get(os.path.realpath(p)) is p]


def output_names(paths: Sequence[Path]) -> list[str]:
    """One output name per image, none the same: the stem; where two images share one
    (scene_1/rgb.png, scene_2/rgb.png) the path from their common folder with "__" for "/"; where
    that is shared too (rgb.png, rgb.jpg) with the suffix kept (rgb_png)."""
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    resolved = [Path(os.path.realpath(p)) for p in paths]
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    relative = [p.relative_to(common) for p in resolved]
    names = ["__".join(r.with_suffix("").parts) for r in relative]
    if len(set(names)) == len(names):
        return names
    return [f"{name}_{r.suffix.lstrip('.')}" if r.suffix else name for name, r in zip(names, relative, strict=True)]
