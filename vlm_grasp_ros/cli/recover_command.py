"""`vlm-grasp recover BAG --out DIR`: a playable rosbag2 from a recording that was cut off."""

from __future__ import annotations

import argparse
from pathlib import Path

from vlm_grasp_ros.bags.mcap_integrity import cut_off_reason
from vlm_grasp_ros.bags.recover import recover_bag
from vlm_grasp_ros.core.output_folder import staged_output


def run(args: argparse.Namespace) -> int:
    source = Path(args.bag)
    if not source.exists():
        raise FileNotFoundError(f"no such bag: {source}")
    reason = cut_off_reason(source)
    out = Path(args.out)
    with staged_output(out, args.overwrite, create=False) as bag:  # rosbag2 makes its own folder
        report = recover_bag(source, bag)
    print(f"{source}: " + (f"cut off ({reason})" if reason else "complete; copied as it is"))
    for topic, count in sorted(report.messages_by_topic.items()):
        print(f"  {topic}: {count} messages")
    for line in report.stopped:
        print(f"  {line}: what followed was incomplete and is left out")
    for line in report.left_out:
        print(f"  left out: {line}")
    for line in report.notes:
        print(f"  note: {line}")
    print(f"wrote {report.messages} messages to {out}; replay it with `vlm-grasp replay {out} --out DIR`")
    return 0
