"""The content form: a container file as one byte string a delta codec sees through.

A container (zip, gzip, tar; docs/FORMAT.md section 9) is its streams and the bytes
between them ("gaps": headers, central directory, trailers). Its content form lists
how each stream is made, then holds every gap, then every stream's payload, in the
order of the *reference's* streams of the same names, so that a version's changed
entries line up with the reference's. A stream is either

- `c` copied: its compressed bytes are the reference file's at an offset (no payload);
- `k` kept: its compressed bytes as they are (no recipe rebuilds them);
- `s` stored: its bytes are its content, itself a node (a tar member, a stored entry);
- `d` deflated: zlib with the given level, memLevel and strategy rebuilds it from its
  content, itself a node (proven when the form was made);
- `r` deflated in pieces: as `d`, each piece deflated on its own from its restart
  (deflate_pieces.py), the pieces' bits joined (proven piece by piece);
- `i` inflated: in a reference's form only (never rebuilt), the content of a stream.

Grammar (all integers unsigned LEB128 varints unless said otherwise):

    form     = "DGCF" u8(version=1) node
    node     = "B" varint(n) byte[n]                       ; bytes as they are
             | "C" kind varint(parts) part[parts] gaps payload*
    kind     = "z" | "g" | "t"                               ; zip, gzip, tar
    part     = "g" varint(n)                                 ; n bytes of `gaps`, in order
             | "c" varint(offset) varint(n)
             | "k" varint(slot) | "s" varint(slot) | "i" varint(slot)
             | "d" u8(level) u8(memLevel) u8(strategy) varint(slot)
             | "r" u8(level) u8(memLevel) u8(strategy) varint(stream length)
                   varint(n) (varint(content offset) varint(stream bit)){n} varint(slot)
    payload  = varint(n) byte[n]    ; slots 0, 1, ... in order: bytes for `k`, a node else

A container node rebuilds as its parts in order: gaps verbatim, streams as their
recipe says. Anything malformed, or a copy outside the reference, is a FormatError.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from deltaglider.adapters import deflate_pieces
from deltaglider.adapters.deflate import PROVEN, Deflate
from deltaglider.adapters.deflate_pieces import Pieces, Restart
from deltaglider.core import progress
from deltaglider.core.errors import FormatError

MAGIC = b"DGCF"
VERSION = 1
KINDS = {"zip": b"z", "gzip": b"g", "tar": b"t"}
KIND_NAMES = {code[0]: name for name, code in KINDS.items()}
# Deflates waiting to be written at once while rebuilding: bounds the memory they hold.
WINDOW = 8

Buffer = bytes | memoryview


@dataclass(frozen=True)
class Blob:
    data: Buffer


@dataclass(frozen=True)
class Gap:
    data: Buffer


@dataclass(frozen=True)
class Copy:
    offset: int  # in the reference file
    length: int


@dataclass(frozen=True)
class Kept:
    slot: int
    data: Buffer


@dataclass(frozen=True)
class Stored:
    slot: int
    child: Node


@dataclass(frozen=True)
class Deflated:
    slot: int
    params: Deflate
    child: Node
    pieces: Pieces | None = None  # deflated in pieces (`r`), else whole (`d`)


@dataclass(frozen=True)
class Inflated:
    slot: int
    child: Node


Part = Gap | Copy | Kept | Stored | Deflated | Inflated


@dataclass(frozen=True)
class Container:
    kind: str
    parts: list[Part]


Node = Blob | Container


# ----------------------------------------------------------------------------- writing


def write_form(node: Node, out: BinaryIO) -> None:
    """Write the content form of `node`."""
    out.write(MAGIC + bytes([VERSION]))
    for chunk in _chunks(node):
        out.write(chunk)


def _chunks(node: Node) -> list[Buffer]:
    if isinstance(node, Blob):
        return [b"B" + _varint(len(node.data)), node.data]
    head = bytearray(b"C" + KINDS[node.kind] + _varint(len(node.parts)))
    gaps: list[Buffer] = []
    payloads: dict[int, list[Buffer]] = {}
    for part in node.parts:
        if isinstance(part, Gap):
            head += b"g" + _varint(len(part.data))
            gaps.append(part.data)
        elif isinstance(part, Copy):
            head += b"c" + _varint(part.offset) + _varint(part.length)
        elif isinstance(part, Kept):
            head += b"k" + _varint(part.slot)
            payloads[part.slot] = [part.data]
        elif isinstance(part, Stored):
            head += b"s" + _varint(part.slot)
            payloads[part.slot] = _chunks(part.child)
        elif isinstance(part, Deflated):
            head += _deflated_spec(part) + _varint(part.slot)
            payloads[part.slot] = _chunks(part.child)
        else:
            head += b"i" + _varint(part.slot)
            payloads[part.slot] = _chunks(part.child)
    chunks: list[Buffer] = [bytes(head), *gaps]
    for slot in range(len(payloads)):
        payload = payloads[slot]
        chunks.append(_varint(sum(len(c) for c in payload)))
        chunks.extend(payload)
    return chunks


def _deflated_spec(part: Deflated) -> bytes:
    if part.pieces is None:
        return b"d" + bytes(part.params)
    restarts = part.pieces.restarts
    numbers = [part.pieces.length, len(restarts), *(n for r in restarts for n in r)]
    return b"r" + bytes(part.params) + b"".join(_varint(n) for n in numbers)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# ----------------------------------------------------------------------------- reading


def read_form(data: memoryview) -> Node:
    """The node a content form holds; FormatError when it is not one."""
    if bytes(data[:5]) != MAGIC + bytes([VERSION]):
        raise FormatError("not a content form of a version this reader knows")
    return _whole_node(data, 5, "malformed content form: bytes after its end")


class _Reader:
    def __init__(self, data: memoryview, at: int) -> None:
        self.data = data
        self.at = at

    def take(self, count: int) -> memoryview:
        if count > len(self.data) - self.at:
            raise FormatError("malformed content form: truncated")
        piece = self.data[self.at : self.at + count]
        self.at += count
        return piece

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise FormatError("malformed content form: number too large")

    def node(self) -> Node:
        tag = self.byte()
        if tag == ord("B"):
            return Blob(self.take(self.varint()))
        if tag != ord("C"):
            raise FormatError("malformed content form: unknown node")
        kind = KIND_NAMES.get(self.byte())
        if kind is None:
            raise FormatError("malformed content form: unknown container kind")
        specs = [self._part_spec() for _ in range(self.varint())]
        gaps = [Gap(self.take(length)) if tag == ord("g") else None for tag, length, _ in specs]
        slots = sum(1 for tag, _, _ in specs if tag in b"ksdri")
        payloads = [self.take(self.varint()) for _ in range(slots)]
        parts: list[Part] = []
        for (tag, number, params), gap in zip(specs, gaps, strict=True):
            parts.append(gap or _part(tag, number, params, payloads))
        return Container(kind, parts)

    def _part_spec(self) -> tuple[int, int, tuple[int, ...]]:
        tag = self.byte()
        if tag == ord("g"):
            return tag, self.varint(), ()
        if tag == ord("c"):
            return tag, self.varint(), (self.varint(),)
        if tag in b"dr":  # the parameters (and pieces) come before the slot
            params = [self.byte(), self.byte(), self.byte()]
            if tag == ord("r"):
                params.append(self.varint())
                params.extend(self.varint() for _ in range(2 * self.varint()))
            return tag, self.varint(), tuple(params)
        if tag in b"ksi":
            return tag, self.varint(), ()
        raise FormatError("malformed content form: unknown part")


def _part(tag: int, number: int, params: tuple[int, ...], payloads: list[memoryview]) -> Part:
    if tag == ord("c"):
        return Copy(number, params[0])
    if number >= len(payloads):
        raise FormatError("malformed content form: no such slot")
    payload = payloads[number]
    if tag == ord("k"):
        return Kept(number, payload)
    child = _whole_node(payload)
    if tag == ord("s"):
        return Stored(number, child)
    if tag == ord("i"):
        return Inflated(number, child)
    level, mem, strategy, *pieced = params
    if level > 9 or not 1 <= mem <= 9 or strategy > 4:
        raise FormatError("malformed content form: bad deflate parameters")
    pieces = None
    if tag == ord("r"):
        length, *offsets = pieced
        restarts = tuple(Restart(*offsets[at : at + 2]) for at in range(0, len(offsets), 2))
        if not restarts:
            raise FormatError("malformed content form: pieces without restarts")
        pieces = Pieces(restarts, length)
    return Deflated(number, Deflate(level, mem, strategy), child, pieces)


def _whole_node(
    data: memoryview,
    at: int = 0,
    excess: str = "malformed content form: a payload holds more than its node",
) -> Node:
    """The node that fills `data` from `at` to its end; FormatError `excess` if more."""
    reader = _Reader(data, at)
    node = reader.node()
    if reader.at != len(data):
        raise FormatError(excess)
    return node


# ----------------------------------------------------------------------------- needs


class Whole:
    """All of a stream (or of the reference): every stream in it inflated."""

    def __repr__(self) -> str:
        return "WHOLE"


WHOLE = Whole()
# What of the reference a delta is made against: all of it, or at each level some of
# the container's streams (by index), each whole or (a stored container) some of its own.
Needs = Whole | dict[int, "Needs"]


def encode_needs(needs: Needs) -> bytes:
    """needs = u8(1) | u8(2) varint(n) (varint(index - previous index - 1) needs)*n"""
    if isinstance(needs, Whole):
        return b"\x01"
    out = bytearray(b"\x02" + _varint(len(needs)))
    previous = -1
    for index in sorted(needs):
        out += _varint(index - previous - 1) + encode_needs(needs[index])
        previous = index
    return bytes(out)


def decode_needs(data: bytes) -> Needs:
    """The needs `encode_needs` wrote; FormatError when `data` is not exactly that."""
    reader = _Reader(memoryview(data), 0)
    needs = _needs(reader, 0)
    if reader.at != len(data):
        raise FormatError("malformed delta: bytes after its needs")
    return needs


def _needs(reader: _Reader, depth: int) -> Needs:
    tag = reader.byte()
    if tag == 1:
        return WHOLE
    if tag != 2 or depth > 16:
        raise FormatError("malformed delta: unknown needs")
    found: dict[int, Needs] = {}
    index = -1
    for _ in range(reader.varint()):
        index += reader.varint() + 1
        found[index] = _needs(reader, depth + 1)
    return found


# ----------------------------------------------------------------------------- rebuilding


def rebuild(node: Node, reference: memoryview, out: BinaryIO, threads: int | None = None) -> None:
    """Write the bytes `node` stands for: gaps verbatim, copies from `reference`, the
    top level's deflated streams compressed side by side on `threads` threads. The
    bytes written are reported to the transfer's progress watcher as they go out."""
    workers = threads or min(4, os.cpu_count() or 1)
    if not isinstance(node, Container):
        _write(node.data, out)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Buffer | Future[bytes]] = deque()
        for part in node.parts:
            if isinstance(part, Deflated):
                pending.append(pool.submit(_deflated, part, reference))
            else:
                pending.append(_part_bytes(part, reference))
            while len(pending) > WINDOW or (pending and not isinstance(pending[0], Future)):
                _write(pending.popleft(), out)
        while pending:
            _write(pending.popleft(), out)


