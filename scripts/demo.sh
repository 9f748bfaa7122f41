#!/usr/bin/env bash
# The README's main command: set up, render a small synthetic tabletop set, score the
# classical baselines on it, and draw grasps on a few scenes. Everything lands in out/demo/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/ros_env.sh
bin="${VLM_GRASP_VENV:-$root/.venv}/bin"
out="$root/out/demo"
rm -rf "$out"
"$bin/vlm-grasp" synth --out "$out/scenes" --n 24 --seed 7
"$bin/vlm-grasp" eval --dataset synthetic --root "$out/scenes" --backend min_area_rect pca random --out "$out/eval"
"$bin/vlm-grasp" predict "$out"/scenes/0000[0-2]_s7_RGB.png --backend min_area_rect --out "$out/predict"
echo
echo "demo: done. Look at $out/eval/report.md (metrics, histograms, overlays)"
echo "      and $out/predict/*_overlay.png (ranked grasps, best labelled 1)."
