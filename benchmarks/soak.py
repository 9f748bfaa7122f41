"""A long run of the grasp node at a camera's rate: memory over time and every frame accounted for
(loopback only: source scripts/ros_env.sh first).

    python benchmarks/soak.py                          # dense, 10,000 frames at 10 Hz (~17 min)
    python benchmarks/soak.py --frames 600 --rate 20   # a short check

The camera stand-in (``camera_source.py``, 640x480 rgb8, best-effort) runs in its own process,
the node is started from the bringup spec, and this process samples the node's resident memory
(``/proc/<pid>/status``) every ``--sample-s`` seconds, counts the grasps that come back and reads
the node's frame counters from /diagnostics before and after. Growth is measured from the first
sample after ``--warmup-s`` (model loading, first allocations, DDS discovery) to the end.

Writes a Markdown report, the raw samples as JSON and a plot of memory over time to
``--out/soak_<backend>_<cpu>.*``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from machine import cpu_name  # benchmarks/ is the script's folder
from node_latency import CAMERA_TOPIC, HERE, Observer, camera, camera_summary, wait_active

from vlm_grasp_ros.bringup import installed_params_file, node_launch
from vlm_grasp_ros.ros.node_process import GraspNodeProcess

#: Counters the node adds up to what reached it: received = the sum of these (+ pending).
OUTCOMES = ("processed", "superseded", "ignored", "rejected", "failed")


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def stream(observer: Observer, node: GraspNodeProcess, args: argparse.Namespace) -> tuple[dict, list[list[float]]]:
    """Run the camera for ``args.frames`` frames, sampling [seconds, RSS MB, answers] as it goes."""
    source = camera(CAMERA_TOPIC, args.rate, args.frames / args.rate)
    start = next_sample = time.monotonic()
    samples: list[list[float]] = []
    while source.poll() is None:
        observer.spin_while(lambda until=next_sample: time.monotonic() < until, args.sample_s + 1)
        samples.append([round(time.monotonic() - start, 1), resident_mb(node.process.pid), len(observer.arrivals)])
        next_sample += args.sample_s
        if not node.alive():
            raise RuntimeError(f"the node exited during the soak; its log:\n{node.log()[-3000:]}")
    observer.spin_while(lambda: True, 2.0)  # the last answers
    samples.append([round(time.monotonic() - start, 1), resident_mb(node.process.pid), len(observer.arrivals)])
    return camera_summary(source), samples


def report(args: argparse.Namespace, figures: dict, node_line: str, plot_name: str) -> str:
    counters = figures["counters"]
    lines = [
        f"# Soak: {args.backend}, {figures['sent']} frames at {args.rate:g} Hz",
        "",
        f"Command: `{figures['command']}`",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores; node: {node_line}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| frames sent by the camera | {figures['sent']} |",
        f"| grasp answers received here | {figures['answered']} |",
        f"| node: received + lost (= sent when every frame is accounted for) | "
        f"{counters.get('received', 0):.0f} + {counters.get('lost', 0):.0f} |",
        f"| node: received = {' + '.join(OUTCOMES)} + pending | {counters.get('received', 0):.0f} = "
        + " + ".join(f"{counters.get(k, 0):.0f}" for k in OUTCOMES)
        + f" + {counters.get('pending', 0):.0f} |",
        f"| frames unaccounted for | {figures['unaccounted']:.0f} |",
        f"| RSS after {args.warmup_s:g} s of warm-up | {figures['rss_warm_mb']:.1f} MB |",
        f"| RSS at the end | {figures['rss_end_mb']:.1f} MB (max {figures['rss_max_mb']:.1f} MB) |",
        f"| growth after warm-up | {figures['growth_percent']:+.2f} % |",
        "",
        f"![RSS over time]({plot_name})",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="dense")
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10.0, help="camera frames per second")
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between memory samples")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="growth is measured from this time on")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
        print("source scripts/ros_env.sh first (keeps DDS on loopback)", file=sys.stderr)
        return 2
    if args.frames < 1 or args.rate <= 0 or args.sample_s <= 0 or args.warmup_s < 0:
        parser.error("--frames, --rate and --sample-s must be positive, --warmup-s not negative")
    launch = node_launch({"backend": args.backend, "image_topic": CAMERA_TOPIC}, installed_params_file())
    with tempfile.TemporaryDirectory() as work:
        node = GraspNodeProcess(launch, Path(work) / "node.log")
        observer = Observer()
        try:
            node_line = wait_active(observer, node)
            before = observer.fresh_counters()
            print(f"soak: {args.frames} frames at {args.rate:g} Hz ({args.frames / args.rate:.0f} s) ...", flush=True)
            summary, samples = stream(observer, node, args)
            after = observer.fresh_counters()
        finally:
            observer.close()
            node.stop()
    counters = {key: after[key] - before.get(key, 0.0) for key in (*OUTCOMES, "received", "lost")}
    counters["pending"] = after.get("pending", 0.0)
    warm = next((s for s in samples if s[0] >= args.warmup_s), samples[-1])
    figures = {
        "command": shlex.join(["python", "benchmarks/soak.py", *sys.argv[1:]]),
        "sent": summary["sent"],
        "answered": len(observer.arrivals),
        "counters": counters,
        "unaccounted": summary["sent"] - counters["received"] - counters["lost"],
        "rss_warm_mb": warm[1],
        "rss_end_mb": samples[-1][1],
        "rss_max_mb": max(s[1] for s in samples),
        "growth_percent": 100.0 * (samples[-1][1] - warm[1]) / warm[1],
        "samples": samples,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"soak_{args.backend}_" + "".join(c if c.isalnum() else "_" for c in cpu_name()).strip("_")[:40]
    figure, axis = plt.subplots(figsize=(8, 3.5))
    axis.plot([s[0] for s in samples], [s[1] for s in samples])
    axis.axvline(args.warmup_s, color="grey", linestyle=":", label="end of warm-up")
    axis.set(xlabel="seconds", ylabel="node RSS (MB)", title=f"grasp_node ({args.backend}) at {args.rate:g} Hz")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out_dir / f"{stem}.png", dpi=90)
    plt.close(figure)
    text = report(args, figures, node_line, f"{stem}.png")
    (out_dir / f"{stem}.md").write_text(text, encoding="utf-8")
    (out_dir / f"{stem}.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(text)
    print(json.dumps({k: v for k, v in figures.items() if k != "samples"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
