"""Where the compressed streams of a container lie: zip, gzip and tar, found by content.

Each parser returns a Layout: the container's kind and its streams (byte ranges of the
container, in order, never overlapping), each with a name and how its bytes relate to
its content (`deflate`: a raw deflate stream of it; `stored`: the content itself).
Everything between streams (local headers, data descriptors, the central directory,
gzip headers and trailers, tar headers and padding) is left to the caller as it is.

These rules are part of the storage format (docs/FORMAT.md, section 9): a reference's
content form is made with them, and every later version must find the same streams in
the same bytes. So they are written here, not taken from zipfile or tarfile, whose
leniency may change from one Python to the next.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from deltaglider.adapters.deflate import inflate_prefix

Method = Literal["deflate", "stored"]
Kind = Literal["zip", "gzip", "tar"]

ZIP_EOCD = b"PK\x05\x06"
ZIP64_LOCATOR = b"PK\x06\x07"
ZIP64_EOCD = b"PK\x06\x06"
ZIP_CENTRAL = b"PK\x01\x02"
ZIP_LOCAL = b"PK\x03\x04"
ZIP_MAX_COMMENT = 0xFFFF
GZIP_MAGIC = b"\x1f\x8b\x08"
FHCRC, FEXTRA, FNAME, FCOMMENT = 0x02, 0x04, 0x08, 0x10
TAR_BLOCK = 512
TAR_FILE_TYPES = (b"0", b"\0", b"7")
HIGH_BYTES = bytes(range(128, 256))  # negative as signed chars (old tars sum those)


@dataclass(frozen=True)
class Stream:
    """A compressed (or stored) stream inside a container: `data[start:stop]`."""

    start: int
    stop: int
    name: bytes  # lines versions up: a zip entry's or tar member's name, a gzip member's index
    method: Method
    content: bytes | None = None  # the inflated content, when finding the stream needed it
    crc: int | None = None  # a zip entry's CRC32 of its content, as its directory records it
    size: int | None = None  # and its content's size


@dataclass(frozen=True)
class Layout:
    kind: Kind
    streams: list[Stream]


def parse(data: memoryview, limit: int) -> Layout | None:
    """The layout of `data` when it is a zip, gzip or tar (in that order of trying);
    None otherwise. `limit` bounds what a gzip member may inflate to."""
    return parse_zip(data) or parse_gzip(data, limit) or parse_tar(data)


# ----------------------------------------------------------------------------- zip


def parse_zip(data: memoryview) -> Layout | None:
    """A zip (PKWARE APPNOTE 6.3): found by its end of central directory record, whose
    comment must reach exactly to the end of the data; zip64 records honoured; bytes
    before the archive (a self-extractor) allowed. Entries deflated (method 8) or stored
    (0), unencrypted, are streams; other entries stay among the bytes between streams."""
    size = len(data)
    eocd = _find_eocd(data)
    if eocd is None:
        return None
    count, cd_size, cd_offset = (
        struct.unpack_from("<H", data, eocd + 10)[0],
        *struct.unpack_from("<II", data, eocd + 12),
    )
    cd_end = eocd
    locator = eocd - 20
    if locator >= 0 and data[locator : locator + 4] == ZIP64_LOCATOR:
        zip64 = _zip64_record(data, locator)
        if zip64 is None:
            return None
        cd_end, count, cd_size, cd_offset = zip64
    cd_start = cd_end - cd_size
    shift = cd_start - cd_offset  # bytes before the archive (self-extracting prefix)
    if cd_start < 0 or shift < 0:
        return None
    streams = _central_directory(data, cd_start, cd_end, count, shift)
    if streams is None:
        return None
    streams.sort(key=lambda s: s.start)
    end = 0
    for stream in streams:
        if stream.start < end or stream.stop > cd_start or stream.stop > size:
            return None  # overlapping entries, or data inside the central directory
        end = stream.stop
    return Layout("zip", streams)


def _find_eocd(data: memoryview) -> int | None:
    size = len(data)
    low = max(0, size - 22 - ZIP_MAX_COMMENT)
    tail = bytes(data[low:])
    at = len(tail)
    while (at := tail.rfind(ZIP_EOCD, 0, at)) >= 0:
        if len(tail) - at >= 22:
            (comment,) = struct.unpack_from("<H", tail, at + 20)
            if at + 22 + comment == len(tail):
                return low + at
    return None


def _zip64_record(data: memoryview, locator: int) -> tuple[int, int, int, int] | None:
    """(end of central directory, entries, its size, its offset) from the zip64 end of
    central directory record that the locator points at (shifted like the rest)."""
    (offset,) = struct.unpack_from("<Q", data, locator + 8)
    # The record sits right before the locator unless a zip64 extensible data sector
    # follows it; find it by its recorded offset, then by its place before the locator.
    for at in (offset, locator - 56):
        if 0 <= at <= locator - 56 and data[at : at + 4] == ZIP64_EOCD:
            count, cd_size, cd_offset = struct.unpack_from("<QQQ", data, at + 32)
            return at, count, cd_size, cd_offset
    return None


def _central_directory(
    data: memoryview, start: int, end: int, count: int, shift: int
) -> list[Stream] | None:
    streams: list[Stream] = []
    at = start
    for _ in range(count):
        if at + 46 > end or data[at : at + 4] != ZIP_CENTRAL:
            return None
        flags, method = struct.unpack_from("<HH", data, at + 8)
        csize, usize = struct.unpack_from("<II", data, at + 20)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        (local,) = struct.unpack_from("<I", data, at + 42)
        name = bytes(data[at + 46 : at + 46 + name_len])
        extra = data[at + 46 + name_len : at + 46 + name_len + extra_len]
        (crc,) = struct.unpack_from("<I", data, at + 16)
        csize, usize, local = _zip64_extra(extra, usize, csize, local)
        at += 46 + name_len + extra_len + comment_len
        if at > end:
            return None
        header = local + shift
        if header + 30 > len(data) or data[header : header + 4] != ZIP_LOCAL:
            return None
        local_name, local_extra = struct.unpack_from("<HH", data, header + 26)
        begin = header + 30 + local_name + local_extra
        if flags & 0x1 or method not in (0, 8):
            continue  # encrypted, or another compression: its bytes stay as they are
        method_name: Method = "deflate" if method == 8 else "stored"
        streams.append(Stream(begin, begin + csize, name, method_name, None, crc, usize))
    return streams


def _zip64_extra(extra: memoryview, usize: int, csize: int, local: int) -> tuple[int, int, int]:
    """Compressed size, size and local header offset, from the zip64 extra field where
    the central directory says 0xFFFFFFFF (its values in the order usize, csize, offset)."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            body = bytes(extra[at + 4 : at + 4 + length])
            values = iter(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if usize == 0xFFFFFFFF:
                usize = next(values, usize)
            if csize == 0xFFFFFFFF:
                csize = next(values, csize)
            if local == 0xFFFFFFFF:
                local = next(values, local)
            break
        at += 4 + length
    return csize, usize, local


# ----------------------------------------------------------------------------- gzip


def parse_gzip(data: memoryview, limit: int) -> Layout | None:
    """Gzip members (RFC 1952) one after another: each member's deflate stream is a
    stream (its header and CRC32/ISIZE trailer stay as they are); what follows the last
    member that parses stays too. None unless a member starts at the beginning."""
    streams: list[Stream] = []
    at = 0
    while data[at : at + 3] == GZIP_MAGIC:
        body = _gzip_header_end(data, at)
        if body is None:
            break
        found = inflate_prefix(data[body:], limit)
        if found is None or body + found[1] + 8 > len(data):
            break
        content, length = found
        streams.append(Stream(body, body + length, str(len(streams)).encode(), "deflate", content))
        at = body + length + 8
    return Layout("gzip", streams) if streams else None


def _gzip_header_end(data: memoryview, at: int) -> int | None:
    if at + 10 > len(data) or data[at + 3] & 0xE0:
        return None
    flags = data[at + 3]
    at += 10
    if flags & FEXTRA:
        if at + 2 > len(data):
            return None
        at += 2 + struct.unpack_from("<H", data, at)[0]
    for flag in (FNAME, FCOMMENT):
        if flags & flag:
            end = bytes(data[at : at + 65536]).find(0)  # header fields are short
            if end < 0:
                return None
            at += end + 1
    if flags & FHCRC:
        at += 2
    return at if at <= len(data) else None


# ----------------------------------------------------------------------------- tar


def parse_tar(data: memoryview) -> Layout | None:
    """A tar archive (POSIX ustar, pax and GNU forms): each regular member's data is a
    stored stream, named by its path (from a pax `path` record or a GNU long name when
    there is one). Reading stops at the end-of-archive block or at the first header
    that is not valid; None unless the first block is a valid header."""
    streams: list[Stream] = []
    at = 0
    long_name: bytes | None = None
    while at + TAR_BLOCK <= len(data):
        header = data[at : at + TAR_BLOCK]
        size = _tar_header_size(header)
        if size is None:
            break
        kind = bytes(header[156:157])
        begin = at + TAR_BLOCK
        stop = begin + size
        if stop > len(data):
            break
        if kind in (b"x", b"L"):
            long_name = _pax_path(data[begin:stop]) if kind == b"x" else _gnu_name(data[begin:stop])
        else:
            if kind in TAR_FILE_TYPES and size:
                streams.append(Stream(begin, stop, long_name or _ustar_name(header), "stored"))
            long_name = None
        at = begin + -(-size // TAR_BLOCK) * TAR_BLOCK
    if at == 0:
        return None
    return Layout("tar", streams)


def is_tar_header(block: bytes) -> bool:
    """Whether a 512-byte block is a valid tar header."""
    return len(block) >= TAR_BLOCK and _tar_header_size(memoryview(block)[:TAR_BLOCK]) is not None


def _tar_header_size(header: memoryview) -> int | None:
    """The member's size when `header` is a valid tar header (its checksum, counted
    with unsigned or signed bytes, matches); None otherwise, or for a zero block."""
    raw = bytes(header)
    if raw == bytes(TAR_BLOCK):
        return None
    recorded = _octal(raw[148:156])
    blanked = raw[:148] + b" " * 8 + raw[156:]
    unsigned = sum(blanked)
    signed = unsigned - 256 * (len(blanked) - len(blanked.translate(None, HIGH_BYTES)))
    if recorded is None or recorded not in (unsigned, signed):
        return None
    field = raw[124:136]
    if field[0] & 0x80:  # GNU base-256
        return int.from_bytes(field[1:], "big")
    return _octal(field)


def _octal(field: bytes) -> int | None:
    text = field.replace(b"\0", b" ").strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        return None


def _ustar_name(header: memoryview) -> bytes:
    name = bytes(header[0:100]).split(b"\0", 1)[0]
    if bytes(header[257:262]) == b"ustar":
        prefix = bytes(header[345:500]).split(b"\0", 1)[0]
        if prefix:
            return prefix + b"/" + name
    return name


def _gnu_name(data: memoryview) -> bytes:
    return bytes(data).split(b"\0", 1)[0]


def _pax_path(data: memoryview) -> bytes | None:
    """The `path` record of a pax extended header ("LEN path=VALUE\\n" records)."""
    raw = bytes(data)
    at = 0
    while at < len(raw):
        space = raw.find(b" ", at)
        if space < 0 or not raw[at:space].isdigit():
            return None
        length = int(raw[at:space])
        if length <= 0:
            return None
        record = raw[space + 1 : at + length - 1]
        key, _, value = record.partition(b"=")
        if key == b"path":
            return value
        at += length
    return None
