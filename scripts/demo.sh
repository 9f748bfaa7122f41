#!/usr/bin/env bash
# The README's main command: set up, render a small synthetic tabletop set, write it as a
# rosbag2 (camera frames, aligned depth, camera_info, labels on /grasps_gt), start grasp_node
# with its default backend, play the bag through it over DDS (loopback only) and score what
# it answers. Everything lands in out/demo/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/ros_env.sh
bin="${VLM_GRASP_VENV:-$root/.venv}/bin"
out="$root/out/demo"
rm -rf "$out"
mkdir -p "$out"
echo "demo: DDS on loopback only, ROS_DOMAIN_ID=$ROS_DOMAIN_ID"
bash scripts/isolated.sh "$bin/vlm-grasp" synth --out "$out/scenes" --n 24 --seed 7
bash scripts/isolated.sh "$bin/vlm-grasp" bag --dataset synthetic --root "$out/scenes" --out "$out/scenes_bag" --rate 5
bash scripts/isolated.sh "$bin/vlm-grasp" replay "$out/scenes_bag" --out "$out/replay"
echo
echo "demo: done. In $out:"
echo "  replay/report.md             metrics, transport figures, overlays (green: labels, red: grasps)"
echo "  replay/overlays_*.png        the first frames with the node's grasps"
echo "  replay/node_output_bag/      what grasp_node published (grasps, markers), a rosbag2"
echo "  replay/predictions.jsonl     every frame's grasps and 3D positions; replay/node.log: the node's log"
echo "  scenes_bag/                  the input bag (play it with ros2 bag play on Jazzy or later)"
