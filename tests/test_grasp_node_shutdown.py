"""Ctrl-C or SIGTERM while the worker is busy ends the node cleanly: exit code 0, no error logged
(rclpy's own handler shut the context down under the worker: "publisher's context is invalid")."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from tests.helpers.ros_probe import RosProbe, running_node, synthetic_frame
from vlm_grasp_msgs.msg import Grasp2DArray
from vlm_grasp_ros.ros.image_conversion import rgb_to_image


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_the_worker_is_busy_is_clean(stop_signal: int, tmp_path: Path) -> None:
    # min_area_rect takes tens of ms on a VGA frame, and frames come faster: the worker is
    # almost always mid-frame when the signal lands.
    parameters = {"backend": "min_area_rect", "diagnostics_period_s": 0.0}
    with running_node(tmp_path, parameters, "stopped_grasps", clean_exit=False) as node:
        probe = RosProbe("test_shutdown_probe")
        try:
            images = probe.publisher(Image, "image", qos_profile_sensor_data)
            grasps = probe.collect(Grasp2DArray, "grasps")
            probe.wait_matched(images)
            frame = rgb_to_image(synthetic_frame(seed=8), probe.next_header())
            for _ in range(400):  # up to ~8 s of frames at 50 Hz until answers flow
                images.publish(frame)
                if probe.spin_until(lambda: len(grasps) >= 3, 0.02):
                    break
            assert len(grasps) >= 3, node.log()
            for _ in range(3):  # keep it busy right up to the signal
                images.publish(frame)
                probe.spin_for(0.02)
            node.process.send_signal(stop_signal)
            images.publish(frame)
            code = node.process.wait(timeout=20)
        finally:
            probe.close()
    log = node.log()
    assert code == 0, log
    assert "context is invalid" not in log and "[ERROR]" not in log, log
