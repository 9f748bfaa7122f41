#!/usr/bin/env bash
# The README's test command: set up what is missing, then run the whole suite with DDS kept
# on loopback inside a network namespace. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -n "${ROS_DISTRO:-}" ] && python3 -c "import rclpy, vlm_grasp_msgs" 2>/dev/null; then
  echo "test: using the sourced ROS 2 $ROS_DISTRO and its python3"
  python=python3
else
  bash scripts/setup.sh
  python="${VLM_GRASP_VENV:-$root/.venv}/bin/python"
fi
# Static checks first: they take under a minute and fail fast (rules and reasons: ruff.toml, mypy.ini).
echo "test: ruff check, ruff format --check, mypy"
"$python" -m ruff check --quiet . && "$python" -m ruff format --check --quiet . && "$python" -m mypy --no-error-summary
source scripts/ros_env.sh
echo "test: ROS_DOMAIN_ID=$ROS_DOMAIN_ID, discovery range $ROS_AUTOMATIC_DISCOVERY_RANGE"
exec bash scripts/isolated.sh "$python" -m pytest "$@"
