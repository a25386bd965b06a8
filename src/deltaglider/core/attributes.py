"""What S3 clients get back about a logical object, kept with the object it is stored as.

A client that wrote `app.zip` expects HEAD, GET and LIST to answer with the ETag S3 would
have given it (the MD5 of its bytes, or for a multipart upload the MD5 of its parts'
MD5s and their count), its Content-Type and its own `x-amz-meta-*` metadata, whether it
is stored whole or as a delta, and the headers S3 keeps with an object and sends back
with it (Content-Encoding, Content-Disposition, Cache-Control, Content-Language,
Expires). These travel as `dg-etag`, `dg-part-sizes`, `dg-content-type` and `dg-{header}`
beside DeltaGlider's own keys, and the user's metadata under the user's own names
(docs/FORMAT.md, section 3): a key of the user's that starts with `dg-` is kept as
`dg-user-{key}`, so it never collides with DeltaGlider's.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

USER_PREFIX = "dg-user-"  # a user's own `dg-*` key, kept apart from DeltaGlider's
# Metadata travels in HTTP headers: keep values to printable ASCII, no '%' or spaces.
HEADER_SAFE = "".join(c for c in string.printable if c not in "% \t\n\r\x0b\x0c")
_ETAG = re.compile(r"[0-9a-f]{32}(-[1-9][0-9]{0,4})?")
_PLAIN_MD5 = re.compile(r"[0-9a-f]{32}")
# The headers S3 stores with an object and answers GET and HEAD with (lowercase names).
KEPT_HEADERS = (
    "content-encoding", "content-disposition", "cache-control", "content-language", "expires",
)  # fmt: skip
# Bare keys DeltaGlider 0.x and early 6.x wrote (docs/FORMAT.md section 7): on objects
# they wrote these are DeltaGlider's, not the user's.
_LEGACY_KEYS = frozenset(
    k.replace("-", sep)
    for k in (
        "tool", "source-name", "original-name", "file-sha256", "file-size", "created-at",
        "ref-key", "ref-sha256", "delta-size", "delta-cmd", "note", "compression",
    )
    for sep in "-_"
)  # fmt: skip


@dataclass(frozen=True)
class Attributes:
    """A logical object's ETag (unquoted), Content-Type, user metadata and kept headers."""

    etag: str | None = None
    content_type: str | None = None
    user_metadata: Mapping[str, str] = field(default_factory=dict)
    part_sizes: tuple[int, ...] = ()  # the parts a multipart ETag was made of
    headers: Mapping[str, str] = field(default_factory=dict)  # of KEPT_HEADERS, lowercase

    def to_metadata(self) -> dict[str, str]:
        meta = {_stored_user_key(k): v for k, v in self.user_metadata.items()}
        if self.etag is not None:
            meta["dg-etag"] = self.etag
        if self.part_sizes:
            meta["dg-part-sizes"] = _runs(self.part_sizes)
        if self.content_type is not None:
            meta["dg-content-type"] = quote(self.content_type, safe=HEADER_SAFE)
        for name, value in self.headers.items():
            if name.lower() in KEPT_HEADERS:
                meta[f"dg-{name.lower()}"] = quote(value, safe=HEADER_SAFE)
        return meta


def read_attributes(meta: Mapping[str, str]) -> Attributes:
    """The attributes recorded in a stored object's metadata (absent ones are None)."""
    lowered = {k.lower(): v for k, v in meta.items()}
    etag = lowered.get("dg-etag")
    content_type = lowered.get("dg-content-type")
    return Attributes(
        etag=etag if etag is not None and _ETAG.fullmatch(etag) else None,
        content_type=unquote(content_type) if content_type is not None else None,
        user_metadata=user_metadata(lowered),
        part_sizes=_parsed_runs(lowered.get("dg-part-sizes", "")),
        headers={h: unquote(lowered[f"dg-{h}"]) for h in KEPT_HEADERS if f"dg-{h}" in lowered},
    )


def user_metadata(meta: Mapping[str, str]) -> dict[str, str]:
    """The user's own metadata among a stored object's (keys lowercase, as S3 keeps them)."""
    lowered = {k.lower(): v for k, v in meta.items()}
    legacy = "dg-format" not in lowered and ("dg-file-sha256" in lowered or _has_legacy(lowered))
    found = {}
    for key, value in lowered.items():
        if key.startswith(USER_PREFIX):
            found[key[len(USER_PREFIX) :]] = value
        elif not key.startswith("dg-") and not (legacy and key in _LEGACY_KEYS):
            found[key] = value
    return found


def etag_for(sha256: str) -> str:
    """The ETag shown for an object written before ETags were recorded: derived from its
    SHA256, stable, and in the multipart form, which no client takes for an MD5."""
    return f"{sha256[:32]}-1"


def is_plain_md5(etag: str) -> bool:
    """Whether a stored object's ETag is the MD5 of its bytes, as S3 gives a single PUT."""
    return _PLAIN_MD5.fullmatch(etag.strip('"')) is not None


def quoted(etag: str) -> str:
    """An ETag as S3 sends it: in double quotes."""
    return etag if etag.startswith('"') else f'"{etag}"'


def _stored_user_key(key: str) -> str:
    lowered = key.lower()
    return USER_PREFIX + lowered if lowered.startswith("dg-") else lowered


def _has_legacy(lowered: Mapping[str, str]) -> bool:
    return "file_sha256" in lowered or "file-sha256" in lowered


def _runs(sizes: tuple[int, ...]) -> str:
    """`8388608*12,1048576`: part sizes, equal neighbours counted, so 10,000 parts fit."""
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    return ",".join(f"{size}*{count}" if count > 1 else str(size) for size, count in runs)


def _parsed_runs(text: str) -> tuple[int, ...]:
    sizes: list[int] = []
    for run in filter(None, text.split(",")):
        size, _, count = run.partition("*")
        if not size.isdigit() or (count and not count.isdigit()):
            return ()
        sizes += [int(size)] * int(count or 1)
    return tuple(sizes)
