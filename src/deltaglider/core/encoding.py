"""Encoding and decoding deltas: of a file's raw bytes, or of a container's content.

A delta is made with the codec that writes new deltas and decoded with the one its
metadata names. A container (a zip, wheel or jar, a `.tar.gz`, nested ones too) is
delta'd by its content: the delta is of its content form, made against the reference
and lined up with it, against the part of the reference it needs (ArchivePort;
docs/FORMAT.md, 8-9). A gzip file too large for that has the delta of its uncompressed
content, rewrapped by a recipe in its metadata, as before. Nothing is stored that has
not been decoded, rebuilt and checked first.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from deltaglider.core.errors import DiffError, DiffToolMissing, FormatError, IntegrityError
from deltaglider.core.metadata import DeltaMeta, recipe_fits
from deltaglider.core.policy import DeltaPolicy
from deltaglider.core.sketch import Sketch
from deltaglider.ports import (
    ArchivePort,
    ByteRanges,
    ContainerPort,
    DiffPort,
    ExternalDiff,
    FollowingDiff,
    HashingDiff,
    HashPort,
    LoggerPort,
    RangedDiff,
    Unpacked,
)

ARCHIVE_RECIPE = re.compile(r"v(?P<version>[0-9]{1,4})")
ARCHIVE_MAGIC = b"DGCD\x01"  # an archive delta's header, version 1
PACKING_CODEC = "zstd"  # a reference that compresses well is stored as its frame
SEGMENTED_CODEC = "zstd-segmented"  # what a `zstd` writer uses on large files
PACKS = 0.9  # of the file's size: below this the frame is stored instead
SAMPLE = 1024 * 1024  # bytes compressed first to judge whether the whole file would
CHUNK = 1024 * 1024
# Making a content form, or rebuilding a file from one, holds the reference, its base
# and the form in memory (ArchivePort.footprint: numpy's wheels 150-200 MB for an 18 MB
# reference, a Django sdist 160-300 MB for 10.6 MB). Those side by side (a recursive
# transfer) wait until their footprints fit in ARCHIVE_MEMORY, one at least running.
ARCHIVE_MEMORY = 256 * 1024 * 1024


@dataclass(frozen=True)
class Content:
    """A gzip file's uncompressed content, and the proven recipe that rewraps it."""

    container: ContainerPort
    path: Path
    sha256: str
    recipe: str


@dataclass
class Target:
    """A file being stored, and what encoding learnt of it (kept across attempts)."""

    path: Path
    sha256: str
    name: str
    work: Path
    gzip: Content | None = None
    gzip_tried: bool = False
    sketch: Sketch | None = None
    sketched: bool = False
    # Nothing in it opened (no container, or no stream a recipe rebuilds, stored or
    # copied): against another reference its form could at most copy compressed bytes,
    # which a raw delta finds as well, so it is not made again (an npm tarball). Also
    # set when a content form failed its proof: the file gets a raw delta instead.
    opened_nothing: bool = False


@dataclass(frozen=True)
class Encoded:
    """A delta checked to rebuild its file, and how: of the raw bytes (`container`
    None), of a container's content form (`unpacked` says what it holds), or of a gzip
    file's uncompressed content."""

    path: Path
    size: int
    container: str | None = None
    recipe: str | None = None
    unpacked: Unpacked | None = None
    proven: bool = False  # decoded and its file rebuilt exactly (Encoder.checked)
    codec: str = ""  # that made it ("": the encoder's own)