def _write(piece: Buffer | Future[bytes], out: BinaryIO) -> None:
    data = piece.result() if isinstance(piece, Future) else piece
    out.write(data)
    progress.advance(len(data))


def _deflated(part: Deflated, reference: memoryview) -> bytes:
    content = node_bytes(part.child, reference)
    pieces = part.pieces
    if pieces is None:
        return PROVEN.deflate(content, part.params)
    return PROVEN.made(
        content, (part.params, pieces), lambda: deflate_pieces.rebuild(content, part.params, pieces)
    )


def node_bytes(node: Node, reference: memoryview) -> Buffer:
    """The bytes a node stands for, in memory."""
    if isinstance(node, Blob):
        return node.data
    return b"".join(_part_bytes(part, reference) for part in node.parts)


def _part_bytes(part: Part, reference: memoryview) -> Buffer:
    if isinstance(part, Gap):
        return part.data
    if isinstance(part, Copy):
        if part.offset + part.length > len(reference):
            raise FormatError("malformed content form: a copy outside the reference")
        return reference[part.offset : part.offset + part.length]
    if isinstance(part, Kept):
        return part.data
    if isinstance(part, Stored):
        return node_bytes(part.child, reference)
    if isinstance(part, Deflated):
        return _deflated(part, reference)
    raise FormatError("malformed content form: a reference's form cannot be rebuilt")


def walk(node: Node) -> Iterator[Part]:
    """Every part of a node, nested ones included (depth first)."""
    if isinstance(node, Container):
        for part in node.parts:
            yield part
            if isinstance(part, Stored | Deflated | Inflated):
                yield from walk(part.child)


def count(node: Node, kind: type[Part]) -> int:
    """How many parts of this kind a node holds, nested ones included."""
    return sum(1 for part in walk(node) if isinstance(part, kind))
