"""Output folders that a failed run never touches: write into a staging folder beside the
target, rename it into place on success.

``vlm-grasp eval``, ``replay``, ``bag`` and ``synth`` write this way. An existing non-empty
target is refused unless the user says ``--overwrite``; then the old folder is replaced only
once the new one is complete (two renames on the same file system, so a reader sees either
the old folder or the new one).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputFolderError(ValueError):
    """The output path cannot be used (a file, a non-empty folder, a file among its parents)."""


def check_output_folder(target: Path, overwrite: bool) -> None:
    """Refuse a target the run could not replace, before any work is done."""
    if target.exists() and not target.is_dir():
        raise OutputFolderError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise OutputFolderError(f"{target}: exists and is not empty; pass --overwrite to replace it, or choose another")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputFolderError(f"{target}: {parent} is a file, not a folder")
            break


@contextmanager
def staged_output(
    target: Path, overwrite: bool = False, create: bool = True, keep_failed: bool = False
) -> Iterator[Path]:
    """Yield a path to write instead of ``target`` (named like it, created unless ``create`` is
    False, e.g. for a rosbag2 writer that makes its own folder); on a normal exit it replaces
    ``target``. On an error (or Ctrl-C) it is removed, or with ``keep_failed`` kept as
    ``<target>.failed`` for its logs; ``target`` is left as it was either way."""
    check_output_folder(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging_root = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    staging = staging_root / target.name
    if create:
        staging.mkdir()
    try:
        yield staging
    except BaseException:
        if keep_failed and staging.exists():
            failed = target.with_name(target.name + ".failed")
            shutil.rmtree(failed, ignore_errors=True)
            staging.rename(failed)
        shutil.rmtree(staging_root, ignore_errors=True)
        raise
    if not staging.exists():
        staging.mkdir()  # nothing was written: the target still becomes an (empty) folder
    replace_folder(staging, target)
    shutil.rmtree(staging_root, ignore_errors=True)


def replace_folder(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; an existing ``target`` is moved aside first and removed after."""
    if not target.exists():
        new.rename(target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent)) / target.name
    target.rename(aside)
    new.rename(target)
    shutil.rmtree(aside.parent, ignore_errors=True)
