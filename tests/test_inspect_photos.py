"""`training.inspect_photos` on a user's own photographs: grasps and maps per photo, bad files named."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from training.inspect_photos import main


def test_inspect_photos_shows_your_own_photographs_and_names_the_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    for name, height in (("desk.jpg", 120), ("bench.png", 90)):
        image = np.full((height, 160, 3), 230, np.uint8)
        cv2.rectangle(image, (60, 30), (100, 70), (20, 40, 200), -1)
        cv2.imwrite(str(shots / name), image)
    (shots / "broken.png").write_bytes(b"not an image")
    main(["--images", str(shots), "--out", str(tmp_path / "out")])
    report = (tmp_path / "out" / "report.md").read_text()
    listed = [line for line in report.splitlines() if line.startswith("- **")]
    assert [line.split("**")[1] for line in listed] == ["bench.png", "desk.jpg"]  # sorted, the broken one left out
    assert "(160x90)" in listed[0] and "(160x120)" in listed[1]
    grid = cv2.imread(str(tmp_path / "out" / "real_photos.png"))
    assert grid.shape[0] == 2 * 244  # one row of 240 px (+4 padding) per readable photograph
    assert f"skipped {shots / 'broken.png'}: cannot be read as an image" in capsys.readouterr().err
