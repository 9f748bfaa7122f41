"""The node's lifecycle and parameters over real DDS: nothing is served until it is active,
load-time parameters change only while unconfigured, cleanup frees the model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image

from tests.helpers.ros_probe import RosProbe, running_node, synthetic_frame, wait_for_stamp, warm_up
from vlm_grasp_msgs.msg import Grasp2DArray
from vlm_grasp_msgs.srv import PredictGrasps
from vlm_grasp_ros.ros.image_conversion import rgb_to_image
from vlm_grasp_ros.ros.node_process import GraspNodeProcess


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraspNodeProcess]:
    parameters = {"autostart": False, "stats_period_s": 0.0}
    with running_node(tmp_path_factory.mktemp("lifecycle"), parameters, "managed_grasps", clean_exit=False) as process:
        yield process


def state(probe: RosProbe) -> str:
    return probe.call(GetState, "/managed_grasps/get_state", GetState.Request()).current_state.label


def transition(probe: RosProbe, transition_id: int) -> bool:
    request = ChangeState.Request(transition=Transition(id=transition_id))
    return probe.call(ChangeState, "/managed_grasps/change_state", request).success


def set_parameter(probe: RosProbe, name: str, value: ParameterValue) -> tuple[bool, str]:
    request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)])
    result = probe.call(SetParameters, "/managed_grasps/set_parameters", request).results[0]
    return result.successful, result.reason


def string_value(text: str) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=text)


def sends_grasps(probe: RosProbe, image_pub, grasps: list, seconds: float = 1.5) -> bool:
    header = probe.next_header()
    image_pub.publish(rgb_to_image(synthetic_frame(seed=21, width=320, height=240), header))
    try:
        wait_for_stamp(probe, grasps, header, timeout_s=seconds)
        return True
    except AssertionError:
        return False


def test_lifecycle_transitions_gate_the_node(probe: RosProbe, node: GraspNodeProcess) -> None:
    image_pub = probe.publisher(Image, "image", qos_profile_sensor_data)
    grasps = probe.collect(Grasp2DArray, "grasps")
    assert state(probe) == "unconfigured"
    assert not probe.node.count_subscribers("image")  # no subscription before configure

    request = PredictGrasps.Request(
        image=rgb_to_image(synthetic_frame(seed=22, width=320, height=240), probe.next_header())
    )
    response = probe.call(PredictGrasps, "predict_grasps", request)  # the service exists and says why not
    assert not response.success and "not active (unconfigured): configure and activate it first" in response.message

    # Load-time parameters are free to change while unconfigured, and still validated.
    assert set_parameter(probe, "backend", string_value("yolo"))[0] is False
    assert set_parameter(probe, "backend", string_value("pca")) == (True, "")

    assert transition(probe, Transition.TRANSITION_CONFIGURE) and state(probe) == "inactive"
    probe.wait_matched(image_pub)
    assert not sends_grasps(probe, image_pub, grasps)  # inactive: frames are ignored
    response = probe.call(PredictGrasps, "predict_grasps", request)
    assert not response.success and "not active (inactive): activate it first" in response.message

    ok, reason = set_parameter(probe, "backend", string_value("random"))
    assert not ok and "load-time" in reason  # the loaded model cannot change under the node
    ok, reason = set_parameter(
        probe, "score_threshold", ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=1.5)
    )
    assert not ok  # outside the declared range [0, 1]

    assert transition(probe, Transition.TRANSITION_ACTIVATE) and state(probe) == "active"
    warm_up(probe, image_pub, grasps)
    assert sends_grasps(probe, image_pub, grasps, seconds=10.0)
    assert grasps[-1].backend == "pca"

    assert transition(probe, Transition.TRANSITION_DEACTIVATE) and state(probe) == "inactive"
    grasps.clear()
    assert not sends_grasps(probe, image_pub, grasps)

    assert transition(probe, Transition.TRANSITION_CLEANUP) and state(probe) == "unconfigured"
    assert probe.spin_until(lambda: probe.node.count_publishers("grasps") == 0, 5.0)  # entities destroyed
    assert set_parameter(probe, "backend", string_value("random")) == (True, "")
    assert transition(probe, Transition.TRANSITION_CONFIGURE) and transition(probe, Transition.TRANSITION_ACTIVATE)
    warm_up(probe, image_pub, grasps)
    assert sends_grasps(probe, image_pub, grasps, seconds=10.0) and grasps[-1].backend == "random"

    assert transition(probe, Transition.TRANSITION_ACTIVE_SHUTDOWN) and state(probe) == "finalized"


BURST = 20  # callers at once


def test_a_burst_of_service_calls_is_answered_in_full(tmp_path) -> None:
    """20 callers at once: every one gets its grasps (the default queue of 10 dropped the rest)."""
    # A namespace of its own: the module's managed node (finalized, still running) serves predict_grasps too.
    parameters = {"backend": "min_area_rect", "diagnostics_period_s": 0.0}
    with running_node(tmp_path, parameters, "busy_grasps", namespace="/burst") as node:
        probe = RosProbe("test_burst_probe")
        try:
            image = rgb_to_image(synthetic_frame(seed=23, width=320, height=240), probe.next_header())
            # Every client's reader receives every response (DDS services filter by request id on the
            # client), so 20 answers at once overflow the default client depth of 10 and a client's own
            # answer can be pushed out before it is taken (19 of 20 in a CI run). The server's queue is
            # what this test is about; each client keeps the whole burst.
            burst_qos = QoSProfile(depth=BURST)
            clients = [
                probe.node.create_client(PredictGrasps, "/burst/predict_grasps", qos_profile=burst_qos)
                for _ in range(BURST)
            ]
            assert probe.spin_until(lambda: all(c.service_is_ready() for c in clients), 30.0), node.log()
            assert probe.spin_until(lambda: "active: publishing grasps" in node.log(), 30.0), node.log()
            # service_is_ready sees the request path only; a response sent before a client's
            # response reader is matched is dropped by DDS (16 and 18 of 20 in loaded full runs,
            # even after a 1 s wait). One call per client first, retried until it is answered,
            # proves each client's response path; the burst after it tests the queue alone.
            for client in clients:
                for _ in range(10):
                    future = client.call_async(PredictGrasps.Request(image=image))
                    if probe.spin_until(future.done, 3.0):
                        break
                assert future.done(), "a client's response path never matched"
            futures = [client.call_async(PredictGrasps.Request(image=image)) for client in clients]
            assert probe.spin_until(lambda: all(f.done() for f in futures), 60.0), (
                f"{sum(f.done() for f in futures)} of {BURST} answered"
            )
            assert all(f.result().success and f.result().result.grasps for f in futures)
        finally:
            probe.close()
