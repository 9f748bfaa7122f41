"""Playable copies of recordings that were cut off.

A recorder that is killed or crashes (power loss, OOM, a robot e-stop) leaves an .mcap file
without its summary and footer, and a bag folder without metadata.yaml; rosbags and `ros2 bag
play` refuse both. MCAP is written as a stream of self-contained records, so everything up to
the last complete record can be read in order: :func:`recover_bag` does that for each .mcap file
of a bag (checking chunk CRCs where the recorder wrote them, so damaged bytes stop the copy
instead of entering it) and writes a new rosbag2 folder, metadata.yaml and CRCs included, with
the same topics, types, definitions, QoS profiles and times. What was lost is reported: the
messages of the last, incomplete record are the only ones a cut-off recording cannot give back.

Written here rather than taken from a tool: `mcap recover` (the Go CLI) and `ros2 bag reindex`
are not installable from PyPI, and together they are what this does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.metadata import parse_qos
from rosbags.typesys import get_types_from_msg
from rosbags.typesys.store import Typestore

from vlm_grasp_ros.bags.mcap_integrity import add_crcs, mcap_files
from vlm_grasp_ros.bags.typestore import BAG_VERSION, grasp_typestore


class RecoveryError(ValueError):
    """Nothing in the source can be recovered (no .mcap file, or none with a complete message)."""


@dataclass
class RecoveryReport:
    messages_by_topic: Counter[str] = field(default_factory=Counter)
    #: Per source file that did not read to its end: where and why it stopped.
    stopped: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(self.messages_by_topic.values())


def _connection(writer: Writer, schema: Schema | None, channel: Channel, typestore: Typestore) -> Connection:
    """The rosbags connection for one MCAP channel: type, definition and hash from its schema."""
    if schema is None or not schema.name:
        raise RecoveryError(f"channel {channel.topic} has no schema; its messages cannot be typed")
    msgtype = schema.name
    msgdef = schema.data.decode("utf-8")
    if schema.encoding == "ros2msg" and msgtype not in typestore.fielddefs:
        typestore.register(get_types_from_msg(msgdef, msgtype))  # a type this store does not know
    try:
        rihs01 = channel.metadata.get("type_description_hash") or typestore.hash_rihs01(msgtype)
    except KeyError:
        raise RecoveryError(
            f"channel {channel.topic}: type {msgtype} is unknown and its schema cannot define it"
        ) from None
    qos = channel.metadata.get("offered_qos_profiles", "")
    return writer.add_connection(
        channel.topic,
        msgtype,
        msgdef=msgdef,
        rihs01=rihs01,
        serialization_format=channel.message_encoding,
        offered_qos_profiles=parse_qos(qos) if qos else [],
    )


def _copy_records(
    source: Path,
    writer: Writer,
    typestore: Typestore,
    report: RecoveryReport,
    by_topic: dict[tuple[str, str], Connection],
) -> None:
    """Copy one file's complete messages; ``by_topic`` holds the connections of the files before
    (a split recording declares its topics again in each file, with ids of its own)."""
    schemas: dict[int, Schema] = {}
    connections: dict[int, Connection] = {}
    channels: dict[int, Channel] = {}
    before = report.messages
    with open(source, "rb") as stream:
        records = iter(StreamReader(stream, validate_crcs=True).records)
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except Exception as error:  # the cut, or damaged bytes: EOF, CRC, zstd or lz4, struct errors
                reason = type(error).__name__ + (f": {error}" if str(error) else "")
                copied = report.messages - before
                report.stopped.append(f"{source.name}: stopped after {copied} complete messages ({reason})")
                return
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
            elif isinstance(record, Message):
                channel = channels.get(record.channel_id)
                if channel is None:
                    raise RecoveryError(f"{source}: a message on channel {record.channel_id}, never declared")
                if channel.id not in connections:
                    schema = schemas.get(channel.schema_id)
                    key = (channel.topic, schema.name if schema else "")
                    if key not in by_topic:
                        by_topic[key] = _connection(writer, schema, channel, typestore)
                    connections[channel.id] = by_topic[key]
                writer.write(connections[channel.id], record.log_time, record.data)
                report.messages_by_topic[channel.topic] += 1


def recover_bag(source: Path, target: Path) -> RecoveryReport:
    """Copy every complete message of ``source`` (a rosbag2 folder of .mcap files, or one .mcap
    file) into a new rosbag2 folder ``target`` (must not exist), with metadata.yaml and CRCs."""
    files = mcap_files(source)
    if not files:
        raise RecoveryError(f"{source}: no .mcap file to recover (sqlite3 bags: `ros2 bag reindex` rebuilds them)")
    report = RecoveryReport()
    typestore = grasp_typestore.__wrapped__()  # a fresh store: the bag's own types are added to it
    writer = Writer(target, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    try:
        by_topic: dict[tuple[str, str], Connection] = {}
        for path in files:
            _copy_records(path, writer, typestore, report, by_topic)
    finally:
        writer.close()
    if not report.messages:
        raise RecoveryError(f"{source}: not one complete message to recover ({'; '.join(report.stopped)})")
    for path in mcap_files(target):
        add_crcs(path)
    return report
