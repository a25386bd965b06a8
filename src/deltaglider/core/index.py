"""The listing index: what a DeltaSpace's deltas stand for, readable in one request.

S3 listings carry no metadata, so the original size and time of `{name}.delta` would
cost a HEAD per object. Each DeltaSpace keeps `{prefix}.dg-index.json` beside its
reference: stored key -> (ETag, original size, original mtime), and for deltas the reference they
use and their own size, which is how the reference policy knows what deltas a DeltaSpace
usually gets. An entry is trusted only while its ETag equals the one the listing shows,
so a stale or lost index costs HEADs, never a wrong answer.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

INDEX_FORMAT = 1
KEPT_INDEXES = 8  # folders' indexes a listing keeps: nested folders interleave, no more


@dataclass(frozen=True)
class IndexEntry:
    etag: str
    size: int
    mtime: datetime
    ref: str | None = None  # the reference's name within the DeltaSpace
    delta_size: int | None = None
    file_etag: str | None = None  # the logical object's ETag (unquoted), as HEAD gives it
    form: str | None = None  # a delta's: "raw" or "content" (models.DeltaForm)


class FolderIndexes:
    """The listing indexes of the last few folders a listing walked, each fetched on
    first need (`load` a folder's index; a missing one reads, and is kept, as empty).

    A listing walks folders in key order, so a few suffice, and a prefix that is not a
    folder (`rel/app-1`) still finds its folder's index (`rel/.dg-index.json`).
    """

    def __init__(
        self, load: Callable[[str], dict[str, IndexEntry]], keep: int = KEPT_INDEXES
    ) -> None:
        self._load = load
        self._keep = keep
        self._kept: OrderedDict[str, dict[str, IndexEntry]] = OrderedDict()

    def get(self, folder: str) -> Mapping[str, IndexEntry]:
        found = self._kept.get(folder)
        if found is None:
            found = self._load(folder)
            if len(self._kept) >= self._keep:
                self._kept.popitem(last=False)
            self._kept[folder] = found
        self._kept.move_to_end(folder)
        return found


def parse_index(data: bytes) -> dict[str, IndexEntry]:
    """Entries of an index document; an unreadable document reads as empty."""
    try:
        document = json.loads(data)
        if document.get("format") != INDEX_FORMAT:
            return {}
        return {
            name: IndexEntry(
                str(e["etag"]),
                int(e["size"]),
                datetime.fromisoformat(e["mtime"]),
                str(e["ref"]) if "ref" in e else None,
                int(e["delta_size"]) if "delta_size" in e else None,
                str(e["file_etag"]) if "file_etag" in e else None,
                str(e["form"]) if "form" in e else None,
            )
            for name, e in document["entries"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def render_index(entries: Mapping[str, IndexEntry]) -> bytes:
    document = {
        "format": INDEX_FORMAT,
        "entries": {name: _rendered(e) for name, e in sorted(entries.items())},
    }
    return json.dumps(document, indent=0, sort_keys=True).encode()


def _rendered(entry: IndexEntry) -> dict[str, str | int]:
    fields: dict[str, str | int] = {
        "etag": entry.etag,
        "size": entry.size,
        "mtime": entry.mtime.isoformat(),
    }
    if entry.ref is not None:
        fields["ref"] = entry.ref
    if entry.delta_size is not None:
        fields["delta_size"] = entry.delta_size
    if entry.file_etag is not None:
        fields["file_etag"] = entry.file_etag
    if entry.form is not None:
        fields["form"] = entry.form
    return fields
