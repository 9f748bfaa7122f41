"""The grasp node at a camera's rate, measured from outside (loopback only: source scripts/ros_env.sh).

    python benchmarks/node_latency.py                         # dense (the default), 30 Hz, 20 s, 5 repeats
    python benchmarks/node_latency.py --backend min_area_rect --repeats 3

Three kinds of process, as on a robot: a camera stand-in (``camera_source.py``: 640x480 rgb8,
best-effort, stamped with the wall clock), ``grasp_node`` started from the bringup spec with
the installed parameters, and this process, which receives the grasps and the node's
/diagnostics. Each repeat first measures the plain transport floor (the same camera stream into
a bare subscriber process, ``frame_sink.py``), then streams ``--duration`` seconds into the node.

End to end = the frame's stamp (taken just before publishing) to the arrival of its
Grasp2DArray here. Answers per second = grasps received / the camera's streaming time. The
node's own accounting (sent = received + lost before the callback; received = processed +
superseded + ...) comes from its /diagnostics, as differences over each repeat.

Prints a Markdown report and writes it, with the machine and the command, to
``--out/node_latency_<backend>_<cpu>.md``; ``--json`` also writes the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from machine import cpu_name  # benchmarks/ is the script's folder
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile

from vlm_grasp_msgs.msg import Grasp2DArray
from vlm_grasp_ros.bringup import installed_params_file, node_launch
from vlm_grasp_ros.ros.node_process import GraspNodeProcess, frame_counters

HERE = Path(__file__).resolve().parent
CAMERA_TOPIC = "/camera/color/image_raw"
FLOOR_TOPIC = "/benchmark/transport_floor"
NODE_NAME = "/grasp_node"


@dataclass
class Repeat:
    sent: int
    answered: int
    answers_per_s: float
    latency_median_ms: float
    latency_p95_ms: float
    floor_median_ms: float
    floor_p95_ms: float
    floor_received: int
    floor_sent: int
    node: dict[str, float]  # the node's counters over this repeat

    @property
    def median_over_floor(self) -> float:
        return self.latency_median_ms / self.floor_median_ms


def _stamp_ns(msg: Grasp2DArray) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class Observer:
    """This process: the node's grasps (arrival time per stamp) and its latest counters."""

    def __init__(self) -> None:
        rclpy.init()
        self.node = rclpy.create_node("node_latency_benchmark")
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.arrivals: dict[int, int] = {}  # stamp -> arrival, both wall-clock ns
        self.counters: dict[str, float] | None = None
        self.node_state = ""
        self.node.create_subscription(Grasp2DArray, "/grasps", self._on_grasps, QoSProfile(depth=100))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, QoSProfile(depth=10))

    def _on_grasps(self, msg: Grasp2DArray) -> None:
        self.arrivals.setdefault(_stamp_ns(msg), time.time_ns())

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        counters = frame_counters(msg, NODE_NAME)
        if counters is not None:
            self.counters = counters
            self.node_state = next(s.message for s in msg.status if s.hardware_id == NODE_NAME)

    def spin_while(self, condition, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while condition() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.01)

    def fresh_counters(self) -> dict[str, float]:
        """Counters published after now (the node publishes them every diagnostics_period_s)."""
        self.counters = None
        self.spin_while(lambda: self.counters is None, 10.0)
        if self.counters is None:
            raise RuntimeError("the node published no /diagnostics for 10 s (diagnostics_period_s 0?)")
        return self.counters

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown()


def wait_active(observer: Observer, node: GraspNodeProcess, timeout_s: float = 300.0) -> str:
    """Until the node says "active" on /diagnostics; returns its "configured: ..." log line."""
    observer.spin_while(lambda: not observer.node_state.startswith("active") and node.alive(), timeout_s)
    if not observer.node_state.startswith("active"):
        raise RuntimeError(f"the node did not become active; its log:\n{node.log()[-3000:]}")
    configured = next((line for line in node.log().splitlines() if "configured:" in line), "")
    return configured.split("]: ", 1)[-1]


def camera(topic: str, rate: float, duration: float) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            str(HERE / "camera_source.py"),
            "--topic",
            topic,
            "--rate",
            str(rate),
            "--duration",
            str(duration),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def camera_summary(process: subprocess.Popen) -> dict:
    assert process.stdout is not None  # started with stdout=PIPE
    summary = json.loads(process.stdout.read().strip().splitlines()[-1])
    process.wait()
    if "error" in summary:
        raise RuntimeError(f"camera stand-in: {summary['error']}")
    return summary


def transport_floor(observer: Observer, rate: float, duration: float) -> tuple[float, float, int, int]:
    frames = int(round(rate * duration))
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "frame_sink.py"), FLOOR_TOPIC, str(frames), str(duration + 60)],
        stdout=subprocess.PIPE,
        text=True,
    )
    if sink.stdout is None or sink.stdout.readline().strip() != "ready":
        raise RuntimeError("the frame sink did not start")
    source = camera(FLOOR_TOPIC, rate, duration)
    observer.spin_while(lambda: source.poll() is None, duration + 90)  # keep /diagnostics drained meanwhile
    sent = camera_summary(source)["sent"]
    latencies = json.loads(sink.communicate(timeout=duration + 60)[0].strip().splitlines()[-1])
    return float(np.median(latencies)), float(np.percentile(latencies, 95)), len(latencies), sent


