"""How much memory a content form of a file holds at its peak, told from its headers.

Making a form, or rebuilding a file against a reference, holds the compressed bytes and
their content, inflated, several times over (the file's and the reference's, the form,
the base, the codec's window). What grows is the content: a Django sdist's 60 MB tar
(10.6 MB compressed) took 300 MB to upload and 160 MB to download beyond the process's
own; numpy's wheels (18 MB, 65 MB inflated) 150-200 MB. So the estimate counts the
content, read from where the format states it: a gzip's trailer, a zip's directory.
"""

from __future__ import annotations

import mmap
from pathlib import Path

from deltaglider.adapters.layouts import GZIP_MAGIC, parse_zip

PER_CONTENT = 4  # times the inflated content
PER_FILE = 2  # times the compressed bytes
GZIP_LEAST = 18  # bytes: a gzip's header and trailer


def footprint(path: Path) -> int:
    """About the bytes a content form of `path` holds at its peak (or a rebuild against
    it): a gzip's content by its trailer, a zip's entries by its central directory,
    anything else taken as its own content."""
    size = path.stat().st_size
    return PER_FILE * size + PER_CONTENT * max(size, _content_size(path, size))


def _content_size(path: Path, size: int) -> int:
    with path.open("rb") as file:
        head = file.read(len(GZIP_MAGIC))
        if head == GZIP_MAGIC and size >= GZIP_LEAST:
            file.seek(size - 4)
            # The size modulo 4 GiB: a content that large is not inflated into a form
            # (archive_reference.STREAM_LIMIT), the file itself held instead.
            return int.from_bytes(file.read(4), "little")
        if not head.startswith(b"PK"):
            return size
        # Mapped, not read: the footprint is taken before the memory is, and only the
        # directory's pages (and each entry's local header) are touched.
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                layout = parse_zip(view)
            finally:
                view.release()
    if layout is None:
        return size
    return sum(stream.size or stream.stop - stream.start for stream in layout.streams)
