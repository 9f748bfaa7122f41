"""Transport and node latency over real DDS, in one run (loopback only: source scripts/ros_env.sh).

1. Plain transport: 640x480 rgb8 frames at 30 Hz, best-effort, to a subscriber process;
   stamp-to-callback latency.
2. The node, end to end: a synthetic bag played through grasp_node (started as
   `vlm-grasp bringup` starts it) at 5 Hz: publish-to-grasps latency.
3. Sustained rate: the same bag at 30 Hz; answers per second and frames dropped.

    python benchmarks/node_latency.py --backend min_area_rect --out benchmarks/results

Prints a Markdown table and writes it, with the machine and the command, to
``--out/node_latency_<backend>_<cpu>.md``.
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
from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from machine import cpu_name  # noqa: E402 (benchmarks/ is the script's folder)
from vlm_grasp_ros.bags.bag_reader import inspect_bag
from vlm_grasp_ros.cli.replay_command import transport_figures
from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.synthetic.writer import write_synthetic_dataset
from vlm_grasp_ros.ros.dataset_bag import write_dataset_bag
from vlm_grasp_ros.ros.image_conversion import rgb_to_image
from vlm_grasp_ros.ros.replay import replay_bag

HERE = Path(__file__).resolve().parent


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.median(values)), float(np.percentile(values, 95))


def plain_transport(frames: int, rate_hz: float) -> dict[str, float]:
    sink = subprocess.Popen([sys.executable, str(HERE / "frame_sink.py"), "benchmark_frames", str(frames), "60"],
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "ready"
    rclpy.init()
    node = rclpy.create_node("benchmark_frame_source")
    publisher = node.create_publisher(Image, "benchmark_frames", qos_profile_sensor_data)
    while publisher.get_subscription_count() == 0:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(0.5)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    start = time.monotonic()
    for index in range(frames):
        time.sleep(max(0.0, start + index / rate_hz - time.monotonic()))
        header = Header(frame_id="camera")
        header.stamp.sec, header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
        publisher.publish(rgb_to_image(image, header))
    latencies = json.loads(sink.communicate(timeout=120)[0].strip().splitlines()[-1])
    node.destroy_node()
    rclpy.shutdown()
    median, p95 = percentiles(latencies)
    return {"sent": frames, "received": len(latencies), "median_ms": median, "p95_ms": p95}


def node_run(bag: Path, backend: str, rate: float, out: Path, params_file: str | None) -> dict[str, object]:
    layout = inspect_bag(bag)
    outcome = replay_bag(bag, layout, backend, out, rate=rate, drain_s=5.0, params_file=params_file, progress=False)
    return transport_figures(outcome, rate)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="min_area_rect")
    parser.add_argument("--frames", type=int, default=60, help="frames per measurement")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--params-file", default=None, help="node parameters (default: the installed grasp_node.yaml)")
    args = parser.parse_args()
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
        print("source scripts/ros_env.sh first (keeps DDS on loopback)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        print("1/3 plain transport ...", flush=True)
        transport = plain_transport(args.frames * 3, 30.0)
        write_synthetic_dataset(work_dir / "scenes", args.frames, seed=3, progress=False)
        dataset = open_dataset("synthetic", work_dir / "scenes")
        write_dataset_bag(dataset, work_dir / "bag", rate_hz=30.0, with_depth=False)
        print(f"2/3 node at 5 Hz ({args.backend}) ...", flush=True)
        relaxed = node_run(work_dir / "bag", args.backend, 5.0 / 30.0, work_dir / "relaxed", args.params_file)
        print("3/3 node at 30 Hz ...", flush=True)
        loaded = node_run(work_dir / "bag", args.backend, 1.0, work_dir / "loaded", args.params_file)

    def latency(figures: dict[str, object]) -> str:
        stats = figures["end_to_end_latency_ms"]
        return f"{stats['median']:.1f} / {stats['p95']:.1f}" if stats else "–"

    rows = [
        "| measurement | frames sent / received | latency median / p95 (ms) | rate |",
        "|---|---|---|---|",
        f"| plain transport, 640x480 rgb8, best-effort, 30 Hz | {transport['sent']} / {transport['received']} | "
        f"{transport['median_ms']:.2f} / {transport['p95_ms']:.2f} | 30 Hz offered |",
        f"| grasp_node end to end ({args.backend}), 5 Hz offered | {relaxed['frames_sent']} / {relaxed['frames_answered']} | "
        f"{latency(relaxed)} | {relaxed['answer_rate_hz']:.1f} answers/s |",
        f"| grasp_node sustained ({args.backend}), 30 Hz offered | {loaded['frames_sent']} / {loaded['frames_answered']} | "
        f"{latency(loaded)} | **{loaded['answer_rate_hz']:.1f} answers/s** ({loaded['frames_dropped']} dropped) |",
    ]
    inference = relaxed["inference_ms"]["median"] if relaxed["inference_ms"] else float("nan")
    table = "\n".join(rows)
    command = "python benchmarks/" + Path(__file__).name + " " + shlex.join(sys.argv[1:])
    machine = f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU used"
    text = (f"# grasp_node latency: {args.backend}\n\n`{command}` (after `source scripts/ros_env.sh`), "
            f"{time.strftime('%Y-%m-%d')}, on {machine}.\n\n{table}\n\nMedian inference inside the node: "
            f"{inference:.1f} ms. End to end = publish of the frame to receipt of its Grasp2DArray, both in the "
            "benchmark process; the node keeps only the newest frame, so at 30 Hz it drops what it cannot "
            "process and the answer rate is its sustained throughput.\n")
    print(text)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    safe_cpu = "".join(c if c.isalnum() else "_" for c in cpu_name()).strip("_")[:40]
    path = out_dir / f"node_latency_{args.backend}_{safe_cpu}.md"
    path.write_text(text, encoding="utf-8")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
