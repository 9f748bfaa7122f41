"""The user's files: a failed run never touches a previous one, an existing folder is replaced
only with --overwrite, bags are written whole or not at all, and a corrupt bag is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vlm_grasp_ros.cli.main import main
from vlm_grasp_ros.core.output_folder import OutputFolderError, staged_output

N_SCENES = 5


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    folder = tmp_path / "scenes"
    assert main(["synth", "--out", str(folder), "--n", str(N_SCENES), "--width", "160", "--height", "120"]) == 0
    return folder


def eval_args(scenes: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--dataset", "synthetic", "--root", str(scenes), "--backend", "pca", "--out", str(out), *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def break_label_file(scenes: Path, content: bytes) -> Path:
    label = sorted(scenes.glob("*_grasps.txt"))[2]
    label.write_bytes(content)
    return label


def test_a_failed_eval_leaves_the_previous_results_whole(scenes: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    assert main(eval_args(scenes, out)) == 0
    before = snapshot(out)
    assert len((out / "predictions.jsonl").read_text().splitlines()) == N_SCENES
    label = break_label_file(scenes, b"10;20;oops;30;15\n")
    capsys.readouterr()
    assert main(eval_args(scenes, out, "--overwrite")) == 2
    assert f"{label}:1:" in capsys.readouterr().err
    assert snapshot(out) == before  # every file as it was, predictions.jsonl not cut
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".results")] == []  # no staging left


def test_an_existing_results_folder_is_refused_without_overwrite(scenes: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(eval_args(scenes, out)) == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert snapshot(out) == {"notes.txt": b"mine"}
    assert main(eval_args(scenes, out, "--overwrite")) == 0
    assert (out / "metrics.json").is_file() and not (out / "notes.txt").exists()  # replaced as a whole
    assert json.loads((out / "metrics.json").read_text())["n_images"] == N_SCENES


def test_replay_refuses_an_existing_folder_before_starting_a_node(tmp_path: Path, capsys) -> None:
    out = tmp_path / "replayed"
    out.mkdir()
    (out / "node.log").write_text("yesterday's log")
    assert main(["replay", str(tmp_path / "any_bag"), "--out", str(out)]) == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert (out / "node.log").read_text() == "yesterday's log"


def test_a_non_utf8_label_file_is_named_with_its_line(scenes: Path, tmp_path: Path, capsys) -> None:
    label = break_label_file(scenes, b"10;20;30;40;15\n\xff\xfe12;3\n")
    assert main(eval_args(scenes, tmp_path / "results")) == 2
    assert f"{label}:2: not UTF-8 text (byte 0xff at column 1)" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_a_bag_from_a_malformed_dataset_leaves_nothing_and_the_rerun_works(scenes: Path, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    label = break_label_file(scenes, b"1;2;3\n")
    assert main(["bag", "--dataset", "synthetic", "--root", str(scenes), "--out", str(bag)]) == 2
    assert not bag.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["scenes"]
    label.write_text("80;60;0;40;20\n")
    assert main(["bag", "--dataset", "synthetic", "--root", str(scenes), "--out", str(bag)]) == 0
    assert sorted(p.name for p in bag.iterdir()) == ["bag.mcap", "metadata.yaml"]


def test_a_bag_with_overwritten_bytes_is_refused_with_its_path(scenes: Path, tmp_path: Path, capsys) -> None:
    bag = tmp_path / "bag"
    assert main(["bag", "--dataset", "synthetic", "--root", str(scenes), "--out", str(bag)]) == 0
    mcap = bag / "bag.mcap"
    data = bytearray(mcap.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = os.urandom(4096)
    mcap.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["replay", str(bag), "--backend", "pca", "--out", str(tmp_path / "replayed")]) == 2
    error = capsys.readouterr().err
    assert f"{mcap}: corrupt bag, not scored" in error and "CRC" in error.upper()
    assert not (tmp_path / "replayed").exists()


def test_a_replay_that_fails_midway_keeps_its_files_apart_and_says_where(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from vlm_grasp_ros.ros import replay as replay_module

    bag, out = tmp_path / "bag", tmp_path / "replayed"
    assert main(["bag", "--dataset", "synthetic", "--root", str(scenes), "--out", str(bag)]) == 0
    out.mkdir()
    (out / "metrics.json").write_text("{}")  # a previous run's results

    def node_dies(bag, layout, backend, out_dir, **kwargs):  # as replay_bag, failing after the node wrote its log
        (out_dir / "node.log").write_text("model failed to load")
        raise RuntimeError("the grasp node did not become active")

    monkeypatch.setattr(replay_module, "replay_bag", node_dies)
    capsys.readouterr()
    assert main(["replay", str(bag), "--out", str(out), "--overwrite"]) == 2
    error = capsys.readouterr().err
    assert "the grasp node did not become active" in error and f"failed run's files are in {out}.failed" in error
    assert (tmp_path / "replayed.failed" / "node.log").read_text() == "model failed to load"
    assert snapshot(out) == {"metrics.json": b"{}"}  # the previous results untouched


def test_staged_output_keeps_a_failed_runs_folder_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with pytest.raises(RuntimeError), staged_output(target, keep_failed=True) as staging:
        (staging / "node.log").write_text("what went wrong")
        raise RuntimeError("the node died")
    assert not target.exists() and (tmp_path / "run.failed" / "node.log").read_text() == "what went wrong"
    with pytest.raises(KeyboardInterrupt), staged_output(target) as staging:
        (staging / "partial.txt").write_text("half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.failed"]
    with pytest.raises(OutputFolderError, match="exists and is not a folder"):
        with staged_output(tmp_path / "run.failed" / "node.log"):
            pass
