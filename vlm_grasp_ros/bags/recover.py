"""Playable copies of recordings that were cut off.

A recorder that is killed or crashes (power loss, OOM, a robot e-stop) leaves an .mcap file
without its summary and footer, and a bag folder without metadata.yaml; rosbags and `ros2 bag
play` refuse both. (A .db3 keeps every committed message; only its metadata.yaml is missing, and
its messages are copied the same way.) MCAP is written as a stream of self-contained records, so everything up to
the last complete record can be read in order: :func:`recover_bag` does that for each .mcap file
of a bag (checking chunk CRCs where the recorder wrote them, so damaged bytes stop the copy
instead of entering it) and writes a new rosbag2 folder, metadata.yaml and CRCs included, with
the same topics, types, definitions, QoS profiles and times. What was lost is reported: the
messages of the last, incomplete record are the only ones a cut-off recording cannot give back.

Written here rather than taken from a tool: `mcap recover` (the Go CLI) and `ros2 bag reindex`
are not installable from PyPI, and together they are what this does.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.interfaces import Connection, Qos
from rosbags.rosbag2 import ReaderError, StoragePlugin, Writer
from rosbags.rosbag2.metadata import parse_qos
from rosbags.typesys import TypesysError, get_types_from_msg
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
    #: Topics that could not be typed (a sqlite3 bag from before definitions were stored, with a
    #: message type nobody here knows): named, and their messages left out.
    left_out: list[str] = field(default_factory=list)
    #: Topics copied whole but without what could not be read of them (their QoS profiles).
    notes: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(self.messages_by_topic.values())


def _add_connection(
    writer: Writer,
    typestore: Typestore,
    topic: str,
    msgtype: str,
    msgdef: str,
    rihs01: str,
    serialization_format: str,
    qos: list[Qos],
) -> Connection:
    """One topic of the recovered bag, with the definition, hash and QoS the recording gave it."""
    if msgdef and not msgdef.startswith("=" * 80 + "\nIDL: ") and msgtype not in typestore.fielddefs:
        typestore.register(get_types_from_msg(msgdef, msgtype))  # a type this store does not know
    try:
        msgdef = msgdef or typestore.generate_msgdef(msgtype)[0]
        rihs01 = rihs01 or typestore.hash_rihs01(msgtype)
    except (KeyError, TypesysError):
        raise RecoveryError(f"topic {topic}: type {msgtype} is unknown and the recording does not define it") from None
    return writer.add_connection(
        topic,
        msgtype,
        msgdef=msgdef,
        rihs01=rihs01,
        serialization_format=serialization_format,
        offered_qos_profiles=qos,
    )


@dataclass
class _RecoveredBag:
    """The bag being written, shared by every source file: a split recording declares its topics
    again in each file (with ids of its own), so connections are kept by (topic, type)."""

    writer: Writer
    typestore: Typestore
    report: RecoveryReport
    connections: dict[tuple[str, str], Connection] = field(default_factory=dict)

    def connection(
        self, topic: str, msgtype: str, msgdef: str, rihs01: str, serialization_format: str, qos: str
    ) -> Connection:
        """The topic's connection, added on first sight with what the recording says of it."""
        if (topic, msgtype) not in self.connections:
            try:
                profiles = parse_qos(qos) if qos else []
            except (ReaderError, ValueError) as error:  # a damaged QoS string costs the QoS, not the messages
                profiles = []
                self.report.notes.append(f"topic {topic}: QoS profiles unreadable ({error}); copied without them")
            self.connections[(topic, msgtype)] = _add_connection(
                self.writer, self.typestore, topic, msgtype, msgdef, rihs01, serialization_format, profiles
            )
        return self.connections[(topic, msgtype)]

    def write(self, connection: Connection, time_ns: int, data: bytes) -> None:
        self.writer.write(connection, time_ns, data)
        self.report.messages_by_topic[connection.topic] += 1

    def stopped(self, source: Path, since: int, reason: str) -> None:
        copied = self.report.messages - since
        self.report.stopped.append(f"{source.name}: stopped after {copied} complete messages ({reason})")


