#!/usr/bin/env bash
# Run a command with no route off this machine: as root, inside a new network namespace
# whose only interface is lo. Otherwise run it as is (loopback-only discovery from
# ros_env.sh still applies) and say so.
set -euo pipefail
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null \
   && unshare -n true 2>/dev/null; then
  exec unshare -n bash -c 'ip link set lo up && exec "$@"' isolated "$@"
fi
echo "isolated.sh: not root or no unshare/ip; running without a network namespace" >&2
exec "$@"
