"""Comparing two evaluations image by image: the counts, McNemar's test, the files and the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vlm_grasp_ros.cli.main import main
from vlm_grasp_ros.core.paired import PairedTop1, compare_top1, read_top1_hits


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_counts_and_the_exact_mcnemar_test() -> None:
    first = {"a": True, "b": True, "c": False, "d": False, "e": True}
    second = {"a": True, "b": False, "c": True, "d": False, "e": False}
    counts = compare_top1(first, second)
    assert (counts.both, counts.only_first, counts.only_second, counts.neither) == (1, 2, 1, 1)
    # 12 images won by one run and 5 by the other: P(X <= 5 | n=17, 1/2) doubled.
    expected = 2 * sum(math.comb(17, i) for i in range(6)) / 2**17
    assert PairedTop1(100, 12, 5, 3).p_value == pytest.approx(expected) and 0.14 < expected < 0.15
    assert PairedTop1(10, 0, 0, 2).p_value == 1.0 and PairedTop1(10, 9, 0, 0).p_value < 0.01
    with pytest.raises(ValueError, match=r"different images \(1 in one only, e.g. e\)"):
        compare_top1(first, {k: v for k, v in second.items() if k != "e"})


def test_predictions_files_are_read_strictly_with_the_line_named(tmp_path: Path) -> None:
    good = _write(
        tmp_path / "predictions.jsonl",
        [
            {"image": "a.png", "grasps": [], "top1_hit": True},
            {"image": "empty.png", "grasps": [], "scored": True},  # nothing labelled: not compared
            {"image": "b.png", "grasps": [], "top1_hit": False},
        ],
    )
    assert read_top1_hits(tmp_path) == read_top1_hits(good) == {"a.png": True, "b.png": False}
    cases = [
        ([{"image": "a.png", "top1_hit": True}, "{not json"], r"predictions.jsonl:2: not valid JSON"),
        ([{"image": "a.png", "top1_hit": "yes"}], r"predictions.jsonl:1: top1_hit must be true or false"),
        (
            [{"image": "a.png", "top1_hit": True}, {"image": "a.png", "top1_hit": False}],
            r":2: image a.png appears twice",
        ),
        ([{"top1_hit": True}], r"predictions.jsonl:1: a line needs an image name"),
        ([{"image": "a.png", "grasps": []}], r"no labelled image with top1_hit .*re-run it"),
    ]
    for lines, message in cases:
        with pytest.raises(ValueError, match=message):
            read_top1_hits(_write(tmp_path / "predictions.jsonl", lines))
    with pytest.raises(FileNotFoundError, match="absent: no such predictions file"):
        read_top1_hits(tmp_path / "absent")


def test_compare_pairs_two_eval_runs_as_their_metrics_say(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "synth"
    assert main(["synth", "--out", str(data), "--n", "8", "--seed", "6", "--width", "320", "--height", "240"]) == 0
    out = tmp_path / "eval"  # one folder per backend inside
    evaluate = ["eval", "--dataset", "synthetic", "--root", str(data), "--backend", "pca", "random", "--out", str(out)]
    assert main(evaluate) == 0
    runs = {backend: out / backend for backend in ("pca", "random")}
    capsys.readouterr()
    assert main(["compare", str(runs["pca"]), str(runs["random"])]) == 0
    table = capsys.readouterr().out.strip().splitlines()[-1]
    both, only_pca, only_random, neither = (int(cell) for cell in table.strip("|").split("|")[:4])
    assert both + only_pca + only_random + neither == 8
    for backend, own in (("pca", only_pca), ("random", only_random)):
        accuracy = json.loads((runs[backend] / "metrics.json").read_text())["accuracy_top1"]
        assert (both + own) / 8 == pytest.approx(accuracy)
    hits = read_top1_hits(runs["pca"])
    assert sum(hits.values()) == both + only_pca and only_pca > 0  # the two baselines disagree somewhere
