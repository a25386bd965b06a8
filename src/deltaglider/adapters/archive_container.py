"""ArchivePort over zlib: zip-family archives, gzip streams and tars looked into, nested.

A container's content form (content_form.py) is what the delta codec sees. For a new
version it is made against the reference and lined up with it: each stream copied from
the reference (its compressed bytes are the same), rebuilt by zlib from its content
(parameters found and proven by comparison), or kept as it is; containers inside
streams are looked into too, to MAX_DEPTH levels. The delta is made against the
reference's *base* (archive_reference.py): its streams that the version's changed
streams met, inflated (the rest of the reference is not needed, so neither making nor
reading a delta inflates more than what changed). Which streams those are (the *needs*)
travels with the delta.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import sys
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from deltaglider.adapters import content_form as form
from deltaglider.adapters import zlib_classic
from deltaglider.adapters.archive_footprint import footprint
from deltaglider.adapters.archive_reference import (
    MAX_DEPTH,
    STREAM_LIMIT,
    Budget,
    Ref,
    content_within,
    layout_within,
    reference_base,
)
from deltaglider.adapters.content_form import WHOLE, Buffer
from deltaglider.adapters.deflate import (
    Deflate,
    Found,
    find_params,
    prove,
    seconds,
)
from deltaglider.adapters.layouts import (
    GZIP_MAGIC,
    ZIP_EOCD,
    Stream,
    is_tar_header,
    parse,
    parse_tar,
)
from deltaglider.adapters.side_proofs import SideProofs, with_pieces
from deltaglider.ports.archive import Unpacked

if sys.version_info >= (3, 14):
    from compression.zstd import CompressionParameter as Option
    from compression.zstd import ZstdCompressor, ZstdDict
else:
    from backports.zstd import CompressionParameter as Option
    from backports.zstd import ZstdCompressor, ZstdDict

# Files larger than this are not looked into: their forms would not fit in memory.
FILE_LIMIT = 2 * 1024 * 1024 * 1024
TAIL = 22 + 0xFFFF  # where a zip's end of central directory record must be
BLOCK = 16 * 1024  # content per feature: an entry weighs by its size
MAX_FEATURES = 1024  # per entry
# A changed stream is re-deflated on download (stored as its content, `d`) only when its
# content delta saves at least this many bytes per second that deflating it takes;
# otherwise its compressed bytes are kept (`k`), copied on download (docs/FORMAT.md 9.1).
REDEFLATE_RATE = 1000 * 1000
ESTIMATE_LEVEL = 1  # zstd level of the per-stream delta estimate
PROVERS = min(4, os.cpu_count() or 1)  # streams proven side by side (zlib frees the GIL)


class ArchiveContainer:
    """Zip, gzip and tar containers found by content, their streams rebuilt bit-exactly."""

    kind = "archive"
    version = form.VERSION

    def __init__(self, rate: float = REDEFLATE_RATE) -> None:
        self.rate = rate

    def unpack(self, source: Path, reference: Path, out: Path, base: Path) -> Unpacked | None:
        if not _looks_like_container(source):
            return None
        try:
            return self._unpack(source, reference, out, base)
        finally:
            _give_back_memory()

    def _unpack(self, source: Path, reference: Path, out: Path, base: Path) -> Unpacked | None:
        data = memoryview(source.read_bytes())
        ref_data = memoryview(reference.read_bytes())
        with ThreadPoolExecutor(PROVERS) as provers:
            ref = Ref(ref_data, 0, 0, Budget())
            proofs = SideProofs(provers)
            tally = _Tally(rate=self.rate, proofs=proofs)
            node = _unpack(data, ref, 0, Budget(), tally)
            settled = proofs.settled()
            if settled is None:
                # A recipe right at its stream's start was wrong further on (rare): the
                # form is made again, each recipe proven before it is taken.
                ref = Ref(ref_data, 0, 0, Budget())
                tally = _Tally(rate=self.rate)
                node = _unpack(data, ref, 0, Budget(), tally)
            elif settled:
                node = with_pieces(node, settled)
        if not isinstance(node, form.Container):
            return None
        needs = ref.needs() if ref.kind == node.kind else WHOLE
        with out.open("wb") as dst:
            form.write_form(node, dst)
        with base.open("wb") as dst:
            form.write_form(reference_base(ref_data, 0, Budget(), needs, ref), dst)
        return Unpacked(
            tally.copied, tally.deflated, tally.stored, tally.kept, form.encode_needs(needs)
        )

    def footprint(self, path: Path) -> int:
        return footprint(path)

    def features(self, path: Path) -> Iterator[int]:
        """Hashes of what the file holds: an archive's entries (by CRC32 and size, one
        per BLOCK of entry), a gzip's or tar's members alike, else its blocks."""
        if not _looks_like_container(path):
            with path.open("rb") as file:
                yield from (
                    _hash(zlib.crc32(block)) for block in iter(lambda: file.read(BLOCK), b"")
                )
            return
        data = memoryview(path.read_bytes())
        layout = parse(data, STREAM_LIMIT)
        if layout is not None and layout.kind == "gzip" and len(layout.streams) == 1:
            content = layout.streams[0].content
            assert content is not None
            data = memoryview(content)
            layout = parse_tar(data)
        if layout is None:
            yield from (
                _hash(zlib.crc32(data[at : at + BLOCK])) for at in range(0, len(data), BLOCK)
            )
            return
        for stream in layout.streams:
            crc, size = stream.crc, stream.size
            if crc is None or size is None:
                crc, size = zlib.crc32(data[stream.start : stream.stop]), stream.stop - stream.start
            yield from (_hash(crc, size, i) for i in range(min(1 + size // BLOCK, MAX_FEATURES)))

    def base(self, reference: Path, needs: bytes, out: Path) -> None:
        wanted = form.decode_needs(needs)
        with out.open("wb") as dst:  # the reference's bytes freed before memory is given back
            form.write_form(
                reference_base(memoryview(reference.read_bytes()), 0, Budget(), wanted), dst
            )
        _give_back_memory()

    def rebuild(self, unpacked: Path, reference: Path, out: Path) -> None:
        try:
            _rebuild(unpacked, reference, out)
        finally:
            _give_back_memory()


def _rebuild(unpacked: Path, reference: Path, out: Path) -> None:
    node = form.read_form(memoryview(unpacked.read_bytes()))
    if form.count(node, form.Deflated):
        zlib_classic.require()  # a machine without classic zlib fails before writing
    with out.open("wb") as dst:
        form.rebuild(node, memoryview(reference.read_bytes()), dst)


def _give_back_memory() -> None:
    """Return the freed memory of a form's buffers to the system. glibc keeps what a
    thread freed in that thread's arena: a recursive download whose workers rebuild
    numpy's wheels one after another otherwise peaks at 460 MB, 340 MB with this. Not
    glibc (no malloc_trim): its allocator does as it does."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _hash(*values: int) -> int:
    """A 32-bit feature hash of a few numbers."""
    packed = b"".join(v.to_bytes(8, "little") for v in values)
    return int.from_bytes(hashlib.blake2b(packed, digest_size=4).digest(), "big")