def _mcap_connection(bag: _RecoveredBag, schema: Schema | None, channel: Channel) -> Connection:
    if schema is None or not schema.name:
        raise RecoveryError(f"channel {channel.topic} has no schema; its messages cannot be typed")
    return bag.connection(
        channel.topic,
        schema.name,
        schema.data.decode("utf-8"),
        channel.metadata.get("type_description_hash", ""),
        channel.message_encoding,
        channel.metadata.get("offered_qos_profiles", ""),
    )


def _copy_records(source: Path, bag: _RecoveredBag) -> None:
    """Copy one .mcap file's complete messages, in file order, up to the first record that cannot be read."""
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    connections: dict[int, Connection] = {}
    before = bag.report.messages
    with open(source, "rb") as stream:
        records = iter(StreamReader(stream, validate_crcs=True).records)
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except Exception as error:  # the cut, or damaged bytes: EOF, CRC, zstd or lz4, struct errors
                bag.stopped(source, before, type(error).__name__ + (f": {error}" if str(error) else ""))
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
                    connections[channel.id] = _mcap_connection(bag, schemas.get(channel.schema_id), channel)
                bag.write(connections[channel.id], record.log_time, record.data)


def _sqlite_topics(database: sqlite3.Connection) -> list[tuple[int, str, str, str, str, str, str]]:
    """(id, name, type, serialization, QoS, hash, definition) per topic, from the tables of any
    rosbag2 version (Humble's have no hash column and no message_definitions table)."""
    columns = {row[1] for row in database.execute("PRAGMA table_info(topics)")}
    hash_column = "type_description_hash" if "type_description_hash" in columns else "''"
    definitions: dict[str, str] = {}
    if database.execute("SELECT 1 FROM sqlite_master WHERE name = 'message_definitions'").fetchone():
        definitions = dict(database.execute("SELECT topic_type, encoded_message_definition FROM message_definitions"))
    query = f"SELECT id, name, type, serialization_format, offered_qos_profiles, {hash_column} FROM topics"
    return [(*row, definitions.get(row[2], "")) for row in database.execute(query)]


def _copy_sqlite(source: Path, bag: _RecoveredBag) -> None:
    """Copy one .db3 file's messages. SQLite commits survive a killed recorder, so what is lost is
    only metadata.yaml; the database is read from a copy (with its -wal journal, if any) so that
    recovering never writes to the recording."""
    before = bag.report.messages
    with tempfile.TemporaryDirectory(prefix="vlm_grasp_recover_") as scratch:
        for part in source.parent.glob(source.name + "*"):  # the .db3 and its -wal / -shm files
            shutil.copy2(part, Path(scratch) / part.name)
        try:
            with closing(sqlite3.connect(Path(scratch) / source.name)) as database:
                connections: dict[int, Connection] = {}
                for topic_id, name, msgtype, serialization, qos, rihs01, msgdef in _sqlite_topics(database):
                    try:
                        connections[topic_id] = bag.connection(name, msgtype, msgdef, rihs01, serialization, qos)
                    except RecoveryError as error:
                        bag.report.left_out.append(str(error))
                rows = database.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp, id")
                for topic_id, timestamp, data in rows:
                    if topic_id in connections:
                        bag.write(connections[topic_id], timestamp, data)
        except sqlite3.DatabaseError as error:  # a damaged file: keep what was read before it
            bag.stopped(source, before, f"{type(error).__name__}: {error}")


def recover_bag(source: Path, target: Path) -> RecoveryReport:
    """Copy every complete message of ``source`` (a rosbag2 folder of .mcap or .db3 files, or one
    such file) into a new rosbag2 folder ``target`` (must not exist), with metadata.yaml and CRCs."""
    files = mcap_files(source)
    databases = sorted(source.glob("*.db3")) if source.is_dir() else [source] if source.suffix == ".db3" else []
    if not files and not databases:
        raise RecoveryError(f"{source}: no .mcap or .db3 file to recover")
    report = RecoveryReport()
    writer = Writer(target, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
    # A fresh typestore: the recording's own types are added to it.
    bag = _RecoveredBag(writer, grasp_typestore.__wrapped__(), report)
    writer.open()
    try:
        for path in files:
            _copy_records(path, bag)
        for path in databases:
            _copy_sqlite(path, bag)
    finally:
        writer.close()
    if not report.messages:
        raise RecoveryError(f"{source}: not one complete message to recover ({'; '.join(report.stopped)})")
    for path in mcap_files(target):
        add_crcs(path)
    return report
