"""CRCs for the .mcap files of a rosbag2 folder, and their check before a bag is read.

rosbags writes correct MCAP but leaves every CRC 0 (MCAP's "not computed"), so a bag with
bytes overwritten in the middle reads as a normal, shorter or garbled bag. Bags we write are
therefore passed once through the mcap library's writer, which computes the chunk and data
CRCs (same schemas, channels, messages and times; metadata.yaml stays valid), and replay
checks them before it plays anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

MCAP_MAGIC = b"\x89MCAP0\r\n"
METADATA_NAME = "metadata.yaml"


class CorruptBagError(ValueError):
    """A bag file whose bytes do not match its CRCs, or cannot be parsed at all."""


def mcap_files(bag: Path) -> list[Path]:
    return sorted(bag.glob("*.mcap")) if bag.is_dir() else [bag] if bag.suffix == ".mcap" else []


def cut_off_reason(bag: Path) -> str | None:
    """Why ``bag`` (a rosbag2 folder or an .mcap file) looks like an interrupted recording, or None:
    an .mcap that does not end with MCAP's closing magic, or a folder of bag files with no metadata.yaml."""
    for path in mcap_files(bag):
        with open(path, "rb") as stream:
            stream.seek(max(path.stat().st_size - len(MCAP_MAGIC), 0))
            if stream.read() != MCAP_MAGIC:
                return f"{path.name} ends before its footer"
    if bag.is_dir() and not (bag / METADATA_NAME).exists() and any(bag.glob("*.mcap")):
        return f"it has no {METADATA_NAME}"
    return None


def add_crcs(path: Path) -> None:
    """Rewrite one .mcap file in place with chunk and data-section CRCs."""
    staging = path.with_name(path.name + ".crc-partial")
    with open(path, "rb") as source, open(staging, "wb") as target:
        reader = make_reader(source)
        header, summary = reader.get_header(), reader.get_summary()
        writer = Writer(target, compression=CompressionType.NONE, enable_crcs=True, enable_data_crcs=True)
        writer.start(header.profile, header.library)
        schema_ids: dict[int, int] = {}
        channel_ids: dict[int, int] = {}
        if summary is not None:  # every channel, those without messages included (metadata.yaml lists them)
            for schema in summary.schemas.values():
                schema_ids[schema.id] = writer.register_schema(schema.name, schema.encoding, schema.data)
            for channel in summary.channels.values():
                channel_ids[channel.id] = writer.register_channel(
                    channel.topic, channel.message_encoding, schema_ids.get(channel.schema_id, 0), channel.metadata
                )
        for message_schema, channel, message in reader.iter_messages(log_time_order=False):
            if message_schema is not None and message_schema.id not in schema_ids:
                schema_ids[message_schema.id] = writer.register_schema(
                    message_schema.name, message_schema.encoding, message_schema.data
                )
            if channel.id not in channel_ids:
                schema_id = schema_ids.get(channel.schema_id, 0)
                channel_ids[channel.id] = writer.register_channel(
                    channel.topic, channel.message_encoding, schema_id, channel.metadata
                )
            writer.add_message(
                channel_ids[channel.id], message.log_time, message.data, message.publish_time, message.sequence
            )
        writer.finish()
    os.replace(staging, path)


def verify_bag(bag: Path) -> int:
    """Read every message of every .mcap file of ``bag``, checking each chunk's CRC; returns the
    number of messages. Raises :class:`CorruptBagError` naming the file on any mismatch or
    unreadable record. Files written without CRCs (0) can only be checked for structure."""
    count = 0
    cut_off = cut_off_reason(bag)
    if cut_off:
        raise CorruptBagError(
            f"{bag}: a recording that was cut off ({cut_off}), not scored; `vlm-grasp recover {bag} --out FIXED` "
            "writes a playable copy of every complete message"
        )
    for path in mcap_files(bag):
        try:
            with open(path, "rb") as stream:
                reader = make_reader(stream, validate_crcs=True)
                for _ in reader.iter_messages(log_time_order=False):
                    count += 1
        except Exception as error:  # any parse failure of a damaged file: struct, EOF, mcap errors
            raise CorruptBagError(f"{path}: corrupt bag, not scored: {type(error).__name__}: {error}") from None
    return count