def _looks_like_container(path: Path) -> bool:
    """A cheap look at the ends of a file before reading it whole."""
    size = path.stat().st_size
    if size > FILE_LIMIT or size < 22:
        return False
    with path.open("rb") as file:
        head = file.read(512)
        file.seek(max(0, size - TAIL))
        tail = file.read()
    return _container_ends(head, tail)


def _container_ends(head: bytes, tail: bytes) -> bool:
    """Whether the first 512 and last TAIL bytes are a gzip's, a zip's or a tar's."""
    return head.startswith(GZIP_MAGIC) or ZIP_EOCD in tail or is_tar_header(head)


@dataclass
class _Tally:
    rate: float  # REDEFLATE_RATE
    # Where recipes are proven while the form is made (None: one after another, each
    # before it is taken).
    proofs: SideProofs | None = None
    copied: int = 0
    deflated: int = 0
    kept: int = 0
    stored: int = 0
    last: list[Deflate] = field(default_factory=list)  # the parameters that worked last


# ----------------------------------------------------------------------------- a version


def _unpack(
    data: memoryview, ref: Ref | None, depth: int, budget: Budget, tally: _Tally
) -> form.Node:
    """A version's content form, lined up with the reference's (`ref`, same level)."""
    layout = layout_within(data, depth, budget)
    if layout is None:
        return form.Blob(data)
    if ref is not None and ref.kind != layout.kind:
        ref = None
    streams = layout.streams
    matches = [ref.match(s.name) if ref else None for s in streams]
    # The largest streams first: a proof in pieces (a wheel's 36 MB library) then runs on
    # the provers beside the rest of the form, instead of after it.
    made: dict[int, form.Copy | form.Kept | form.Stored | form.Deflated] = {}
    for index in sorted(range(len(streams)), key=lambda i: streams[i].start - streams[i].stop):
        made[index] = _stream(data, streams[index], ref, matches[index], depth, budget, tally)
    # Payloads go in the order of the reference's streams they met; new ones last.
    with_payload = [i for i, part in made.items() if not isinstance(part, form.Copy)]
    with_payload.sort(key=lambda i: (matches[i] is None, matches[i] or 0, i))
    slots = {index: slot for slot, index in enumerate(with_payload)}
    parts: list[form.Part] = []
    at = 0
    for index, stream in enumerate(streams):
        part = made[index]
        if stream.start > at:
            parts.append(form.Gap(data[at : stream.start]))
        parts.append(part if isinstance(part, form.Copy) else replace(part, slot=slots[index]))
        at = stream.stop
    if at < len(data):
        parts.append(form.Gap(data[at:]))
    return form.Container(layout.kind, parts)


