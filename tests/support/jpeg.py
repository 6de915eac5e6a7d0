"""JPEG metadata by hand (no imaging library in the venv): an EXIF block with a camera make,
an orientation and a GPS position, spliced into a JPEG; and a reader of the segments a JPEG
carries before its pixels, to show what a client left in (or took out of) a picture."""

from __future__ import annotations

import struct

ASCII, SHORT, LONG, RATIONAL, BYTE = 2, 3, 4, 5, 1


def _ifd(entries: list[tuple[int, int, int, bytes]], at: int) -> tuple[bytes, bytes]:
    """A little-endian IFD placed at offset `at`: its table and the out-of-line values after it."""
    table = struct.pack("<H", len(entries))
    data = b""
    data_at = at + 2 + 12 * len(entries) + 4
    for tag, kind, count, value in sorted(entries):
        if len(value) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_at + len(data))
            data += value + (b"\0" if len(value) % 2 else b"")
    return table + struct.pack("<I", 0), data


def _degrees(value: float) -> bytes:
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60 * 100)
    return struct.pack("<IIIIII", d, 1, m, 1, s, 100)


def gps_exif(make: str, latitude: float, longitude: float, orientation: int = 1) -> bytes:
    """A TIFF/EXIF block: IFD0 (Make, Orientation, GPS pointer) and a GPS IFD (north/east)."""
    make_bytes = make.encode() + b"\0"
    ifd0_entries_count = 3
    gps_at = 8 + 2 + 12 * ifd0_entries_count + 4 + len(make_bytes) + len(make_bytes) % 2
    ifd0, ifd0_data = _ifd(
        [
            (0x010F, ASCII, len(make_bytes), make_bytes),
            (0x0112, SHORT, 1, struct.pack("<H", orientation)),
            (0x8825, LONG, 1, struct.pack("<I", gps_at)),
        ],
        8,
    )
    gps, gps_data = _ifd(
        [
            (0x0000, BYTE, 4, bytes([2, 3, 0, 0])),
            (0x0001, ASCII, 2, b"N\0"),
            (0x0002, RATIONAL, 3, _degrees(latitude)),
            (0x0003, ASCII, 2, b"E\0"),
            (0x0004, RATIONAL, 3, _degrees(longitude)),
        ],
        gps_at,
    )
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd0 + ifd0_data
    assert len(tiff) == gps_at
    return tiff + gps + gps_data


def with_metadata(jpeg: bytes, exif: bytes, comment: bytes) -> bytes:
    """`jpeg` with an APP1 Exif segment and a comment (COM) segment right after its SOI."""
    assert jpeg[:2] == b"\xff\xd8", "not a JPEG"
    app1 = b"Exif\0\0" + exif
    com = comment
    return (
        jpeg[:2]
        + b"\xff\xe1"
        + struct.pack(">H", len(app1) + 2)
        + app1
        + b"\xff\xfe"
        + struct.pack(">H", len(com) + 2)
        + com
        + jpeg[2:]
    )


def segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the pixels (SOS), e.g. 0xE1 = APP1 (EXIF/XMP)."""
    assert jpeg[:2] == b"\xff\xd8", "not a JPEG"
    out: list[tuple[int, bytes]] = []
    at = 2
    while at + 4 <= len(jpeg):
        assert jpeg[at] == 0xFF, f"no marker at {at}"
        marker = jpeg[at + 1]
        if marker == 0xFF:
            at += 1
            continue
        if marker in (0xDA, 0xD9):
            break
        (length,) = struct.unpack(">H", jpeg[at + 2 : at + 4])
        out.append((marker, jpeg[at + 4 : at + 2 + length]))
        at += 2 + length
    return out


def dimensions(jpeg: bytes) -> tuple[int, int]:
    """(width, height) from the JPEG's frame header (SOF0…SOF15 but DHT/JPG/DAC)."""
    for marker, payload in segments(jpeg):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", payload[1:5])
            return width, height
    raise AssertionError("no frame header")