def node_repeat(observer: Observer, rate: float, duration: float) -> tuple[dict, list[float], dict[str, float]]:
    before = observer.fresh_counters()
    observer.arrivals.clear()
    source = camera(CAMERA_TOPIC, rate, duration)
    observer.spin_while(lambda: source.poll() is None, duration + 90)
    summary = camera_summary(source)
    observer.spin_while(lambda: True, 1.0)  # the last answers
    after = observer.fresh_counters()
    first, last = summary["first_stamp_ns"], summary["last_stamp_ns"]
    latencies = [(arrival - stamp) / 1e6 for stamp, arrival in observer.arrivals.items() if first <= stamp <= last]
    counters = {
        key: after[key] - before.get(key, 0.0)
        for key in after
        if key not in ("latency_median_ms", "latency_p95_ms", "rate_hz", "pending")
    }
    counters["pending"] = after.get("pending", 0.0)
    return summary, latencies, counters


def spread(values: list[float], digits: int = 1) -> str:
    return f"{np.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def report(repeats: list[Repeat], args: argparse.Namespace, node_line: str) -> str:
    rows = [
        "| run | answered / sent | answers/s | end to end median / p95 (ms) | transport floor median / p95 (ms) "
        "| median / floor | node: lost before callback / superseded / rejected / failed |",
        "|---|---|---|---|---|---|---|",
    ]
    for index, r in enumerate(repeats, 1):
        n = r.node
        rows.append(
            f"| {index} | {r.answered} / {r.sent} | {r.answers_per_s:.1f} | {r.latency_median_ms:.1f} / "
            f"{r.latency_p95_ms:.1f} | {r.floor_median_ms:.2f} / {r.floor_p95_ms:.2f} | "
            f"{r.median_over_floor:.1f} | {n.get('lost', 0):.0f} / {n.get('superseded', 0):.0f} / "
            f"{n.get('rejected', 0):.0f} / {n.get('failed', 0):.0f} |"
        )
    summary = [
        "| over the runs: median (min–max) | |",
        "|---|---|",
        f"| answers/s | {spread([r.answers_per_s for r in repeats])} |",
        f"| end-to-end median (ms) | {spread([r.latency_median_ms for r in repeats])} |",
        f"| end-to-end p95 (ms) | {spread([r.latency_p95_ms for r in repeats])} |",
        f"| transport floor median (ms) | {spread([r.floor_median_ms for r in repeats], 2)} |",
        f"| end-to-end median / floor | {spread([r.median_over_floor for r in repeats])} |",
        f"| frames lost before the node's callback | {spread([r.node.get('lost', 0) for r in repeats], 0)} |",
    ]
    command = "python benchmarks/" + Path(__file__).name + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    machine = f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    return (
        f"# grasp_node at {args.rate:g} Hz: {args.backend}\n\n`{command}` (after `source scripts/ros_env.sh`), "
        f"{time.strftime('%Y-%m-%d')}, on {machine}; {args.repeats} runs of {args.duration:g} s, each after a "
        f"{args.floor_duration:g} s transport-floor run.\n\nNode: {node_line}\n\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(summary)
        + "\n\nEnd to end: the camera stand-in's stamp (taken just before publishing) to "
        "the Grasp2DArray's arrival in the measuring process. Floor: the same stream into a bare subscriber "
        "process. Node columns: the node's own /diagnostics counters over the run.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="dense")
    parser.add_argument("--params-file", default="", help="node parameters (default: the installed grasp_node.yaml)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera frames per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of streaming per run")
    parser.add_argument("--floor-duration", type=float, default=5.0, help="seconds of the transport-floor run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--json", action="store_true", help="also write the raw figures as JSON")
    args = parser.parse_args()
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
        print("source scripts/ros_env.sh first (keeps DDS on loopback)", file=sys.stderr)
        return 2
    if args.rate <= 0 or args.duration <= 0 or args.floor_duration <= 0 or args.repeats < 1:
        parser.error("--rate, --duration, --floor-duration and --repeats must be positive")

    launch = node_launch(
        {"backend": args.backend, "params_file": args.params_file, "image_topic": CAMERA_TOPIC}, installed_params_file()
    )
    repeats: list[Repeat] = []
    with tempfile.TemporaryDirectory() as work:
        node = GraspNodeProcess(launch, Path(work) / "node.log")
        observer = Observer()
        try:
            node_line = wait_active(observer, node)
            for index in range(args.repeats):
                print(f"run {index + 1}/{args.repeats}: transport floor ...", flush=True)
                floor_median, floor_p95, floor_received, floor_sent = transport_floor(
                    observer, args.rate, args.floor_duration
                )
                print(f"run {index + 1}/{args.repeats}: node, {args.duration:g} s at {args.rate:g} Hz ...", flush=True)
                summary, latencies, counters = node_repeat(observer, args.rate, args.duration)
                if not latencies:
                    raise RuntimeError(f"no grasps came back; the node's log:\n{node.log()[-3000:]}")
                repeats.append(
                    Repeat(
                        summary["sent"],
                        len(latencies),
                        len(latencies) / summary["elapsed_s"],
                        float(np.median(latencies)),
                        float(np.percentile(latencies, 95)),
                        floor_median,
                        floor_p95,
                        floor_received,
                        floor_sent,
                        counters,
                    )
                )
                print(
                    f"  {repeats[-1].answered}/{repeats[-1].sent} answered, {repeats[-1].answers_per_s:.1f}/s, "
                    f"median {repeats[-1].latency_median_ms:.1f} ms, p95 {repeats[-1].latency_p95_ms:.1f} ms, "
                    f"floor {floor_median:.2f} ms",
                    flush=True,
                )
        finally:
            observer.close()
            node.stop()

    text = report(repeats, args, node_line)
    print(text)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    safe_cpu = "".join(c if c.isalnum() else "_" for c in cpu_name()).strip("_")[:40]
    path = out_dir / f"node_latency_{args.backend}_{safe_cpu}.md"
    path.write_text(text, encoding="utf-8")
    if args.json:
        path.with_suffix(".json").write_text(json.dumps([asdict(r) for r in repeats], indent=1), encoding="utf-8")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
