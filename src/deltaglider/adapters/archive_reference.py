"""The reference's side of a content form (archive_container.py): its streams at each
level, matched by name to a version's (`Ref`), and its *base*, the part of it a delta is
made against: the streams the version's changed streams met, inflated, and the gaps
between streams. A base is a pure function of the reference's bytes and the needs, so a
reader makes the same one as the writer did.

The limits below decide what a base holds: they are part of the storage format
(docs/FORMAT.md section 9), fixed for version 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from deltaglider.adapters import content_form as form
from deltaglider.adapters.content_form import WHOLE, Buffer, Needs
from deltaglider.adapters.deflate import inflate
from deltaglider.adapters.layouts import Layout, Stream, parse
from deltaglider.core.errors import FormatError

MAX_DEPTH = 4  # containers looked into: the file, and three levels of nesting inside it
STREAM_LIMIT = 256 * 1024 * 1024  # a stream inflating to more stays as it is
TOTAL_LIMIT = 1024 * 1024 * 1024  # inflated bytes in one form; streams after that stay
MIN_ALIKE = 8  # characters two names in one folder share to be taken for one file renamed


@dataclass
class Budget:
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


def layout_within(data: memoryview, depth: int, budget: Budget) -> Layout | None:
    return parse(data, budget.limit) if depth < MAX_DEPTH else None


def content_within(
    data: memoryview, stream: Stream, budget: Budget, known: Buffer | None = None
) -> Buffer | None:
    """A deflated stream's content, within the budget (None: it stays as it is); `known`,
    its content when it was inflated before."""
    if known is not None:
        return known if budget.take(len(known)) else None
    if stream.content is not None:
        return stream.content if budget.take(len(stream.content)) else None
    content = inflate(data[stream.start : stream.stop], budget.limit)
    return content if content is not None and budget.take(len(content)) else None


def reference_base(
    data: memoryview, depth: int, budget: Budget, needs: Needs, known: Ref | None = None
) -> form.Node:
    """The part of the reference a delta is made against: with WHOLE, every stream
    inflated (`i`), stored streams as their content (`s`), nested alike; with a map of
    stream indices, the container's gaps and only those streams, in the file's order.
    `known`: the same level of the reference as the writer's search saw it, whose layout
    (when parsed within the same limit) and streams already inflated are taken from it
    rather than found again."""
    if known is not None and known.limit == budget.limit:
        layout = known.layout  # what parsing `data` again would give: parse is pure
    else:
        layout = layout_within(data, depth, budget)
    if layout is None:
        if not isinstance(needs, form.Whole):
            raise FormatError("malformed delta: it needs streams of a reference that has none")
        return form.Blob(data)
    if isinstance(needs, dict) and needs and max(needs) >= len(layout.streams):
        raise FormatError("malformed delta: it needs a stream the reference does not have")
    parts: list[form.Part] = []
    at = slot = 0
    for index, stream in enumerate(layout.streams):
        if stream.start > at:
            parts.append(form.Gap(data[at : stream.start]))
        at = stream.stop
        need = WHOLE if isinstance(needs, form.Whole) else needs.get(index)
        if need is None:
            continue
        slot += 1
        raw = data[stream.start : stream.stop]
        inner = known.known_child(index) if known is not None else None
        if stream.method == "stored":
            parts.append(form.Stored(slot - 1, reference_base(raw, depth + 1, budget, need, inner)))
        elif not isinstance(need, form.Whole):
            raise FormatError("malformed delta: it needs streams inside a deflated stream")
        else:
            known_content = inner.data if inner is not None else None
            content = content_within(data, stream, budget, known_content)
            if content is None:
                parts.append(form.Kept(slot - 1, raw))
            else:
                child = reference_base(memoryview(content), depth + 1, budget, WHOLE, inner)
                parts.append(form.Inflated(slot - 1, child))
    if at < len(data):
        parts.append(form.Gap(data[at:]))
    return form.Container(layout.kind, parts)


class Ref:
    """The reference's streams at one level, by name, with their place in the reference
    file when they lie there as they are (`offset`), their contents parsed on demand;
    and which of them a version's changed streams met (what its delta needs)."""

    def __init__(self, data: memoryview, offset: int | None, depth: int, budget: Budget):
        self.data = data
        self.offset = offset
        self.depth = depth
        self.budget = budget
        self.limit = budget.limit  # what a gzip's content may inflate to, in `layout`
        self.layout = layout = layout_within(data, depth, budget)
        self.streams = layout.streams if layout else []
        self.kind = layout.kind if layout else None
        self._names: dict[bytes, int] = {}
        self._stripped: dict[bytes, int] = {}
        self._basenames: dict[bytes, int] = {}
        self._folders: dict[bytes, list[int]] = {}
        for index, stream in enumerate(self.streams):
            self._names.setdefault(stream.name, index)
            self._stripped.setdefault(_strip(stream.name), index)
            folder, _, base = stream.name.rpartition(b"/")
            self._basenames.setdefault(base, index)
            self._folders.setdefault(folder, []).append(index)
        self._children: dict[int, Ref | None] = {}
        self._used: dict[int, Ref | None] = {}  # None: all of it

    def match(self, name: bytes) -> int | None:
        """The reference's stream of this name; failing that, of this name without its
        first path component (`pkg-1.0/setup.py` for `pkg-1.1/setup.py`); of the same
        last path component (a file moved to another folder); or, in the same folder,
        of the most alike name with the same extension (`libz-3f2a.so` for `libz-9c1b.so`,
        `function_base.py` for `_function_base_impl.py`): the part of the reference the
        delta is made against holds the streams matched."""
        for names, key in (
            (self._names, name),
            (self._stripped, _strip(name)),
            (self._basenames, name.rpartition(b"/")[2]),
        ):
            found = names.get(key)
            if found is not None:
                return found
        folder, _, base = name.rpartition(b"/")
        scored = (
            (_alike(base, self.streams[i].name.rpartition(b"/")[2]), -i)
            for i in self._folders.get(folder, ())
        )
        score, index = max(scored, default=(0, 0))
        return -index if score >= MIN_ALIKE else None

    def raw(self, index: int) -> memoryview:
        stream = self.streams[index]
        return self.data[stream.start : stream.stop]

    def child(self, index: int) -> Ref | None:
        if index not in self._children:
            stream = self.streams[index]
            if stream.method == "stored":
                offset = None if self.offset is None else self.offset + stream.start
                self._children[index] = Ref(self.raw(index), offset, self.depth + 1, self.budget)
            else:
                content = content_within(self.data, stream, self.budget)
                self._children[index] = (
                    None
                    if content is None
                    else Ref(memoryview(content), None, self.depth + 1, self.budget)
                )
        return self._children[index]

    def known_child(self, index: int) -> Ref | None:
        """Stream `index`'s level, when the search already made it."""
        return self._children.get(index)

    def use(self, index: int, inner: Ref | None) -> None:
        """A changed stream met stream `index`: the delta needs it (only `inner`'s used
        streams, when it is a stored container looked into alike)."""
        if index in self._used and self._used[index] is not inner:
            self._used[index] = None
        else:
            self._used[index] = inner

    def needs(self) -> Needs:
        return {i: WHOLE if inner is None else inner.needs() for i, inner in self._used.items()}


def _alike(one: bytes, other: bytes) -> int:
    """How alike two file names are: 0 unless they end in the same extension, else the
    length of the longest run of characters they share."""
    if one.rpartition(b".")[2] != other.rpartition(b".")[2]:
        return 0
    return SequenceMatcher(None, one, other, autojunk=False).find_longest_match().size


def _strip(name: bytes) -> bytes:
    return name.split(b"/", 1)[1] if b"/" in name else name