def _stream(
    data: memoryview,
    stream: Stream,
    ref: Ref | None,
    match: int | None,
    depth: int,
    budget: Budget,
    tally: _Tally,
) -> form.Copy | form.Kept | form.Stored | form.Deflated:
    """How one stream of a version is made (its slot set later): copied from the
    reference, stored (its content nested), deflated by a proven recipe, or kept."""
    raw = data[stream.start : stream.stop]
    if ref is None or match is None:
        return _changed(data, stream, None, depth, budget, tally)
    if ref.offset is not None and ref.raw(match) == raw:
        tally.copied += 1
        return form.Copy(ref.offset + ref.streams[match].start, len(raw))
    child_ref = ref.child(match)
    part = _changed(data, stream, child_ref, depth, budget, tally)
    if isinstance(part, form.Kept):
        return part  # its compressed bytes as they are: the delta needs nothing of the match
    inner = (
        child_ref
        if isinstance(part, form.Stored)
        and ref.streams[match].method == "stored"
        and child_ref is not None
        and isinstance(part.child, form.Container)
        and part.child.kind == child_ref.kind
        else None
    )
    ref.use(match, inner)
    return part


def _changed(
    data: memoryview,
    stream: Stream,
    child_ref: Ref | None,
    depth: int,
    budget: Budget,
    tally: _Tally,
) -> form.Kept | form.Stored | form.Deflated:
    """A stream not copied: stored (its content a node), deflated (its content a node,
    its parameters proven), or kept as it is."""
    raw = data[stream.start : stream.stop]
    if stream.method == "stored":
        tally.stored += 1
        return form.Stored(0, _unpack(raw, child_ref, depth + 1, budget, tally))
    content = content_within(data, stream, budget)
    found = None
    if content is not None:
        first = tally.last[0] if tally.last else None
        found = find_params(content, raw, first, whole=False)
    if (
        content is None
        or found is None
        or (not _may_open(content, depth + 1) and not _pays(content, raw, found, child_ref, tally))
    ):
        tally.kept += 1
        return form.Kept(0, raw)
    pieces = None
    if not found.whole and tally.proofs is not None:
        # Proven beside the rest of the form; a proof that fails makes the form again.
        pieces = tally.proofs.take(content, raw, found.params)
    elif not found.whole and not prove(content, raw, found.params):
        # The start matched, not the rest: another candidate may rebuild all of it.
        found = find_params(content, raw, None, whole=True)
        if found is None:
            tally.kept += 1
            return form.Kept(0, raw)
    tally.last[:] = [found.params]
    tally.deflated += 1
    child = _unpack(memoryview(content), child_ref, depth + 1, budget, tally)
    return form.Deflated(0, found.params, child, pieces)


def _may_open(content: Buffer, depth: int) -> bool:
    """Whether a stream's content may be a container looked into: its own streams are
    judged one by one (_pays), not its bytes as a whole."""
    if depth >= MAX_DEPTH:
        return False
    return _container_ends(bytes(content[:512]), bytes(content[-TAIL:]))


def _pays(
    content: Buffer, raw: memoryview, found: Found, child_ref: Ref | None, tally: _Tally
) -> bool:
    """Whether storing a changed stream as its content (re-deflated on every download)
    saves at least `tally.rate` bytes per second of deflating (deflate.seconds), against
    keeping its compressed bytes: what it saves is estimated by a quick zstd delta of its
    content against its match's (or of its content alone, a new stream). A rate of 0 or
    less re-deflates every stream a recipe rebuilds."""
    if tally.rate <= 0:
        return True
    cost = tally.rate * seconds(len(content), found.params)
    if cost >= len(raw):
        return False  # it could not pay even if its delta were empty
    return len(raw) - _estimate(content, child_ref.data if child_ref else b"") >= cost


def _estimate(content: Buffer, match: Buffer) -> int:
    """The size of a quick zstd delta of `content` against `match`."""
    window = max(len(match) + len(content), 1)
    options: dict[int, int] = {
        Option.compression_level: ESTIMATE_LEVEL,
        Option.window_log: min(max((window - 1).bit_length(), 20), 30),
        # Without it a fast level indexes too little of a large match to find it.
        Option.enable_long_distance_matching: 1,
    }
    prefix = ZstdDict(match, is_raw=True).as_prefix if len(match) >= 8 else None
    compressor = ZstdCompressor(options=options, zstd_dict=prefix)
    return len(compressor.compress(content, ZstdCompressor.FLUSH_FRAME))
