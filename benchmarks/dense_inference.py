"""Per-frame cost of the dense backend, by stage, on 640x480 synthetic frames.

    python benchmarks/dense_inference.py                      # the embedded default on the CPU
    python benchmarks/dense_inference.py --runtime torch --threads 1
    python benchmarks/dense_inference.py --model-path DIR --device cuda

Stages: resize + normalise, the network (torch: encoder and decoder apart; ONNX Runtime: one
graph), maps (activations, crop), post-processing (peaks -> grasps), and the whole
``DensePredictor.predict`` call as the node makes it. Prints a Markdown table;
``--out FILE`` also writes it with the machine's description.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from arguments import benchmark_parser, parse_benchmark_arguments  # benchmarks/ is the script's folder
from machine import cpu_name  # benchmarks/ is the script's folder

from vlm_grasp_ros.core.dense.postprocess import maps_to_grasps
from vlm_grasp_ros.core.predictors.dense import DensePredictor
from vlm_grasp_ros.core.synthetic.scene import render_scene


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--model-path", default="", help="a dense checkpoint folder (default: the embedded model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnxruntime"))
    parser.add_argument(
        "--flip-average", default="model", choices=("model", "on", "off"), help="test-time flip (model: as saved)"
    )
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    args = parse_benchmark_arguments(parser)
    predictor = DensePredictor.from_path(args.model_path, args.device, args.runtime, args.threads)
    onnx_forward = predictor._forward
    model = predictor.model
    if args.flip_average != "model":
        model.config.flip_average = args.flip_average == "on"
    device = model.mean.device
    frames = [render_scene(99, i).image for i in range(8)]
    stages = ("resize", "network") if onnx_forward else ("resize", "encoder", "decoder")
    timings: dict[str, list[float]] = {name: [] for name in (*stages, "maps", "postprocess", "predict")}
    grasp_counts = []
    with torch.inference_mode():
        for index in range(args.warmup + args.frames):
            image = frames[index % len(frames)]
            marks = [time.perf_counter()]
            geometry = model.geometry(image.shape[:2])
            model_image = model.model_pixels(image, geometry)
            if onnx_forward:
                marks.append(time.perf_counter())
                raw = torch.from_numpy(onnx_forward(model_image))
            else:
                pixels = model.normalise(torch.from_numpy(model_image).to(device))
                _sync(device)
                marks.append(time.perf_counter())
                features = model.encoder(pixels)
                _sync(device)
                marks.append(time.perf_counter())
                raw = model.decoder(features, geometry.padded)
                _sync(device)
            marks.append(time.perf_counter())
            maps = model.maps_from_raw(raw.cpu(), geometry)
            marks.append(time.perf_counter())
            grasps = maps_to_grasps(maps, model.config.postprocess, model.config.width_scale, 10)
            marks.append(time.perf_counter())
            predictor.predict(image, max_grasps=10)
            marks.append(time.perf_counter())
            if index >= args.warmup:
                for name, start, end in zip(timings, marks, marks[1:]):
                    timings[name].append((end - start) * 1000.0)
                grasp_counts.append(len(grasps))
    threads = getattr(onnx_forward, "threads", None) or torch.get_num_threads()
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {threads} threads"
    lines = [
        f"Dense backend `{predictor.model_id}` ({predictor.runtime}) on {hardware}; 640x480 frames, model input "
        f"{model.geometry((480, 640)).padded[1]}x{model.geometry((480, 640)).padded[0]}"
        + (" and its mirror image (flip_average)" if model.config.flip_average else "")
        + f", {args.frames} frames "
        f"after {args.warmup} warm-up; {np.mean(grasp_counts):.1f} grasps per frame on average.",
        "",
        "| stage | median ms | p95 ms |",
        "|---|---|---|",
    ]
    for name, values in timings.items():
        lines.append(f"| {name} | {np.median(values):.2f} | {np.percentile(values, 95):.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        command = "python benchmarks/dense_inference.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v and k != "out" and v != "model"
        )
        Path(args.out).write_text(f"# Dense inference\n\nCommand: `{command.strip()}`\n\n{table}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
