"""Publishing a local file, and how the command line stores what it uploads or copies.

The service reads a stream once and stores exactly what it read. A file on disk can be
written to while it is read, so the file is looked at before and after: a file that
changed meanwhile is refused (nothing stored), and a file that did not is stored with
its own modification time, as `sync` compares it later. A large file is not copied:
it is read again where it is by what stores it, which looks at it once more after its
last read and before anything is published. Its Content-Type is the one
given, else guessed from its name as `aws s3` guesses it.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deltaglider.core.attributes import Attributes
from deltaglider.core.errors import IntegrityError, LocalFileError
from deltaglider.core.models import ObjectKey, PutResult

if TYPE_CHECKING:
    from deltaglider.core.service import DeltaService
    from deltaglider.core.spool import Spooled

# Files larger are read where they are, not copied as they are hashed: the copy costs
# as much new page cache as the file, and a small one is read into memory anyway.
IN_PLACE_ABOVE = 64 * 1024 * 1024


@dataclass(frozen=True)
class StoreOptions:
    """The flags that say how uploads and copies are stored (`--no-delta`,
    `--content-type`, `--metadata`, `--metadata-directive`, `--no-guess-mime-type`, and
    the headers kept with the objects: `--cache-control`, `--expires`, ...)."""

    no_delta: bool = False
    content_type: str | None = None
    metadata: Mapping[str, str] | None = None
    metadata_directive: str | None = None  # COPY or REPLACE, for copies within S3
    guess_mime_type: bool = True
    headers: Mapping[str, str] | None = None  # Cache-Control, Expires, ... (lowercase names)

    def content_type_for(self, name: str) -> str | None:
        """The one given, else (unless told not to) the one `aws s3` guesses from the name."""
        if self.content_type is not None or not self.guess_mime_type:
            return self.content_type
        return mimetypes.guess_type(name)[0]

    def replacement(self) -> Attributes | None:
        """For a copy: the metadata to give it instead of the source's, None to keep the
        source's. As with aws, REPLACE is implied by --metadata alone: --content-type and
        the header flags change a copy only with --metadata-directive REPLACE."""
        if self.metadata_directive == "COPY" or (
            self.metadata_directive is None and self.metadata is None
        ):
            return None
        return Attributes(
            content_type=self.content_type,
            user_metadata=self.metadata or {},
            headers=self.headers or {},
        )


def copy(
    service: DeltaService, source: ObjectKey, dest: ObjectKey, options: StoreOptions
) -> PutResult:
    """Copy an object within S3, its metadata kept or replaced as the flags say."""
    return service.copy(source, dest, no_delta=options.no_delta, replace=options.replacement())


def publish(
    service: DeltaService, path: Path, dest: ObjectKey, options: StoreOptions = StoreOptions()
) -> PutResult:
    """Upload one local file to `dest`; LocalFileError when it cannot be read whole, or
    changed while it was read. A large file is read where it is, not copied: every
    store of it checks, before publishing, that it is still the file hashed."""
    try:
        before = path.stat()
        if not stat.S_ISREG(before.st_mode):
            raise LocalFileError(f"not a regular file: {path}")
        with _read(service, path, before) as spooled:
            if _changed(path, before) or spooled.size != before.st_size:
                raise _changed_error(path)
            mtime = datetime.fromtimestamp(before.st_mtime, UTC)
            try:
                return service.store(
                    dest,
                    spooled,
                    mtime=mtime,
                    content_type=options.content_type_for(path.name),
                    user_metadata=options.metadata,
                    headers=options.headers,
                    no_delta=options.no_delta,
                )
            except IntegrityError:  # a delta that did not rebuild the file hashed: why?
                if _changed(path, before):
                    raise _changed_error(path) from None
                raise
    except OSError as exc:
        raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None


def _read(
    service: DeltaService, path: Path, before: os.stat_result
) -> AbstractContextManager[Spooled]:
    """The file hashed: where it is when large, else copied as it is read."""
    if before.st_size > IN_PLACE_ABOVE:

        def unchanged() -> None:
            if _changed(path, before):
                raise _changed_error(path)

        return service.spool_file(path, unchanged)
    return _copied(service, path)


@contextmanager
def _copied(service: DeltaService, path: Path) -> Iterator[Spooled]:
    with path.open("rb") as stream, service.spool(stream) as spooled:
        yield spooled


def _changed(path: Path, before: os.stat_result) -> bool:
    """Whether the file is no longer the one looked at first: another size, time of
    modification or of change (which no one can set back), or another file."""
    now = path.stat()
    return (now.st_size, now.st_mtime_ns, now.st_ctime_ns, now.st_ino, now.st_dev) != (
        before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino, before.st_dev,
    )  # fmt: skip


def _changed_error(path: Path) -> LocalFileError:
    return LocalFileError(
        f"{path} changed while it was being read: nothing was stored "
        "(upload it once it is complete)"
    )