class Encoder:
    """Makes deltas with one codec and reads those of every codec it knows."""

    def __init__(
        self,
        *,
        diff: DiffPort,
        codecs: Mapping[str, DiffPort],
        containers: Mapping[str, ContainerPort],
        archive: ArchivePort | None,
        hasher: HashPort,
        policy: DeltaPolicy,
        logger: LoggerPort,
        tool: str,
    ) -> None:
        self.diff = diff
        self.codecs = {diff.codec: diff, **codecs}
        self.containers = dict(containers)
        self.archive = archive
        self.hasher = hasher
        self.policy = policy
        self.logger = logger
        self.tool = tool

    @property
    def codec(self) -> str:
        """The codec new deltas are made with."""
        return self.diff.codec

    def target(self, source: Path, sha256: str, name: str, work: Path) -> Target:
        return Target(source, sha256, name, work)

    def sketch(self, target: Target) -> Sketch | None:
        """The file's content sketch (made once per upload), None without an archive
        port to see inside files."""
        if not target.sketched:
            target.sketched = True
            if self.archive is not None:
                target.sketch = Sketch.of(self.archive.features(target.path))
        return target.sketch

    # ----------------------------------------------------------------- encoding

    def encode(self, reference: Path, target: Target) -> Encoded:
        """A delta of the file against `reference`: of its content where it is a
        container that rebuilds exactly, else of its raw bytes. Not yet proven: the
        caller decides whether to keep it, then has it `checked` before storing it."""
        found = self._try_archive(reference, target)
        if found is not None:
            return found
        delta = _fresh(target.work / "target.delta")
        content = self._gzip_content(target)
        if content is not None:
            ref_inner = _fresh(target.work / "reference.inner")
            if content.container.decompress(reference, ref_inner):
                diff = self._diff_for(ref_inner, content.path)
                diff.encode(ref_inner, content.path, delta)
                size = delta.stat().st_size
                return Encoded(
                    delta, size, content.container.kind, content.recipe, codec=diff.codec
                )
        diff = self._diff_for(reference, target.path)
        diff.encode(reference, target.path, delta)
        return Encoded(delta, delta.stat().st_size, codec=diff.codec)

    def checked(self, encoded: Encoded, reference: Path, target: Target) -> Encoded:
        """The delta, decoded (and its file rebuilt) as a reader would and its SHA256
        compared: what is stored must rebuild exactly. An archive delta is rebuilt from
        its decoded form, end to end, its proven streams taken from where the recipe
        search remembered them (deflate.Proven); should that ever fail, a delta of the
        raw bytes is made instead: the caller gets another delta back, and decides
        again whether to keep it."""
        if encoded.proven:
            return encoded
        work = target.work
        codec = self.codecs[encoded.codec or self.codec]
        if self.archive is not None and encoded.container == self.archive.kind:
            if self._rebuilds(reference, codec, encoded.path, target):
                return replace(encoded, proven=True)
            self.logger.warning("%s: its content form did not rebuild it: raw delta", target.name)
            target.opened_nothing = True
            again = self.encode(reference, target)
            return self.checked(again, reference, target)
        if encoded.container is not None and target.gzip is not None:
            inner = _fresh(work / "reference.inner")
            if not target.gzip.container.decompress(reference, inner):
                raise IntegrityError(f"{target.name}: its reference no longer decompresses")
            self._check_round_trip(codec, inner, encoded.path, target.gzip.sha256, work)
        else:
            self._check_round_trip(codec, reference, encoded.path, target.sha256, work)
        return replace(encoded, proven=True)

    def packed_reference(self, target: Target) -> tuple[Path, str] | None:
        """A zstd frame of a file that becomes a reference, when that is at most PACKS
        of its size (an uncompressed tar, an image, a binary): stored instead of the
        file, checked to decode to it first. None when it would not pay (a zip, a gzip),
        judged on the first SAMPLE bytes before the whole file is compressed."""
        codec = self.codecs.get(PACKING_CODEC)
        if codec is None:
            return None
        work = target.work
        empty = work / "empty"
        empty.write_bytes(b"")
        with target.path.open("rb") as source:
            (work / "sample").write_bytes(source.read(SAMPLE))
        codec.encode(empty, work / "sample", _fresh(work / "sample.packed"))
        if (work / "sample.packed").stat().st_size > PACKS * (work / "sample").stat().st_size:
            return None
        packed = _fresh(work / "reference.packed")
        codec.encode(empty, target.path, packed)
        if packed.stat().st_size > PACKS * target.path.stat().st_size:
            return None
        if self._decoded_sha256(codec, empty, packed, work) != target.sha256:
            raise IntegrityError(f"{codec.codec} produced a frame that does not decode")
        return packed, codec.codec

    def own_delta(self, target: Target) -> Encoded:
        """The delta of a file that becomes a reference, against itself: no bytes at
        all. Its metadata says the file is its reference's bytes (`dg-ref-sha256` equal to
        `dg-file-sha256`), which a reader fetches, checked by their SHA256, without
        decoding anything (FORMAT.md section 4): nothing to encode, nothing to prove.
        A codec that is a program this machine lacks fails here all the same, before
        anything is stored: the first version, not the second, says it is missing."""
        if isinstance(self.diff, ExternalDiff):
            self.diff.version()
        delta = _fresh(target.work / "own.delta")
        delta.touch()
        return Encoded(delta, 0, proven=True, codec=self.diff.codec)

    def _try_archive(self, reference: Path, target: Target) -> Encoded | None:
        """The delta of a container's content form against the part of the reference
        it needs; None when the file is not a container looked into (or nothing in it
        could be opened)."""
        if self.archive is None or not self.policy.unwrap_containers or target.opened_nothing:
            return None
        work = target.work
        form, base = _fresh(work / "target.form"), _fresh(work / "reference.base")
        coded = _fresh(work / "target.coded")
        with _ARCHIVE_GATE.holding(self.archive.footprint(reference)):
            unpacked = self.archive.unpack(target.path, reference, form, base)
            if unpacked is None or unpacked.copied + unpacked.deflated + unpacked.stored == 0:
                target.opened_nothing = True
                return None  # nothing in it opened: its raw bytes delta as well
            diff = self._diff_for(base, form)
            diff.encode(base, form, coded)
        delta = _fresh(work / "target.delta")
        header = archive_header(unpacked.needs, self.hasher.file_sha256(base))
        with delta.open("wb") as out, coded.open("rb") as body:
            out.write(header)
            shutil.copyfileobj(body, out, CHUNK)
        recipe = f"v{self.archive.version}"
        size = delta.stat().st_size
        return Encoded(delta, size, self.archive.kind, recipe, unpacked, codec=diff.codec)

    def _longest_codec(self) -> str:
        """The longest codec name a delta of this writer's may record (metadata room)."""
        segmented = SEGMENTED_CODEC if self.diff.codec == PACKING_CODEC else ""
        return max(self.codec, segmented, key=len)

    def _diff_for(self, source: Path, target: Path) -> DiffPort:
        """The codec for a delta between these files: a `zstd` writer's segmented one
        when they are large together (its memory does not follow their size)."""
        segmented = self.codecs.get(SEGMENTED_CODEC)
        if self.diff.codec != PACKING_CODEC or segmented is None:
            return self.diff
        size = source.stat().st_size + target.stat().st_size
        return segmented if size > self.policy.segmented_above else self.diff

    def _rebuilds(self, reference: Path, codec: DiffPort, delta: Path, target: Target) -> bool:
        """Whether an archive delta rebuilds the file exactly, read as a reader would."""
        check = _fresh(target.work / "check")
        try:
            self._rebuild_archive(reference, codec, delta, check, target.work)
            return self.hasher.file_sha256(check) == target.sha256
        finally:
            check.unlink(missing_ok=True)

    def _gzip_content(self, target: Target) -> Content | None:
        """A gzip file's uncompressed content, when a recipe rebuilds the file from it
        (found and proven once per upload)."""
        if not target.gzip_tried:
            target.gzip_tried = True
            target.gzip = self._unwrap_gzip(target)
        return target.gzip

    def _unwrap_gzip(self, target: Target) -> Content | None:
        kind = self.policy.container_for(target.name)
        container = self.containers.get(kind) if kind else None
        if container is None:
            return None
        inner = target.work / "target.inner"
        if not container.decompress(target.path, inner):
            return None
        recipe = container.find_recipe(target.path, inner)
        if recipe is None or not recipe_fits(
            recipe, container=container.kind, codec=self._longest_codec(), tool=self.tool
        ):
            self.logger.debug(
                "%s cannot be rebuilt bit-exactly, or its recipe does not fit S3's "
                "metadata: raw delta",
                target.name,
            )
            inner.unlink()
            return None
        return Content(container, inner, self.hasher.file_sha256(inner), recipe)

    def _check_round_trip(
        self, codec: DiffPort, reference: Path, delta: Path, sha256: str, work: Path
    ) -> None:
        """Decode a fresh delta before storing it: what is stored must rebuild exactly.
        (For a gzip file's content, `sha256` is the content's: its recipe was proven to
        rebuild the file from exactly those bytes.)"""
        if self._decoded_sha256(codec, reference, delta, work) != sha256:
            raise IntegrityError(f"{codec.codec} produced a delta that does not round-trip")

    def _decoded_sha256(self, codec: DiffPort, source: Path, delta: Path, work: Path) -> str:
        """The SHA256 of what a delta decodes to: hashed as it is decoded where the codec
        can (no copy of the file on disk), else of the decoded file."""
        if isinstance(codec, HashingDiff):
            return codec.decoded_sha256(source, delta)
        out = _fresh(work / "check")
        try:
            codec.decode(source, delta, out)
            return self.hasher.file_sha256(out)
        finally:
            out.unlink(missing_ok=True)

    # ----------------------------------------------------------------- decoding

    def check_decodable(self, meta: DeltaMeta, label: str) -> None:
        """FormatError, before anything is fetched, for a delta this reader cannot
        decode: an unknown codec, container or content form version."""
        if meta.codec not in self.codecs:
            raise FormatError(f"{label} was encoded with unknown codec {meta.codec!r}")
        if meta.container is None:
            return
        if self.archive is not None and meta.container == self.archive.kind:
            match = ARCHIVE_RECIPE.fullmatch(meta.recipe or "")
            if match is None:
                raise FormatError(f"{label} has a malformed content form recipe")
            if int(match["version"]) != self.archive.version:
                raise FormatError(
                    f"{label} is stored in content form version {match['version']}; this "
                    f"DeltaGlider reads version {self.archive.version}: upgrade DeltaGlider"
                )
        elif meta.container not in self.containers or meta.recipe is None:
            raise FormatError(f"{label} is stored in unknown container {meta.container!r}")

    def follows(self, meta: DeltaMeta) -> bool:
        """Whether this delta decodes while its reference is still being written: a
        delta of raw bytes by a codec that reads its source in stretches."""
        return isinstance(self.codecs.get(meta.codec), FollowingDiff) and self._of_raw_bytes(meta)

    def reads_ranges(self, meta: DeltaMeta) -> bool:
        """Whether this delta decodes from its reference's ranges where it is stored: a
        delta of raw bytes by a codec that reads only the stretches it names."""
        return isinstance(self.codecs.get(meta.codec), RangedDiff) and self._of_raw_bytes(meta)

    def decode_ranged(self, meta: DeltaMeta, reference: ByteRanges, delta: Path, out: Path) -> str:
        """Rebuild a delta's file (one that `reads_ranges`) into `out` from its
        reference's ranges; the SHA256 of what was written. A delta that does not decode
        is damaged, or its reference is not the one it was made against: IntegrityError."""
        codec = self.codecs[meta.codec]
        assert isinstance(codec, RangedDiff)
        try:
            return codec.decode_ranged(reference, delta, out)
        except DiffError as exc:
            raise IntegrityError(f"the stored delta is damaged ({exc})") from None

    def _of_raw_bytes(self, meta: DeltaMeta) -> bool:
        """A delta of the file's bytes as they are (not of a container's content)."""
        in_archive = self.archive is not None and meta.container == self.archive.kind
        return not in_archive and (meta.container is None or meta.recipe is None)

    def decode(
        self,
        meta: DeltaMeta,
        reference: Path,
        delta: Path,
        out: Path,
        work: Path,
        ready: Callable[[int], None] | None = None,
    ) -> str | None:
        """Rebuild a delta's file into `out`: decode it against its reference (its base
        form, or its uncompressed content, when the delta is of a container's), then
        rebuild the container. The SHA256 of `out` when the codec hashed it as it wrote
        it, else None. A delta that does not decode is damaged: IntegrityError.
        `ready` (when the delta `follows`) waits for the reference's first n bytes."""
        codec = self.codecs[meta.codec]
        if self.archive is not None and meta.container == self.archive.kind:
            self._rebuild_archive(reference, codec, delta, out, work)
            return None
        try:
            if meta.container is None or meta.recipe is None:
                if ready is not None and isinstance(codec, FollowingDiff):
                    return codec.decode_following(reference, delta, out, ready)
                if isinstance(codec, HashingDiff):
                    return codec.decode_hashed(reference, delta, out)
                codec.decode(reference, delta, out)
                return None
            container = self.containers[meta.container]
            if not container.decompress(reference, work / "ref.inner"):
                raise IntegrityError(f"reference {meta.ref_key} does not unwrap")
            codec.decode(work / "ref.inner", delta, work / "object.inner")
            container.rebuild(work / "object.inner", meta.recipe, out)
            return None
        except DiffToolMissing:
            raise
        except DiffError as exc:
            raise IntegrityError(f"the stored delta is damaged ({exc})") from None

    def _rebuild_archive(
        self, reference: Path, codec: DiffPort, delta: Path, out: Path, work: Path
    ) -> None:
        """Make the part of the reference the delta needs, decode the content form
        against it, and rebuild the file from the form (within ARCHIVE_MEMORY)."""
        assert self.archive is not None
        coded, base = _fresh(work / "object.coded"), _fresh(work / "object.base")
        form = _fresh(work / "object.form")
        try:
            with delta.open("rb") as source:
                needs, base_sha256 = read_archive_header(source)
                with coded.open("wb") as body:
                    shutil.copyfileobj(source, body, CHUNK)
            with _ARCHIVE_GATE.holding(self.archive.footprint(reference)):
                self.archive.base(reference, needs, base)
                if self.hasher.file_sha256(base) != base_sha256:
                    raise FormatError(
                        "the part of the reference it needs is not what its writer made (a "
                        "DeltaGlider whose content forms differ from this one's, or damage)"
                    )
                codec.decode(base, coded, form)
                self.archive.rebuild(form, reference, out)
        except DiffToolMissing:
            raise
        except (DiffError, FormatError) as exc:
            raise IntegrityError(f"the stored delta is damaged ({exc})") from None
        finally:
            for path in (coded, base, form):
                path.unlink(missing_ok=True)


