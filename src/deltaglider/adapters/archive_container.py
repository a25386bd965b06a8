"""ArchivePort over zlib: zip-family archives, gzip streams and tars looked into, nested.

A container's content form (content_form.py) is what the delta codec sees: for the
reference, every stream inflated (its *base* form, a pure function of its bytes, made
the same way by every reader); for a new version, lined up with the reference, each
stream either copied from the reference (its compressed bytes are the same), rebuilt by
zlib from its content (parameters found and proven by comparison), or kept as it is.
Containers inside streams are looked into too, to MAX_DEPTH levels.

The limits below decide what a reference's base form holds: they are part of the
storage format (docs/FORMAT.md section 9), fixed for version 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from deltaglider.adapters import content_form as form
from deltaglider.adapters.deflate import Deflate, find_params, inflate
from deltaglider.adapters.layouts import (
    GZIP_MAGIC,
    ZIP_EOCD,
    Layout,
    Stream,
    is_tar_header,
    parse,
)
from deltaglider.ports.archive import Unpacked

MAX_DEPTH = 4  # containers looked into: the file, and three levels of nesting inside it
STREAM_LIMIT = 256 * 1024 * 1024  # a stream inflating to more stays as it is
TOTAL_LIMIT = 1024 * 1024 * 1024  # inflated bytes in one form; streams after that stay
# Files larger than this are not looked into: their forms would not fit in memory.
FILE_LIMIT = 2 * 1024 * 1024 * 1024
TAIL = 22 + 0xFFFF  # where a zip's end of central directory record must be


class ArchiveContainer:
    """Zip, gzip and tar containers found by content, their streams rebuilt bit-exactly."""

    kind = "archive"
    version = form.VERSION

    def base(self, reference: Path, out: Path) -> None:
        data = memoryview(reference.read_bytes())
        with out.open("wb") as dst:
            form.write_form(_base(data, 0, _Budget()), dst)

    def unpack(self, source: Path, reference: Path, out: Path) -> Unpacked | None:
        if not _looks_like_container(source):
            return None
        data = memoryview(source.read_bytes())
        ref = _Ref(memoryview(reference.read_bytes()), 0, 0, _Budget())
        tally = _Tally()
        node = _unpack(data, ref, 0, _Budget(), tally)
        if isinstance(node, form.Blob):
            return None
        with out.open("wb") as dst:
            form.write_form(node, dst)
        return Unpacked(tally.copied, tally.deflated, tally.stored, tally.kept)

    def rebuild(self, unpacked: Path, reference: Path, out: Path) -> None:
        node = form.read_form(memoryview(unpacked.read_bytes()))
        with out.open("wb") as dst:
            form.rebuild(node, memoryview(reference.read_bytes()), dst)


def _looks_like_container(path: Path) -> bool:
    """A cheap look at the ends of a file before reading it whole."""
    size = path.stat().st_size
    if size > FILE_LIMIT or size < 22:
        return False
    with path.open("rb") as file:
        head = file.read(512)
        file.seek(max(0, size - TAIL))
        tail = file.read()
    return head.startswith(GZIP_MAGIC) or ZIP_EOCD in tail or is_tar_header(head)


@dataclass
class _Budget:
    """Inflated bytes a form may still hold."""

    left: int = TOTAL_LIMIT

    @property
    def limit(self) -> int:
        return min(STREAM_LIMIT, self.left)

    def take(self, size: int) -> bool:
        if size > self.limit:
            return False
        self.left -= size
        return True


@dataclass
class _Tally:
    copied: int = 0
    deflated: int = 0
    kept: int = 0
    stored: int = 0
    last: list[Deflate] = field(default_factory=list)  # the parameters that worked last


def _layout(data: memoryview, depth: int, budget: _Budget) -> Layout | None:
    return parse(data, budget.limit) if depth < MAX_DEPTH else None


def _content(data: memoryview, stream: Stream, budget: _Budget) -> bytes | None:
    """A deflated stream's content, within the budget (None: it stays as it is)."""
    if stream.content is not None:
        return stream.content if budget.take(len(stream.content)) else None
    content = inflate(data[stream.start : stream.stop], budget.limit)
    return content if content is not None and budget.take(len(content)) else None


# ----------------------------------------------------------------------------- base form


