"""Recordings cut off by a crash: named as such on replay, and `vlm-grasp recover` gives back every
complete message, with its topic, type, definition, QoS and time, as a playable rosbag2."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as RosbagWriter
from rosbags.rosbag2.metadata import dump_qos_v8
from rosbags.typesys import get_types_from_msg

from vlm_grasp_ros.bags.bag_reader import bag_messages, inspect_bag
from vlm_grasp_ros.bags.mcap_integrity import CorruptBagError, cut_off_reason, verify_bag
from vlm_grasp_ros.bags.recover import RecoveryError, recover_bag
from vlm_grasp_ros.bags.typestore import grasp_typestore
from vlm_grasp_ros.cli.main import main

STATUS_TYPE = "my_robot_msgs/msg/Status"  # a type no typestore here knows: only the file defines it
STATUS_DEFINITION = "int32 level\nstring note\n"
LATCHED = Qos(
    QosHistory.KEEP_LAST,
    1,
    QosReliability.RELIABLE,
    QosDurability.TRANSIENT_LOCAL,
    QosTime(0, 0),
    QosTime(0, 0),
    QosLiveliness.AUTOMATIC,
    QosTime(0, 0),
    False,
)
FRAMES = 20


def _image_cdr(index: int) -> bytes:
    store = grasp_typestore()
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=index, nanosec=0), frame_id="cam"
    )
    pixels = np.full(16 * 12 * 3, index, np.uint8)
    image = store.types["sensor_msgs/msg/Image"](
        header=header, height=12, width=16, encoding="rgb8", is_bigendian=0, step=48, data=pixels
    )
    return bytes(store.serialize_cdr(image, "sensor_msgs/msg/Image"))


def _status_cdr(level: int) -> bytes:
    note = b"ok\x00"
    return b"\x00\x01\x00\x00" + level.to_bytes(4, "little") + len(note).to_bytes(4, "little") + note


def _record(path: Path, start_ns: int = 1_000_000_000) -> list[tuple[str, int, bytes]]:
    """An .mcap as a ROS 2 recorder writes one: zstd chunks with CRCs, several chunks, a latched
    topic's QoS in its channel metadata, a type of the robot's own. Returns (topic, time, bytes)."""
    store = grasp_typestore()
    written: list[tuple[str, int, bytes]] = []
    with open(path, "wb") as stream:
        writer = Writer(stream, chunk_size=2048, compression=CompressionType.ZSTD)
        writer.start("ros2", "a recorder")
        image_schema = writer.register_schema(
            "sensor_msgs/msg/Image", "ros2msg", store.generate_msgdef("sensor_msgs/msg/Image")[0].encode()
        )
        status_schema = writer.register_schema(STATUS_TYPE, "ros2msg", STATUS_DEFINITION.encode())
        camera = writer.register_channel("/camera/image_raw", "cdr", image_schema, {"offered_qos_profiles": ""})
        status = writer.register_channel(
            "/robot/status", "cdr", status_schema, {"offered_qos_profiles": dump_qos_v8([LATCHED])}
        )
        for index in range(FRAMES):
            time_ns = start_ns + index * 100_000_000
            for channel, topic, data in (
                (camera, "/camera/image_raw", _image_cdr(index)),
                (status, "/robot/status", _status_cdr(index)),
            ):
                writer.add_message(channel, time_ns, data, time_ns)
                written.append((topic, time_ns, data))
        writer.finish()
    return written


def _crashed(folder: Path, keep_fraction: float) -> list[tuple[str, int, bytes]]:
    """A rosbag2 folder as a killed recorder leaves it: the .mcap cut short, no metadata.yaml."""
    folder.mkdir()
    written = _record(folder / "run_0.mcap")
    data = (folder / "run_0.mcap").read_bytes()
    (folder / "run_0.mcap").write_bytes(data[: int(len(data) * keep_fraction)])
    return written


def test_a_cut_off_recording_is_named_as_one_with_the_way_out(tmp_path: Path) -> None:
    _crashed(tmp_path / "crash", 0.6)
    assert cut_off_reason(tmp_path / "crash") == "run_0.mcap ends before its footer"
    with pytest.raises(ValueError, match=r"cut off \(run_0.mcap ends before its footer\); `vlm-grasp recover"):
        inspect_bag(tmp_path / "crash")
    with pytest.raises(CorruptBagError, match=r"cut off .*not scored; `vlm-grasp recover"):
        verify_bag(tmp_path / "crash")


def test_recovery_keeps_every_complete_message_with_its_type_qos_and_time(tmp_path: Path) -> None:
    written = _crashed(tmp_path / "crash", 0.6)
    report = recover_bag(tmp_path / "crash", tmp_path / "fixed")
    recovered = list(bag_messages(tmp_path / "fixed", ["/camera/image_raw", "/robot/status"]))
    # What comes back is exactly the recording up to the cut: same order, times and bytes.
    assert 0 < len(recovered) < len(written) and recovered == written[: len(recovered)]
    assert report.messages == len(recovered) and "run_0.mcap: stopped after" in report.stopped[0]
    # The chunk that was cut is all that is lost (2 KB chunks: at most a few messages of each topic).
    assert len(written) - len(recovered) < 0.5 * len(written)
    assert cut_off_reason(tmp_path / "fixed") is None
    assert verify_bag(tmp_path / "fixed") == len(recovered)  # complete, with CRCs
    layout = inspect_bag(tmp_path / "fixed")
    assert (
        layout.image_topic == "/camera/image_raw" and layout.frame_count == report.messages_by_topic[layout.image_topic]
    )
    with open(next((tmp_path / "fixed").glob("*.mcap")), "rb") as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None
    schemas = {schema.name: schema.data.decode() for schema in summary.schemas.values()}
    assert schemas[STATUS_TYPE] == STATUS_DEFINITION  # the robot's own type travels with its definition
    status = next(c for c in summary.channels.values() if c.topic == "/robot/status")
    assert status.metadata["offered_qos_profiles"] == dump_qos_v8([LATCHED])  # latched stays latched
    metadata = (tmp_path / "fixed" / "metadata.yaml").read_text()
    assert f"message_count: {len(recovered)}" in metadata and STATUS_TYPE in metadata


def test_a_recording_without_metadata_comes_back_whole_and_a_split_one_as_one_bag(tmp_path: Path) -> None:
    folder = tmp_path / "killed"
    folder.mkdir()
    first = _record(folder / "run_0.mcap")
    second = _record(folder / "run_1.mcap", start_ns=10_000_000_000)  # a split: its own channel ids
    assert cut_off_reason(folder) == "it has no metadata.yaml"
    report = recover_bag(folder, tmp_path / "fixed")
    assert report.stopped == [] and report.messages == len(first) + len(second)
    assert dict(report.messages_by_topic) == {"/camera/image_raw": 2 * FRAMES, "/robot/status": 2 * FRAMES}
    assert list(bag_messages(tmp_path / "fixed", ["/camera/image_raw", "/robot/status"])) == first + second


def test_nothing_to_recover_is_said_plainly(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecoveryError, match="no .mcap or .db3 file to recover"):
        recover_bag(tmp_path / "empty", tmp_path / "out")
    _crashed(tmp_path / "header_only", 0.01)
    with pytest.raises(RecoveryError, match="not one complete message"):
        recover_bag(tmp_path / "header_only", tmp_path / "out2")


def test_recover_command_writes_a_bag_replay_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _crashed(tmp_path / "crash", 0.6)
    assert main(["recover", str(tmp_path / "crash"), "--out", str(tmp_path / "fixed")]) == 0
    out = capsys.readouterr().out
    assert "cut off (run_0.mcap ends before its footer)" in out and "/robot/status:" in out
    assert verify_bag(tmp_path / "fixed") > 0
    assert main(["recover", str(tmp_path / "crash"), "--out", str(tmp_path / "fixed")]) == 2  # never overwritten
    assert "exists and is not empty" in capsys.readouterr().err


def test_damaged_bytes_stop_the_copy_instead_of_entering_it(tmp_path: Path) -> None:
    folder = tmp_path / "damaged"
    folder.mkdir()
    written = _record(folder / "run_0.mcap")
    with open(folder / "run_0.mcap", "rb") as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None and len(summary.chunk_indexes) > 3
    chunk = summary.chunk_indexes[2]
    data = bytearray((folder / "run_0.mcap").read_bytes())
    data[chunk.chunk_start_offset + chunk.chunk_length - 8] ^= 0xFF  # in the third chunk's compressed bytes
    (folder / "run_0.mcap").write_bytes(bytes(data))
    report = recover_bag(folder, tmp_path / "fixed")
    recovered = list(bag_messages(tmp_path / "fixed", ["/camera/image_raw", "/robot/status"]))
    assert 0 < len(recovered) < len(written) and recovered == written[: len(recovered)]
    assert re.search(r"stopped after \d+ complete messages \(.*(crc validation failed|corruption)", report.stopped[0])


def test_a_sqlite3_recording_without_metadata_is_named_with_its_standard_fix(tmp_path: Path) -> None:
    store = grasp_typestore()
    with RosbagWriter(tmp_path / "humble_run", version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        connection = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=store)
        writer.write(connection, 1_000_000_000, _image_cdr(0))
    (tmp_path / "humble_run" / "metadata.yaml").unlink()  # as a recorder killed before closing leaves it
    with pytest.raises(ValueError, match=r"humble_run: a sqlite3 recording without metadata.yaml .*ros2 bag reindex"):
        inspect_bag(tmp_path / "humble_run")


def _sqlite_recording(folder: Path) -> list[tuple[str, int, bytes]]:
    """A sqlite3 rosbag2 with a camera topic and a type of the robot's own, as a recorder killed
    before closing leaves it: every message committed, no metadata.yaml."""
    store = grasp_typestore.__wrapped__()
    store.register(get_types_from_msg(STATUS_DEFINITION, STATUS_TYPE))
    written = []
    with RosbagWriter(folder, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        camera = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=store)
        status = writer.add_connection("/robot/status", STATUS_TYPE, typestore=store)
        for index in range(FRAMES):
            time_ns = 1_000_000_000 + index * 100_000_000
            for connection, data in ((camera, _image_cdr(index)), (status, _status_cdr(index))):
                writer.write(connection, time_ns, data)
                written.append((connection.topic, time_ns, data))
    (folder / "metadata.yaml").unlink()
    return written


def test_a_sqlite3_recording_without_metadata_comes_back_whole(tmp_path: Path) -> None:
    written = _sqlite_recording(tmp_path / "killed")
    with pytest.raises(ValueError, match="a sqlite3 recording without metadata.yaml .*`vlm-grasp recover"):
        inspect_bag(tmp_path / "killed")
    report = recover_bag(tmp_path / "killed", tmp_path / "fixed")
    assert report.stopped == [] and report.left_out == [] and report.messages == len(written)
    assert list(bag_messages(tmp_path / "fixed", ["/camera/image_raw", "/robot/status"])) == written
    assert STATUS_TYPE in (tmp_path / "fixed" / "metadata.yaml").read_text()


def test_a_humble_sqlite3_recording_keeps_the_topics_it_can_type(tmp_path: Path) -> None:
    """Humble's .db3 stores no message definitions: known types come back, a robot's own type is
    named and left out instead of failing the whole recovery."""
    written = _sqlite_recording(tmp_path / "humble")
    with closing(sqlite3.connect(next((tmp_path / "humble").glob("*.db3")))) as database:
        database.execute("DROP TABLE message_definitions")
        database.execute("ALTER TABLE topics DROP COLUMN type_description_hash")
        database.commit()
    report = recover_bag(tmp_path / "humble", tmp_path / "fixed")
    assert report.left_out == [
        f"topic /robot/status: type {STATUS_TYPE} is unknown and the recording does not define it"
    ]
    camera = [message for message in written if message[0] == "/camera/image_raw"]
    assert list(bag_messages(tmp_path / "fixed", ["/camera/image_raw"])) == camera


def test_an_unreadable_qos_string_costs_the_qos_not_the_messages(tmp_path: Path) -> None:
    written = _sqlite_recording(tmp_path / "odd_qos")
    with closing(sqlite3.connect(next((tmp_path / "odd_qos").glob("*.db3")))) as database:
        database.execute("UPDATE topics SET offered_qos_profiles = 'history: [' WHERE name = '/robot/status'")
        database.commit()
    report = recover_bag(tmp_path / "odd_qos", tmp_path / "fixed")
    assert report.left_out == [] and len(report.notes) == 1
    assert report.notes[0].startswith("topic /robot/status: QoS profiles unreadable")
    assert list(bag_messages(tmp_path / "fixed", ["/camera/image_raw", "/robot/status"])) == written