class _MemoryGate:
    """Lets work estimated at some bytes start while what runs stays within `limit`
    (one piece of work at least, however large)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = threading.Condition()

    @contextmanager
    def holding(self, size: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self.used == 0 or self.used + size <= self.limit)
            self.used += size
        try:
            yield
        finally:
            with self._changed:
                self.used -= size
                self._changed.notify_all()


_ARCHIVE_GATE = _MemoryGate(ARCHIVE_MEMORY)


def archive_header(needs: bytes, base_sha256: str) -> bytes:
    """What an archive delta starts with: which part of the reference it was made
    against, and that part's SHA256 (docs/FORMAT.md 9.1)."""
    return ARCHIVE_MAGIC + varint(len(needs)) + needs + bytes.fromhex(base_sha256)


def read_archive_header(source: BinaryIO) -> tuple[bytes, str]:
    """The needs and base SHA256 an archive delta starts with; FormatError when it does
    not start with such a header."""
    if source.read(len(ARCHIVE_MAGIC)) != ARCHIVE_MAGIC:
        raise FormatError("no archive delta header")
    length = shift = 0
    while True:
        byte = source.read(1)
        if not byte or shift > 28:
            raise FormatError("malformed archive delta header")
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    needs = source.read(length)
    digest = source.read(32)
    if len(needs) != length or len(digest) != 32:
        raise FormatError("truncated archive delta header")
    return needs, digest.hex()


def varint(value: int) -> bytes:
    """`value` as an unsigned LEB128 varint (also the segmented codec's numbers)."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fresh(path: Path) -> Path:
    """`path`, with whatever an earlier attempt left there removed."""
    path.unlink(missing_ok=True)
    return path