def _base(data: memoryview, depth: int, budget: _Budget) -> form.Node:
    """A reference's base form: every stream inflated, in the file's order."""
    layout = _layout(data, depth, budget)
    if layout is None:
        return form.Blob(data)
    parts: list[form.Part] = []
    at = 0
    for slot, stream in enumerate(layout.streams):
        if stream.start > at:
            parts.append(form.Gap(data[at : stream.start]))
        raw = data[stream.start : stream.stop]
        if stream.method == "stored":
            parts.append(form.Stored(slot, _base(raw, depth + 1, budget)))
        else:
            content = _content(data, stream, budget)
            if content is None:
                parts.append(form.Kept(slot, raw))
            else:
                parts.append(form.Inflated(slot, _base(memoryview(content), depth + 1, budget)))
        at = stream.stop
    if at < len(data):
        parts.append(form.Gap(data[at:]))
    return form.Container(layout.kind, parts)


# ----------------------------------------------------------------------------- a version


class _Ref:
    """The reference's streams at one level, by name, with their place in the reference
    file when they lie there as they are (`offset`), their contents parsed on demand."""

    def __init__(self, data: memoryview, offset: int | None, depth: int, budget: _Budget):
        self.data = data
        self.offset = offset
        self.depth = depth
        self.budget = budget
        layout = _layout(data, depth, budget)
        self.streams = layout.streams if layout else []
        self.kind = layout.kind if layout else None
        self._names: dict[bytes, int] = {}
        self._stripped: dict[bytes, int] = {}
        for index, stream in enumerate(self.streams):
            self._names.setdefault(stream.name, index)
            self._stripped.setdefault(_strip(stream.name), index)
        self._children: dict[int, _Ref | None] = {}

    def match(self, name: bytes) -> int | None:
        """The reference's stream of this name (or, failing that, of this name without
        its first path component: `pkg-1.0/setup.py` lines up with `pkg-1.1/setup.py`)."""
        found = self._names.get(name)
        return found if found is not None else self._stripped.get(_strip(name))

    def raw(self, index: int) -> memoryview:
        stream = self.streams[index]
        return self.data[stream.start : stream.stop]

    def child(self, index: int | None) -> _Ref | None:
        if index is None:
            return None
        if index not in self._children:
            stream = self.streams[index]
            if stream.method == "stored":
                offset = None if self.offset is None else self.offset + stream.start
                self._children[index] = _Ref(self.raw(index), offset, self.depth + 1, self.budget)
            else:
                content = _content(self.data, stream, self.budget)
                self._children[index] = (
                    None
                    if content is None
                    else _Ref(memoryview(content), None, self.depth + 1, self.budget)
                )
        return self._children[index]


def _strip(name: bytes) -> bytes:
    return name.split(b"/", 1)[1] if b"/" in name else name


def _unpack(
    data: memoryview, ref: _Ref | None, depth: int, budget: _Budget, tally: _Tally
) -> form.Node:
    """A version's content form, lined up with the reference's (`ref`, same level)."""
    layout = _layout(data, depth, budget)
    if layout is None:
        return form.Blob(data)
    same_kind = ref is not None and ref.kind == layout.kind
    matches = [ref.match(s.name) if ref and same_kind else None for s in layout.streams]
    made = [
        _stream(data, stream, ref if same_kind else None, match, depth, budget, tally)
        for stream, match in zip(layout.streams, matches, strict=True)
    ]
    # Payloads go in the order of the reference's streams of the same names; new ones last.
    with_payload = [i for i, part in enumerate(made) if not isinstance(part, form.Copy)]
    with_payload.sort(key=lambda i: (matches[i] is None, matches[i] or 0, i))
    slots = {index: slot for slot, index in enumerate(with_payload)}
    parts: list[form.Part] = []
    at = 0
    for index, (stream, part) in enumerate(zip(layout.streams, made, strict=True)):
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
    ref: _Ref | None,
    match: int | None,
    depth: int,
    budget: _Budget,
    tally: _Tally,
) -> form.Copy | form.Kept | form.Stored | form.Deflated:
    """How one stream of a version is made (its slot set later): copied from the
    reference, stored (its content nested), deflated by a proven recipe, or kept."""
    raw = data[stream.start : stream.stop]
    if ref is not None and match is not None and ref.offset is not None and ref.raw(match) == raw:
        tally.copied += 1
        return form.Copy(ref.offset + ref.streams[match].start, len(raw))
    child_ref = ref.child(match) if ref is not None else None
    if stream.method == "stored":
        tally.stored += 1
        return form.Stored(0, _unpack(raw, child_ref, depth + 1, budget, tally))
    content = _content(data, stream, budget)
    params = None
    if content is not None:
        params = find_params(content, raw, tally.last[0] if tally.last else None)
    if content is None or params is None:
        tally.kept += 1
        return form.Kept(0, raw)
    tally.last[:] = [params]
    tally.deflated += 1
    child = _unpack(memoryview(content), child_ref, depth + 1, budget, tally)
    return form.Deflated(0, params, child)
