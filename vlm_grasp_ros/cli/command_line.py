"""The command line a report says it was produced by."""

from __future__ import annotations

import shlex
import sys


def command_line(command: str) -> str:
    """``vlm-grasp <the arguments given>`` when run as vlm-grasp, else a generic form."""
    if sys.argv[0].endswith("vlm-grasp"):
        return "vlm-grasp " + shlex.join(sys.argv[1:])
    return f"vlm-grasp {command} ..."
