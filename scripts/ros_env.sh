# Sourced by the README's commands: keeps every DDS packet on this machine and points the
# ROS 2 wheels in the venv at their ament index. Safe to source more than once.
_vlm_grasp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${ROS_DISTRO:-}" ]; then
  export AMENT_PREFIX_PATH="${VLM_GRASP_VENV:-$_vlm_grasp_root/.venv}${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
fi
# Unicast discovery on 127.0.0.1 only: no multicast, nothing on any other interface.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# 16 MB shared-memory segment for camera frames, UDP restricted to 127.0.0.1.
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_vlm_grasp_root/config/fastdds_loopback.xml}"
# A domain of its own for this run (1..100 keeps Fast DDS ports in range), unless the user chose one.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}"
# Nothing downloads at run time.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
unset _vlm_grasp_root
