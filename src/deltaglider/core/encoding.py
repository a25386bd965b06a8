"""Encoding and decoding deltas: of a file's raw bytes, or of a container's content.

A delta is made with the codec that writes new deltas and decoded with the one its
metadata names. For a compressed container (a `.tar.gz`) whose stream rebuilds
bit-exactly from its content, the delta is of the uncompressed content against the
uncompressed reference, and the container's recipe rewraps it (docs/FORMAT.md, 8-9).
Nothing is stored that has not been decoded and checked first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deltaglider.core.errors import DiffError, DiffToolMissing, FormatError, IntegrityError
from deltaglider.core.metadata import DeltaMeta, recipe_fits
from deltaglider.core.policy import DeltaPolicy
from deltaglider.ports import ContainerPort, DiffPort, HashPort, LoggerPort


@dataclass(frozen=True)
class Content:
    """A container file's uncompressed content, and the proven recipe that rewraps it."""

    container: ContainerPort
    path: Path
    sha256: str
    recipe: str


@dataclass(frozen=True)
class Encoded:
    """A delta checked to rebuild its file; `content` set when it is of the content."""

    path: Path
    size: int
    content: Content | None


class Encoder:
    """Makes deltas with one codec and reads those of every codec it knows."""

    def __init__(
        self,
        *,
        diff: DiffPort,
        codecs: Mapping[str, DiffPort],
        containers: Mapping[str, ContainerPort],
        hasher: HashPort,
        policy: DeltaPolicy,
        logger: LoggerPort,
        tool: str,
    ) -> None:
        self.diff = diff
        self.codecs = {diff.codec: diff, **codecs}
        self.containers = dict(containers)
        self.hasher = hasher
        self.policy = policy
        self.logger = logger
        self.tool = tool

    @property
    def codec(self) -> str:
        """The codec new deltas are made with."""
        return self.diff.codec

    def unwrap(self, source: Path, name: str, work: Path) -> Content | None:
        """The file's uncompressed content, when it is a container that can be rebuilt
        byte for byte from it (the recipe is found and proven once per upload)."""
        kind = self.policy.container_for(name)
        container = self.containers.get(kind) if kind else None
        if container is None:
            return None
        inner = work / "target.inner"
        if not container.decompress(source, inner):
            return None
        recipe = container.find_recipe(source, inner)
        if recipe is None or not recipe_fits(
            recipe, container=container.kind, codec=self.codec, tool=self.tool
        ):
            self.logger.debug(
                "%s cannot be rebuilt bit-exactly, or its recipe does not fit S3's "
                "metadata: raw delta",
                name,
            )
            inner.unlink()
            return None
        return Content(container, inner, self.hasher.file_sha256(inner), recipe)

    def encode(
        self, reference: Path, source: Path, sha256: str, content: Content | None, work: Path
    ) -> Encoded:
        """A delta of `source` against `reference` (of the uncompressed content where both
        sides unwrap), checked to rebuild the file exactly."""
        delta = work / "target.delta"
        if content is not None:
            ref_inner = work / "reference.inner"
            if content.container.decompress(reference, ref_inner):
                self.diff.encode(ref_inner, content.path, delta)
                self._check_round_trip(ref_inner, delta, content.sha256, work)
                return Encoded(delta, delta.stat().st_size, content)
        self.diff.encode(reference, source, delta)
        self._check_round_trip(reference, delta, sha256, work)
        return Encoded(delta, delta.stat().st_size, None)

    def self_delta(self, source: Path, sha256: str, content: Content | None, work: Path) -> Encoded:
        """The (tiny) delta of a file that becomes a reference, against itself."""
        if content is not None:
            source, sha256 = content.path, content.sha256
        delta = work / "own.delta"
        self.diff.encode(source, source, delta)
        self._check_round_trip(source, delta, sha256, work)
        return Encoded(delta, delta.stat().st_size, content)

    def _check_round_trip(self, reference: Path, delta: Path, sha256: str, work: Path) -> None:
        """Decode a fresh delta before storing it: what is stored must rebuild exactly.
        (For a container's content, `sha256` is the content's: its recipe was proven to
        rebuild the file from exactly those bytes.)"""
        out = work / "check"
        self.diff.decode(reference, delta, out)
        if self.hasher.file_sha256(out) != sha256:
            raise IntegrityError(f"{self.codec} produced a delta that does not round-trip")
        out.unlink()

    def check_decodable(self, meta: DeltaMeta, label: str) -> None:
        """FormatError, before anything is fetched, for a delta this reader cannot
        decode: an unknown codec or container."""
        if meta.codec not in self.codecs:
            raise FormatError(f"{label} was encoded with unknown codec {meta.codec!r}")
        if meta.container is not None and (
            meta.container not in self.containers or meta.recipe is None
        ):
            raise FormatError(f"{label} is stored in unknown container {meta.container!r}")

    def decode(self, meta: DeltaMeta, reference: Path, delta: Path, out: Path, work: Path) -> None:
        """Rebuild a delta's file into `out`: decode it against its reference (unwrapped
        first when the delta is of a container's content), then rewrap it. A delta that
        does not decode is damaged: IntegrityError."""
        codec = self.codecs[meta.codec]
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
