"""`grasp_node`: camera frames in, ranked grasps out, as a ROS 2 lifecycle node.

Topics (relative, so namespaces and remaps apply):
  in   image (sensor_msgs/Image) or image/compressed (CompressedImage), sensor-data QoS, depth 1
  in   depth (Image, 16UC1 mm or 32FC1 m, aligned to image; or depth/compressedDepth) and camera_info, when use_depth
  out  grasps (vlm_grasp_msgs/Grasp2DArray, the image's header), grasp_markers (MarkerArray),
       debug_image (Image with the grasps drawn; only computed while someone subscribes)
  srv  predict_grasps (vlm_grasp_msgs/srv/PredictGrasps)

Frames are taken as serialized bytes and only handed over; one worker thread deserializes
and runs the model on the newest frame, so a slow model skips frames instead of queueing them
and the executor takes every frame DDS delivers. Where every frame went (see frame_stats) is
logged every stats_period_s and published on /diagnostics.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.event_handler import QoSMessageLostInfo, SubscriptionEventCallbacks
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from vlm_grasp_msgs.msg import Grasp2DArray
from vlm_grasp_msgs.srv import PredictGrasps
from vlm_grasp_ros.bringup import large_frame_loss_hint
from vlm_grasp_ros.core.heap import limit_heap_arenas, trim_heap
from vlm_grasp_ros.core.overlay import draw_grasps
from vlm_grasp_ros.core.pipeline import (
    BackendError,
    GraspPipeline,
    GraspRequest,
    PipelineResult,
    keep_grasps_on_support,
    locate_grasps,
)
from vlm_grasp_ros.core.predictors.registry import create_predictor
from vlm_grasp_ros.ros.conversions import camera_info_to_camera, grasps_to_array_msg
from vlm_grasp_ros.ros.frame_buffers import LatestSlot, StampBuffer
from vlm_grasp_ros.ros.frame_stats import FrameStats, SequenceGaps, StatsReport
from vlm_grasp_ros.ros.image_conversion import ImageConversionError, depth_to_metres, frame_to_rgb, rgb_to_image
from vlm_grasp_ros.ros.markers import grasp_markers
from vlm_grasp_ros.ros.node_settings import (
    PARAMETERS,
    GraspNodeSettings,
    backend_parameters,
    parse_workspace,
    validate,
    with_changes,
)

NODE_NAME = "grasp_node"
LOG_EVERY_S = 5.0  # rate limit for per-frame warnings
SERVICE_QUEUE_DEPTH = 100  # predict_grasps requests waiting their turn
_PARAMETER_TYPES = {
    bool: Parameter.Type.BOOL,
    int: Parameter.Type.INTEGER,
    float: Parameter.Type.DOUBLE,
    str: Parameter.Type.STRING,
}


def _stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _publisher_key(info: MessageInfo) -> bytes:
    gid = info.get("publisher_gid") or {}
    return bytes(gid.get("data", b""))


#: A frame as taken from DDS: its serialized bytes, its type and when the callback got it.
RawFrame = tuple[bytes, type, float]


def _descriptor(name: str) -> ParameterDescriptor:
    spec = PARAMETERS[name]
    description = spec.description + (" (load-time: change while unconfigured)" if spec.load_time else "")
    descriptor = ParameterDescriptor(name=name, type=_PARAMETER_TYPES[spec.value_type].value, description=description)
    if spec.choices:
        descriptor.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.low is not None and spec.high is not None and spec.value_type is int:
        descriptor.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    elif spec.low is not None and spec.high is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high), step=0.0)
        ]
    return descriptor


class GraspNode(LifecycleNode):
    """The ROS shell around a GraspPipeline: parameters, lifecycle, topics, service, worker."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._configured = False
        self._active = threading.Event()
        self._pipeline: GraspPipeline | None = None
        self._latest: LatestSlot[RawFrame] = LatestSlot()
        self._depths: StampBuffer[Image | CompressedImage] = StampBuffer()
        self._loss_hint_given = False
        self._infos: StampBuffer[CameraInfo] = StampBuffer()
        self._stats = FrameStats()
        self._gaps = SequenceGaps()
        self._busy = threading.Event()  # the worker holds a frame
        # One worker for the node's life, idle while not configured: a thread per configure left
        # each model's per-thread allocations behind (RSS +11% in 20 cycles; core/heap.py).
        self._stop_worker = threading.Event()
        self._worker = threading.Thread(target=self._work, name="grasp_worker", daemon=True)
        self._worker.start()
        self._entities: list[tuple[Callable[[Any], Any], Any]] = []  # (destroy function, entity) for cleanup
        # From start, so a monitor also sees an unconfigured node; the timer follows the parameter.
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer: Any = None
        # The node's own settings, kept current by the parameter callback (frames read this copy).
        self._settings = GraspNodeSettings()
        self._declared = False
        self.add_on_set_parameters_callback(self._check_parameters)  # first, so start-up values are checked too
        for name, spec in PARAMETERS.items():
            self.declare_parameter(name, spec.default, _descriptor(name))
        self._declared = True
        problem = self._settings.problem()
        if problem:
            self.stop_worker()
            raise ValueError(problem)
        # In every lifecycle state, so a client hears "not active" instead of timing out; the
        # request queue holds a burst of callers (the default 10 dropped the rest of 20 at once).
        self.create_service(
            PredictGrasps, "predict_grasps", self._on_predict_request, qos_profile=QoSProfile(depth=SERVICE_QUEUE_DEPTH)
        )

    # Parameters ----------------------------------------------------------------------------

    def settings(self) -> GraspNodeSettings:
        """The node's own settings as the parameters stand (cached; updated on every accepted set)."""
        return self._settings

    def backend_options(self, backend: str) -> dict[str, Any]:
        """The ``<backend>.<option>`` parameters, as the registry takes them."""
        return {name.split(".", 1)[1]: self.get_parameter(name).value for name in backend_parameters(backend)}

    def _check_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            spec = PARAMETERS.get(parameter.name)
            if spec is None:
                continue  # rclpy's own, e.g. use_sim_time
            problem = validate(parameter.name, parameter.value)
            if problem is None and self._configured and spec.load_time:
                problem = f"{parameter.name} is load-time: deactivate and clean up the node, set it, then configure"
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        changed = with_changes(self._settings, {p.name: p.value for p in parameters})
        # Together, once all are declared (while declaring, a later parameter still has its default).
        problem = changed.problem() if self._declared else None
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        # All accepted: apply what takes effect at once.
        self._settings = changed
        for parameter in parameters:
            if parameter.name == "diagnostics_period_s":
                self._restart_diagnostics(float(parameter.value))
        return SetParametersResult(successful=True)

    def _restart_diagnostics(self, period_s: float) -> None:
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if period_s > 0:
            self._diagnostics_timer = self.create_timer(period_s, self._publish_diagnostics)

    # Lifecycle -------------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self.settings()
        predictor = None
        try:
            start = time.perf_counter()
            predictor = create_predictor(settings.backend, self.backend_options(settings.backend))
            load_ms = (time.perf_counter() - start) * 1000.0
            pipeline = GraspPipeline(predictor)
            warm_up_ms = pipeline.warm_up(workspace=parse_workspace(settings.workspace))
        except Exception as error:  # a model that cannot load fails the transition, not the process
            self.get_logger().error(f"could not load backend {settings.backend!r}: {type(error).__name__}: {error}")
            if predictor is not None:
                predictor.release()
            free_accelerator_memory()
            return TransitionCallbackReturn.FAILURE
        self._pipeline = pipeline
        reliable = QoSProfile(depth=10)
        self._grasps_pub = self.create_lifecycle_publisher(Grasp2DArray, "grasps", reliable)
        self._markers_pub = self.create_lifecycle_publisher(MarkerArray, "grasp_markers", reliable)
        self._debug_pub = self.create_lifecycle_publisher(Image, "debug_image", QoSProfile(depth=1))
        newest_only = QoSProfile(
            depth=1, reliability=qos_profile_sensor_data.reliability, durability=qos_profile_sensor_data.durability
        )
        subscribe = self.destroy_subscription, self.create_subscription
        frame_type, frame_topic = (
            (CompressedImage, self._transport_topic("image", "compressed"))
            if settings.image_transport == "compressed"
            else (Image, "image")
        )
        # raw: the callback copies bytes (~0.1 ms for VGA) instead of building a message in Python;
        # only the frame the worker takes is deserialized.
        self._keep(
            subscribe,
            frame_type,
            frame_topic,
            lambda raw, info: self._on_frame(raw, info, frame_type),
            newest_only,
            raw=True,
            event_callbacks=SubscriptionEventCallbacks(message_lost=self._on_message_lost),
        )
        if settings.use_depth:
            depth_type, depth_topic = (
                (CompressedImage, self._transport_topic("depth", "compressedDepth"))
                if settings.depth_transport == "compressedDepth"
                else (Image, "depth")
            )
            self._keep(
                subscribe, depth_type, depth_topic, lambda m: self._depths.add(_stamp_ns(m), m), qos_profile_sensor_data
            )
            self._keep(
                subscribe,
                CameraInfo,
                "camera_info",
                lambda m: self._infos.add(_stamp_ns(m), m),
                qos_profile_sensor_data,
            )
        if settings.stats_period_s > 0:
            self._keep((self.destroy_timer, self.create_timer), settings.stats_period_s, self._log_stats)
        self._configured = True
        self.get_logger().info(
            f"configured: backend {settings.backend}{' (' + predictor.model_id + ')' if predictor.model_id else ''}"
            f"{' on ' + runtime if (runtime := getattr(predictor, 'runtime', '')) else ''} loaded in "
            f"{load_ms:.0f} ms, first inference {warm_up_ms:.0f} ms"
            f"{self._threads_note()}; input {settings.image_transport}"
            f"{' + depth (' + settings.depth_transport + ')' if settings.use_depth else ''}"
        )
        return TransitionCallbackReturn.SUCCESS

    @staticmethod
    def _threads_note() -> str:
        torch = sys.modules.get("torch")
        return f" ({torch.get_num_threads()} CPU threads)" if torch is not None else ""

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.set()
        self.get_logger().info("active: publishing grasps")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.clear()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _keep(
        self, destroy_and_create: tuple[Callable[[Any], Any], Callable[..., Any]], *args: Any, **kwargs: Any
    ) -> None:
        destroy, create = destroy_and_create
        self._entities.append((destroy, create(*args, **kwargs)))

    def _teardown(self) -> None:
        """Let the worker finish its frame, drop every entity and free the model (and its GPU memory)."""
        self._active.clear()  # frames still arriving are ignored from here
        if self._latest.clear():
            self._stats.reclassify("received", "ignored")
        deadline = time.monotonic() + 30.0
        while self._busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
        for destroy, entity in self._entities:
            destroy(entity)
        self._entities.clear()
        for name in ("_grasps_pub", "_markers_pub", "_debug_pub"):
            if hasattr(self, name):
                self.destroy_lifecycle_publisher(getattr(self, name))
                delattr(self, name)
        if self._pipeline is not None:
            self._pipeline.release()
            self._pipeline = None
            free_accelerator_memory()
        self._depths.clear()
        self._infos.clear()
        self._gaps.clear()
        self._configured = False

    # Frames ----------------------------------------------------------------------------------

    def _transport_topic(self, raw: str, transport: str) -> str:
        # image_transport's convention: a compressed stream lives under the (remapped) raw topic.
        resolve = getattr(self, "resolve_topic_name", None)
        return f"{resolve(raw) if resolve else raw}/{transport}"

    def _on_frame(self, raw: bytes, info: MessageInfo, frame_type: type) -> None:
        arrived = time.perf_counter()
        lost = self._gaps.observe(_publisher_key(info), info.get("publication_sequence_number"))
        self._stats.count("lost", lost)
        if lost and not self._loss_hint_given:
            hint = large_frame_loss_hint(os.environ, len(raw))
            if hint:
                self._loss_hint_given = True  # once per node: the cause does not change
                self.get_logger().warning(hint)
        if not self._active.is_set():
            self._stats.count("ignored")
            return
        self._stats.count("received")
        if self._latest.put((raw, frame_type, arrived)):
            self._stats.count("superseded")

    def _on_message_lost(self, event: QoSMessageLostInfo) -> None:
        # Also visible as a sequence gap (counted in `lost`): this is only the transport's share of it.
        self._stats.count("lost_in_transport", event.total_count_change)

    def stop_worker(self) -> None:
        """End the worker thread (at exit, after the last teardown)."""
        self._stop_worker.set()
        self._latest.close()
        self._worker.join(timeout=30.0)

    def _work(self) -> None:
        while not self._stop_worker.is_set():
            with self._latest.taking(self._busy, timeout_s=0.2) as item:
                if item is None:
                    continue
                try:
                    self._process(*item)
                except Exception as error:  # the worker must outlive any single frame
                    self._stats.count("failed")
                    self.get_logger().error(
                        f"unexpected error on a frame: {type(error).__name__}: {error}",
                        throttle_duration_sec=LOG_EVERY_S,
                    )

    @staticmethod
    def _request(settings: GraspNodeSettings, max_grasps: int = 0, prompt: str = "") -> GraspRequest:
        return GraspRequest(
            max_grasps or settings.max_grasps,
            settings.score_threshold,
            prompt or settings.prompt,
            settings.min_depth_m,
            settings.max_depth_m,
            workspace=parse_workspace(settings.workspace),
            support_height_m=(
                (settings.support_min_height_m, settings.support_max_height_m) if settings.support_plane else (0.0, 0.0)
            ),
        )

    def _process(self, raw: bytes, frame_type: type, arrived: float) -> None:
        settings, pipeline = self.settings(), self._pipeline
        if pipeline is None or not self._active.is_set():
            self._stats.reclassify("received", "ignored")  # deactivated while the frame waited
            return
        try:
            frame: Any = deserialize_message(raw, frame_type)
        except Exception as error:  # rclpy raises several types for malformed CDR
            self._stats.count("rejected")
            self.get_logger().warning(
                f"skipped a frame that does not deserialize as {frame_type.__name__}: {error}",
                throttle_duration_sec=LOG_EVERY_S,
            )
            return
        try:
            rgb = frame_to_rgb(frame, settings.max_image_pixels)
        except ImageConversionError as error:
            self._stats.count("rejected")
            self.get_logger().warning(
                f"skipped a bad frame (stamp {_stamp_ns(frame)} ns): {error}", throttle_duration_sec=LOG_EVERY_S
            )
            return
        request = self._request(settings)
        try:
            grasps, inference_ms = pipeline.predict(rgb, request)
        except BackendError as error:
            self._stats.count("failed")
            self.get_logger().error(f"{error}; the node keeps serving", throttle_duration_sec=LOG_EVERY_S)
            return
        result = PipelineResult(grasps, inference_ms)
        if settings.use_depth:  # looked up after inference: depth that arrived meanwhile is not waited for twice
            self._add_poses(result, frame, rgb, settings, request, wait=True)
        self._publish(frame.header, rgb, result, settings)
        self._stats.processed_in((time.perf_counter() - arrived) * 1000.0)

    def _add_poses(
        self,
        result: PipelineResult,
        frame: Any,
        rgb: Any,
        settings: GraspNodeSettings,
        request: GraspRequest,
        wait: bool,
    ) -> None:
        """Poses from the depth and camera_info matching the frame; what is missing or unusable is
        logged (rate-limited) and counted on /diagnostics."""
        depth, info = self._depth_for(frame, settings, wait)
        if depth is None or info is None:
            missing = " and ".join(n for n, m in (("depth", depth), ("camera_info", info)) if m is None)
            result.problems = [f"no {missing} within {settings.sync_tolerance_s} s of the frame"]
        else:
            try:
                depth_m, camera = depth_to_metres(depth), camera_info_to_camera(info)
            except ValueError as error:
                result.problems = [f"depth or camera_info unusable: {error}"]
            else:
                result.grasps, support_notes = keep_grasps_on_support(
                    result.grasps, depth_m, camera, rgb.shape[1::-1], request
                )
                result.poses, result.problems = locate_grasps(result.grasps, depth_m, camera, rgb.shape[1::-1], request)
                if support_notes:  # what the support plane dropped, or why it could not check
                    self.get_logger().info("; ".join(support_notes), throttle_duration_sec=LOG_EVERY_S)
        if result.problems:
            self._stats.count("without_poses")
            self.get_logger().warning(
                "; ".join(result.problems) + "; grasps published without those poses", throttle_duration_sec=LOG_EVERY_S
            )

    def _depth_for(
        self, frame: Any, settings: GraspNodeSettings, wait: bool
    ) -> tuple[Image | CompressedImage | None, CameraInfo | None]:
        stamp, tolerance = _stamp_ns(frame), int(settings.sync_tolerance_s * 1e9)
        depth = (
            self._depths.wait_nearest(stamp, tolerance, settings.depth_wait_s)
            if wait
            else self._depths.nearest(stamp, tolerance)
        )
        # Intrinsics rarely change: the matching camera_info, else the last one received.
        info = self._infos.nearest(stamp, tolerance) or self._infos.latest()
        return depth, info

    def _message(self, header: Any, rgb: Any, result: PipelineResult, prompt: str) -> Grasp2DArray:
        assert self._pipeline is not None
        predictor = self._pipeline.predictor
        return grasps_to_array_msg(
            result.grasps,
            header,
            rgb.shape[1],
            rgb.shape[0],
            backend=predictor.name,
            model=predictor.model_id,
            prompt=prompt,
            inference_time_ms=result.inference_ms,
            poses=result.poses,
        )

    def _publish(self, header: Any, rgb: Any, result: PipelineResult, settings: GraspNodeSettings) -> None:
        self._grasps_pub.publish(self._message(header, rgb, result, settings.prompt))
        self._markers_pub.publish(grasp_markers(header, result.grasps, result.poses, settings.marker_pixel_size_m))
        if self._debug_pub.get_subscription_count() > 0:
            overlay = draw_grasps(rgb, result.grasps, thickness=2, label_scores=True)
            self._debug_pub.publish(rgb_to_image(overlay, header))

    def frame_report(self) -> StatsReport:
        """Where every frame went so far (see frame_stats)."""
        return self._stats.snapshot(pending=self._pending())

    def _pending(self) -> int:
        # Busy is set before the slot is emptied and cleared after the frame is counted, so a frame
        # between the two is counted twice at worst, never missed (reports are a snapshot).
        occupied = self._latest.occupied()  # first: the worker sets busy before it empties the slot
        return int(self._busy.is_set()) + int(occupied)

    def _log_stats(self) -> None:
        report = self._stats.report(pending=self._pending())
        if report is not None:  # quiet while no frames come
            self.get_logger().info(report.line())

    def _publish_diagnostics(self) -> None:
        report = self.frame_report()
        state = "active" if self._active.is_set() else ("inactive" if self._configured else "unconfigured")
        level, message = DiagnosticStatus.OK, f"{state}, {report.rate_hz:.1f} answers/s"
        if self._configured and (report.failed or report.rejected):
            level, message = DiagnosticStatus.WARN, f"{message}; {report.failed} failed, {report.rejected} rejected"
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_fully_qualified_name()}: frames",
            message=message,
            hardware_id=self.get_fully_qualified_name(),
        )
        status.values = [
            KeyValue(key=key, value=f"{value:g}" if isinstance(value, float) else str(value))
            for key, value in report.as_dict().items()
        ]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)

    # Service ---------------------------------------------------------------------------------

    def _on_predict_request(
        self, request: PredictGrasps.Request, response: PredictGrasps.Response
    ) -> PredictGrasps.Response:
        pipeline = self._pipeline
        if pipeline is None or not self._active.is_set():
            state, advice = (
                ("inactive", "activate it first")
                if pipeline is not None
                else ("unconfigured", "configure and activate it first")
            )
            response.success, response.message = False, f"{self.get_name()} is not active ({state}): {advice}"
            return response
        settings = self.settings()
        request_options = self._request(settings, request.max_grasps, request.prompt)
        try:
            rgb = frame_to_rgb(request.image, settings.max_image_pixels)
            grasps, inference_ms = pipeline.predict(rgb, request_options)
        except (ImageConversionError, BackendError) as error:
            response.success, response.message = (
                False,
                f"{'bad image' if isinstance(error, ValueError) else 'backend error'}: {error}",
            )
            return response
        result = PipelineResult(grasps, inference_ms)
        if settings.use_depth:
            self._add_poses(result, request.image, rgb, settings, request_options, wait=False)
        response.result = self._message(request.image.header, rgb, result, request_options.prompt)
        response.success = True
        response.message = f"{len(result.grasps)} grasps in {inference_ms:.1f} ms" + (
            f"; {'; '.join(result.problems)}" if result.problems else ""
        )
        return response


def free_accelerator_memory() -> None:
    """Return a dropped model's memory: cached GPU memory to the driver, the freed heap to the OS."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    trim_heap()


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(args: list[str] | None = None) -> int:
    # rclpy's own handlers shut the context down at once, while the worker may be publishing
    # ("publisher's context is invalid"); here a signal ends spin, and the worker is stopped
    # before the context goes.
    limit_heap_arenas()  # before any thread starts: memory returns at cleanup (core/heap.py)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        node = GraspNode()
    except (ParameterException, ValueError) as error:
        print(f"grasp_node: error: bad parameter: {error}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    # One thread: the worker does the inference, so the executor only hands frames over, and
    # rclpy's multi-threaded executor cost a core's 13% in Python and lost frames measurably.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.settings().autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal("autostart: configure failed (see above); exiting")
                return 1
            node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C or SIGTERM from a launcher: a normal end
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        node._teardown()
        node.stop_worker()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
