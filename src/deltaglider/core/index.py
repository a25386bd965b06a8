"""The listing index: what a DeltaSpace's deltas stand for, readable in one request.

S3 listings carry no metadata, so the original size and time of `{name}.delta` would
cost a HEAD per object. Each DeltaSpace keeps `{prefix}.dg-index.json` beside its
reference: stored key -> (ETag, original size, original mtime). An entry is trusted
only while its ETag equals the one the listing shows, so a stale or lost index costs
HEADs, never a wrong answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

INDEX_FORMAT = 1


@dataclass(frozen=True)
class IndexEntry:
    etag: str
    size: int
    mtime: datetime


def parse_index(data: bytes) -> dict[str, IndexEntry]:
    """Entries of an index document; an unreadable document reads as empty."""
    try:
        document = json.loads(data)
        if document.get("format") != INDEX_FORMAT:
            return {}
        return {
            name: IndexEntry(str(e["etag"]), int(e["size"]), datetime.fromisoformat(e["mtime"]))
            for name, e in document["entries"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def render_index(entries: Mapping[str, IndexEntry]) -> bytes:
    document = {
        "format": INDEX_FORMAT,
        "entries": {
            name: {"etag": e.etag, "size": e.size, "mtime": e.mtime.isoformat()}
            for name, e in sorted(entries.items())
        },
    }
    return json.dumps(document, indent=0, sort_keys=True).encode()
