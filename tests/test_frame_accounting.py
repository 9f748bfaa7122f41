"""Every frame a camera sends is accounted for by the node, over real DDS: a burst faster than
the backend, bad frames and a last good one; the counters on /diagnostics add up to what was sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from tests.helpers.ros_probe import RosProbe, running_node, same_stamp, synthetic_frame, wait_for_stamp, warm_up
from vlm_grasp_msgs.msg import Grasp2DArray
from vlm_grasp_ros.ros.image_conversion import rgb_to_image
from vlm_grasp_ros.ros.node_process import GraspNodeProcess, frame_counters

NODE = "/counted_grasps"
BURST = 40


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraspNodeProcess]:
    # min_area_rect takes tens of ms a frame, so a burst at ~200 Hz must be superseded or lost in part.
    parameters = {"backend": "min_area_rect", "diagnostics_period_s": 0.2, "stats_period_s": 0.5}
    with running_node(tmp_path_factory.mktemp("accounting"), parameters, "counted_grasps") as process:
        yield process


def test_the_node_accounts_for_every_frame_sent(node: GraspNodeProcess, tmp_path: Path) -> None:
    probe = RosProbe("test_accounting_probe")
    try:
        images = probe.publisher(Image, "image", qos_profile_sensor_data)
        grasps = probe.collect(Grasp2DArray, "grasps")
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics")
        probe.wait_matched(images)
        warm_up(probe, images, grasps)

        def counters_after(previous: int) -> dict[str, float]:
            assert probe.spin_until(lambda: len(diagnostics) > previous + 1, 10.0), "no /diagnostics from the node"
            found = frame_counters(diagnostics[-1], NODE)
            assert found is not None, [s.hardware_id for s in diagnostics[-1].status]
            return found

        before = counters_after(len(diagnostics))
        rgb = synthetic_frame(seed=5)
        burst = [rgb_to_image(rgb, probe.next_header()) for _ in range(BURST)]
        for frame in burst:
            images.publish(frame)
            probe.spin_for(0.005)
        probe.spin_for(1.0)
        bad = []
        for _ in range(3):  # sent apart, so none is superseded: each must be rejected
            frame = rgb_to_image(rgb, probe.next_header())
            frame.step = 5  # shorter than a row
            bad.append(frame)
            images.publish(frame)
            probe.spin_for(0.4)
        last = rgb_to_image(rgb, probe.next_header())
        images.publish(last)
        wait_for_stamp(probe, grasps, last.header)
        after = counters_after(len(diagnostics))
    finally:
        probe.close()

    sent = BURST + len(bad) + 1
    change = {key: after[key] - before[key] for key in after}
    assert change["received"] + change["lost"] + change["ignored"] == sent
    assert after["pending"] == 0
    assert change["received"] == change["processed"] + change["superseded"] + change["rejected"] + change["failed"]
    assert change["rejected"] == len(bad) and change["failed"] == 0 and change["ignored"] == 0
    answered = [g for g in grasps if any(same_stamp(g.header, f.header) for f in [*burst, last])]
    assert len(answered) == change["processed"]
    assert change["superseded"] + change["lost"] > 0, "the burst was meant to outrun the backend"
    assert "lost before the callback" in node.log()  # the periodic line says the same
