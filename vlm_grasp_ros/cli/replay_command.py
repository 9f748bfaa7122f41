"""`vlm-grasp replay BAG --backend NAME --out DIR`: score a backend through the live node.

Writes what `vlm-grasp eval` writes (metrics.json, predictions.jsonl, report.md with
overlays) plus the transport figures, the node's log and its output bag.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vlm_grasp_ros.bags.bag_reader import BagLayout, inspect_bag
from vlm_grasp_ros.bags.mcap_integrity import verify_bag
from vlm_grasp_ros.bringup import default_to_loopback_dds
from vlm_grasp_ros.cli.command_line import command_line
from vlm_grasp_ros.core.datasets import GraspSample
from vlm_grasp_ros.core.evaluation import score_image
from vlm_grasp_ros.core.evaluation_files import EvaluationRun, RunDescription, write_evaluation
from vlm_grasp_ros.core.grasp_json import grasps_to_json
from vlm_grasp_ros.core.output_folder import check_output_folder, staged_output
from vlm_grasp_ros.core.report import metrics_table

if TYPE_CHECKING:
    from vlm_grasp_ros.ros.replay import ReplayOutcome


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    array = np.array(values, dtype=float)
    return {"median": float(np.median(array)), "p95": float(np.percentile(array, 95)), "mean": float(array.mean())}


def transport_figures(outcome: ReplayOutcome, rate: float) -> dict[str, Any]:
    frames = outcome.frames
    answered = [f for f in frames if f.answer is not None]
    return {
        "playback": "realtime" if outcome.realtime else "paced",
        "frames_sent": len(frames),
        "frames_answered": len(answered),
        "frames_dropped": len(frames) - len(answered),
        "playback_rate": rate if outcome.realtime else None,
        "node_counters": outcome.node_counters,
        "end_to_end_latency_ms": _stats([f.latency_ms for f in answered if f.latency_ms is not None]),
        "inference_ms": _stats([f.answer.inference_time_ms for f in answered if f.answer is not None]),
        "answer_rate_hz": len(answered) / outcome.wall_s if outcome.wall_s > 0 else None,
    }


def transport_markdown(transport: dict[str, Any]) -> str:
    latency, inference = transport["end_to_end_latency_ms"], transport["inference_ms"]
    counters = transport.get("node_counters") or {}
    playback = (
        f"realtime, {transport['playback_rate']:g}x recorded"
        if transport["playback"] == "realtime"
        else "paced: each frame after the previous answer"
    )
    rows = [
        (
            "frames sent / answered / dropped",
            f"{transport['frames_sent']} / {transport['frames_answered']} / {transport['frames_dropped']}",
        ),
        ("end-to-end latency median / p95 (ms)", f"{latency['median']:.1f} / {latency['p95']:.1f}" if latency else "–"),
        ("inference median (ms)", f"{inference['median']:.1f}" if inference else "–"),
        ("answers per second", f"{transport['answer_rate_hz']:.1f}" if transport["answer_rate_hz"] else "–"),
        ("playback", playback),
    ]
    if counters:
        rows.append(
            (
                "the node's count: received / lost before its callback / superseded / rejected / failed",
                " / ".join(
                    f"{counters.get(k, 0):.0f}" for k in ("received", "lost", "superseded", "rejected", "failed")
                ),
            )
        )
    return "\n".join(
        [
            "## Transport (bag -> DDS -> node -> DDS)",
            "",
            "| figure | value |",
            "|---|---|",
            *[f"| {name} | {value} |" for name, value in rows],
            "",
            "End-to-end: from publishing a frame to receiving its Grasp2DArray (matched by stamp), "
            "both in this process. A dropped frame got no answer: in realtime playback usually because a newer "
            "frame came before the node was free (it works on the newest frame only; the node's count "
            "says where each went), when paced because the node rejected it or timed out.",
            "",
        ]
    )


def scored_run(outcome: ReplayOutcome, description: RunDescription) -> EvaluationRun:
    """Every labelled frame scored with the core's :func:`score_image`, as `vlm-grasp eval` scores
    the same images. Paced, a frame the node never answered counts as invalid (a miss, as a backend
    failure counts in eval); in realtime playback a frame it skipped to stay current is not scored."""
    from vlm_grasp_ros.ros.conversions import array_msg_to_grasps, labels_from_msg

    evaluation = EvaluationRun(description)
    for frame in outcome.frames:
        truth = outcome.ground_truth.get(frame.stamp_ns)
        labels = labels_from_msg(truth) if truth is not None else None
        name = labels.image_name if labels is not None and labels.image_name else f"frame_{frame.index:05d}"
        predictions = array_msg_to_grasps(frame.answer) if frame.answer is not None else []
        details: dict[str, Any] = {"stamp_ns": frame.stamp_ns, "answered": frame.answer is not None}
        if frame.answer is not None and any(g.has_pose for g in frame.answer.grasps):
            details["poses"] = [
                [g.pose.position.x, g.pose.position.y, g.pose.position.z] if g.has_pose else None
                for g in frame.answer.grasps
            ]
        if labels is None or (frame.answer is None and outcome.realtime):
            evaluation.unscored.append(
                {"image": name, "grasps": grasps_to_json(predictions), "latency_ms": frame.latency_ms, **details}
            )
            continue
        error = "" if frame.answer is not None else "no answer from the node (rejected, failed or timed out)"
        result = score_image(name, predictions, labels.grasps, labels.object_mask, frame.latency_ms or 0.0, error)
        sample = GraspSample(frame.image, labels.grasps, name) if frame.image is not None else None
        evaluation.add(result, sample, **details)
    return evaluation


def _replay_into(args: argparse.Namespace, bag: Path, layout: BagLayout, staging: Path, out_dir: Path) -> Path:
    """Play, score and write the results into ``staging`` (renamed to ``out_dir`` after)."""
    from vlm_grasp_ros.ros.replay import replay_bag  # rclpy only for this command

    outcome = replay_bag(
        bag,
        layout,
        args.backend,
        staging,
        rate=args.rate,
        drain_s=args.drain,
        startup_timeout_s=args.startup_timeout,
        params_file=args.params_file,
        realtime=args.realtime,
        answer_timeout_s=args.answer_timeout,
    )
    transport = transport_figures(outcome, args.rate)
    if outcome.node_exit_code is not None:  # results so far are still written; say why frames are missing
        print(
            f"replay: warning: the grasp node exited early (code {outcome.node_exit_code}); see {out_dir / 'node.log'}",
            file=sys.stderr,
        )
        transport["node_exit_code"] = outcome.node_exit_code
    answers = [f.answer for f in outcome.frames if f.answer is not None]
    backend = args.backend or (answers[0].backend if answers else "default")
    model = answers[0].model if answers else ""
    evaluation = scored_run(outcome, RunDescription(backend, model, f"bag:{bag}"))
    evaluation.sections["transport"] = transport
    transport_section = transport_markdown(transport)
    title = f"Replay of {bag.name} through grasp_node ({backend})"
    if not evaluation.results:
        title += ": no labelled frames, transport only"
    write_evaluation([evaluation], staging, title, command_line("replay"), transport_section)
    if evaluation.results:
        print(metrics_table([evaluation]))
    print(transport_section)
    return out_dir / "report.md"


def run(args: argparse.Namespace) -> int:
    bag, out_dir = Path(args.bag), Path(args.out)
    check_output_folder(out_dir, args.overwrite)
    verify_bag(bag)  # a corrupt bag is refused with its path, never scored
    layout = inspect_bag(
        bag,
        args.image_topic,
        args.depth_topic,
        args.camera_info_topic,
        args.ground_truth_topic,
        use_depth=not args.no_depth,
    )
    print(
        f"replay: {layout.frame_count} frames on {layout.image_topic} ({layout.duration_s:.1f} s)"
        f"{', depth ' + layout.depth_topic if layout.depth_topic else ''}"
        f"{', labels ' + layout.ground_truth_topic if layout.ground_truth_topic else ', no labels'}",
        flush=True,
    )
    for setting in default_to_loopback_dds(os.environ):  # before this process's first DDS participant
        print(f"replay: {setting} (not set; this run's player and node talk over loopback only)", flush=True)
    failed, started = out_dir.with_name(out_dir.name + ".failed"), False
    try:
        with staged_output(out_dir, args.overwrite, keep_failed=True) as staging:
            started = True
            print(f"replay: writing to {staging} until the run succeeds (node log: {staging / 'node.log'})")
            report = _replay_into(args, bag, layout, staging, out_dir)
    except BaseException:
        if started and failed.is_dir():  # staged_output keeps a failed run's files there, node.log included
            print(f"replay: the failed run's files are in {failed}", file=sys.stderr)
        raise
    print(f"report: {report}\nnode output bag: {out_dir / 'node_output_bag'}\nnode log: {out_dir / 'node.log'}")
    return 0
