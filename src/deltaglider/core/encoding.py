"""Encoding and decoding deltas: of a file's raw bytes, or of a container's content.

A delta is made with the codec that writes new deltas and decoded with the one its
metadata names. A container (a zip, wheel or jar, a `.tar.gz`, nested ones too) is
delta'd by its content: the delta is of its content form, made against the reference
and lined up with it, against the reference's base form (ArchivePort;
docs/FORMAT.md, 8-9). A gzip file too large for that has the delta of its uncompressed
content, rewrapped by a recipe in its metadata, as before. Nothing is stored that has
not been decoded, rebuilt and checked first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deltaglider.core.bounded import RecentMap
from deltaglider.core.errors import DiffError, DiffToolMissing, FormatError, IntegrityError
from deltaglider.core.metadata import DeltaMeta, recipe_fits
from deltaglider.core.policy import DeltaPolicy
from deltaglider.ports import (
    ArchivePort,
    CachePort,
    ContainerPort,
    DiffPort,
    HashPort,
    LoggerPort,
    Unpacked,
)

ARCHIVE_RECIPE = re.compile(r"v(?P<version>[0-9]{1,4});base=(?P<base>[0-9a-f]{64})")
BASES_REMEMBERED = 64  # references whose base form's SHA256 a process remembers


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


class Encoder:
    """Makes deltas with one codec and reads those of every codec it knows."""

    def __init__(
        self,
        *,
        diff: DiffPort,
        codecs: Mapping[str, DiffPort],
        containers: Mapping[str, ContainerPort],
        archive: ArchivePort | None,
        cache: CachePort,
        hasher: HashPort,
        policy: DeltaPolicy,
        logger: LoggerPort,
        tool: str,
    ) -> None:
        self.diff = diff
        self.codecs = {diff.codec: diff, **codecs}
        self.containers = dict(containers)
        self.archive = archive
        self.cache = cache
        self.hasher = hasher
        self.policy = policy
        self.logger = logger
        self.tool = tool
        self._bases = RecentMap[str, str](BASES_REMEMBERED)  # reference SHA256 -> base's

    @property
    def codec(self) -> str:
        """The codec new deltas are made with."""
        return self.diff.codec

    def target(self, source: Path, sha256: str, name: str, work: Path) -> Target:
        return Target(source, sha256, name, work)

    # ----------------------------------------------------------------- encoding

    def encode(self, reference: Path, ref_sha256: str, target: Target) -> Encoded:
        """A delta of the file against `reference`: of its content where it is a
        container that rebuilds exactly, else of its raw bytes; checked to rebuild."""
        found = self._encode_archive(reference, ref_sha256, target)
        if found is not None:
            return found
        delta = target.work / "target.delta"
        content = self._gzip_content(target)
        if content is not None:
            ref_inner = target.work / "reference.inner"
            if content.container.decompress(reference, ref_inner):
                self.diff.encode(ref_inner, content.path, delta)
                self._check_round_trip(ref_inner, delta, content.sha256, target.work)
                size = delta.stat().st_size
                return Encoded(delta, size, content.container.kind, content.recipe)
        self.diff.encode(reference, target.path, delta)
        self._check_round_trip(reference, delta, target.sha256, target.work)
        return Encoded(delta, delta.stat().st_size)

    def self_delta(self, target: Target) -> Encoded:
        """The (tiny) delta of a file that becomes a reference, against itself: of its
        raw bytes, so reading it back needs no base form."""
        delta = _fresh(target.work / "own.delta")
        self.diff.encode(target.path, target.path, delta)
        self._check_round_trip(target.path, delta, target.sha256, target.work)
        return Encoded(delta, delta.stat().st_size)

    def _encode_archive(self, reference: Path, ref_sha256: str, target: Target) -> Encoded | None:
        """The delta of a container's content form against the reference's base form,
        decoded and rebuilt before it is trusted; None when the file is not a container
        this looks into (or nothing in it could be opened)."""
        if self.archive is None or not self.policy.unwrap_containers:
            return None
        work = target.work
        unpacked = self.archive.unpack(target.path, reference, _fresh(work / "target.form"))
        if unpacked is None or unpacked.copied + unpacked.deflated + unpacked.stored == 0:
            return None  # nothing in it opened: its raw bytes delta as well
        base, base_sha = self._base(reference, ref_sha256, work, None)
        delta = _fresh(work / "target.delta")
        self.diff.encode(base, work / "target.form", delta)
        check = _fresh(work / "check")
        self._rebuild_archive(base, reference, self.diff, delta, check, work)
        if self.hasher.file_sha256(check) != target.sha256:
            raise IntegrityError(f"{target.name}: its content form does not rebuild the file")
        check.unlink()
        recipe = f"v{self.archive.version};base={base_sha}"
        return Encoded(delta, delta.stat().st_size, self.archive.kind, recipe, unpacked)

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
            recipe, container=container.kind, codec=self.codec, tool=self.tool
        ):
            self.logger.debug(
                "%s cannot be rebuilt bit-exactly, or its recipe does not fit S3's "
                "metadata: raw delta",
                target.name,
            )
            inner.unlink()
            return None
        return Content(container, inner, self.hasher.file_sha256(inner), recipe)

    def _check_round_trip(self, reference: Path, delta: Path, sha256: str, work: Path) -> None:
        """Decode a fresh delta before storing it: what is stored must rebuild exactly.
        (For a gzip file's content, `sha256` is the content's: its recipe was proven to
        rebuild the file from exactly those bytes.)"""
        out = _fresh(work / "check")
        self.diff.decode(reference, delta, out)
        if self.hasher.file_sha256(out) != sha256:
            raise IntegrityError(f"{self.codec} produced a delta that does not round-trip")
        out.unlink()

    # ----------------------------------------------------------------- base forms

    def _base(
        self, reference: Path, ref_sha256: str, work: Path, expected: str | None
    ) -> tuple[Path, str]:
        """The reference's base form, from the cache when it holds it, and its SHA256;
        FormatError when it is not the `expected` one (another reader's base form)."""
        path = _fresh(work / "reference.base")
        known = expected or self._bases.get(ref_sha256)
        if known is not None and self.cache.fetch(known, path):
            if self.hasher.file_sha256(path) == known:
                return path, known
            self.logger.warning("cached base form %s failed verification: making it again", known)
            self.cache.discard(known)
            _fresh(path)
        assert self.archive is not None
        self.archive.base(reference, path)
        sha256 = self.hasher.file_sha256(path)
        if expected is not None and sha256 != expected:
            raise FormatError(
                "this DeltaGlider makes another content form of the reference than the "
                "delta's writer did: it cannot rebuild this object"
            )
        self.cache.store(sha256, path)
        self._bases.put(ref_sha256, sha256)
        return path, sha256

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

    def decode(self, meta: DeltaMeta, reference: Path, delta: Path, out: Path, work: Path) -> None:
        """Rebuild a delta's file into `out`: decode it against its reference (its base
        form, or its uncompressed content, when the delta is of a container's), then
        rebuild the container. A delta that does not decode is damaged: IntegrityError."""
        codec = self.codecs[meta.codec]
        if self.archive is not None and meta.container == self.archive.kind:
            match = ARCHIVE_RECIPE.fullmatch(meta.recipe or "")
            assert match is not None  # check_decodable came first
            base, _ = self._base(reference, meta.ref_sha256, work, match["base"])
            self._rebuild_archive(base, reference, codec, delta, out, work)
            return
        try:
            if meta.container is None or meta.recipe is None:
                codec.decode(reference, delta, out)
                return
            container = self.containers[meta.container]
            if not container.decompress(reference, work / "ref.inner"):
                raise IntegrityError(f"reference {meta.ref_key} does not unwrap")
            codec.decode(work / "ref.inner", delta, work / "object.inner")
            container.rebuild(work / "object.inner", meta.recipe, out)
        except DiffToolMissing:
            raise
        except DiffError as exc:
            raise IntegrityError(f"the stored delta is damaged ({exc})") from None

    def _rebuild_archive(
        self, base: Path, reference: Path, codec: DiffPort, delta: Path, out: Path, work: Path
    ) -> None:
        """Decode a content form against the base form, and rebuild the file from it."""
        assert self.archive is not None
        unpacked = _fresh(work / "object.form")
        try:
            codec.decode(base, delta, unpacked)
            self.archive.rebuild(unpacked, reference, out)
        except DiffToolMissing:
            raise
        except (DiffError, FormatError) as exc:
            raise IntegrityError(f"the stored delta is damaged ({exc})") from None
        finally:
            unpacked.unlink(missing_ok=True)


def _fresh(path: Path) -> Path:
    """`path`, with whatever an earlier attempt left there removed."""
    path.unlink(missing_ok=True)
    return path
