#!/usr/bin/env bash
# The README's main command. For now the end-to-end path that exists: a grasp array built
# by the core crosses real DDS between two processes (loopback only) and is printed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
python="${VLM_GRASP_VENV:-$root/.venv}/bin/python"
source scripts/ros_env.sh
exec bash scripts/isolated.sh bash -c '
  "$0" tests/helpers/grasp_publisher.py demo_grasps >/dev/null & publisher=$!
  trap "kill $publisher 2>/dev/null" EXIT
  "$0" tests/helpers/grasp_listener.py demo_grasps 30 | sed "s/), /),\n  /g"
' "$python"
