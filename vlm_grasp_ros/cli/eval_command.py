"""`vlm-grasp eval`: metrics.json, predictions.jsonl and report.md per backend.

With one backend everything lands in ``--out``; with several, each backend gets
``--out/<backend>/`` and the side-by-side report is ``--out/report.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vlm_grasp_ros.cli.command_line import command_line
from vlm_grasp_ros.cli.model_arguments import backend_options
from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.evaluation import SupportPlaneFilter, evaluate_predictor
from vlm_grasp_ros.core.evaluation_files import EvaluationRun, RunDescription, write_evaluation
from vlm_grasp_ros.core.output_folder import check_output_folder, staged_output
from vlm_grasp_ros.core.predictors.registry import create_predictor
from vlm_grasp_ros.core.report import metrics_table
from vlm_grasp_ros.core.sample_check import SampleSubset, bad_samples_message, check_samples


def run(args: argparse.Namespace) -> int:
    options = backend_options(args, args.backend)  # bad names and values fail before any work
    low, high = args.support_height_m
    if args.support_plane and not 0.0 <= low <= high:
        raise ValueError(f"--support-height-m must be 0 <= MIN <= MAX, got {low:g} {high:g}")
    check_output_folder(Path(args.out), args.overwrite)
    predictors = [create_predictor(name, options[name]) for name in args.backend]
    dataset = open_dataset(args.dataset, args.root, allow_pickle=args.allow_pickle)
    check = check_samples(dataset, args.limit)
    if check.problems and not (args.skip_bad_samples and check.usable):
        raise ValueError(bad_samples_message(check))
    samples = SampleSubset(dataset, check.usable)
    runs, notes = [], []
    if check.problems:
        notes.append(f"skipped {len(check.problems)} of {check.checked} samples that cannot be read (metrics.json)")
    for predictor in predictors:
        support = SupportPlaneFilter((low, high)) if args.support_plane else None
        evaluation = EvaluationRun(
            RunDescription(predictor.name, predictor.model_id, f"{args.dataset}:{args.root}", bool(args.oracle_mask))
        )
        for sample, result in evaluate_predictor(
            predictor, samples, None, args.oracle_mask, args.max_grasps, args.batch_size, grasp_filter=support
        ):
            evaluation.add(result, sample)
        if check.problems:
            evaluation.sections["skipped_samples"] = check.section()
        runs.append(evaluation)
        if support is not None:
            evaluation.sections["support_plane"] = support.section()
            notes.append(f"{predictor.name}: {support.summary(len(evaluation.results))}")
    mask_note = "oracle masks" if args.oracle_mask else "own segmentation"
    title = f"{args.dataset}: {len(runs[0].results)} images, {mask_note}" + (", support-plane check" if notes else "")
    with staged_output(Path(args.out), args.overwrite) as folder:  # a failed run leaves --out as it was
        write_evaluation(runs, folder, title, command_line("eval"), "\n".join(f"- {note}" for note in notes))
    report = Path(args.out) / "report.md"
    print(metrics_table(runs))
    for note in notes:
        print(note)
    print(f"report: {report}")
    return 0
