"""S3's XML: documents rendered from nested (tag, value) pairs, and request bodies parsed
with what S3 refuses refused (no DTDs or entities, a size bound set by the caller).

A value is text (str, int, bool), None (left out), or a list of (tag, value) pairs: a
nested element. Repeated elements are repeated pairs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
Value = str | int | bool | None | Sequence["Node"]
Node = tuple[str, Value]


class XMLError(ValueError):
    """A request body that is not the XML it must be."""


def render(
    root: str, children: Sequence[Node], *, namespace: bool = True, content: str | None = None
) -> bytes:
    """`<?xml ...?><root xmlns=...>children</root>` as UTF-8 bytes (`content`: the root's
    own text, for documents that are one value)."""
    element = ET.Element(root, {"xmlns": NAMESPACE} if namespace else {})
    element.text = content
    _fill(element, children)
    document: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document


def _fill(parent: ET.Element, children: Sequence[Node]) -> None:
    for tag, value in children:
        if value is None:
            continue
        child = ET.SubElement(parent, tag)
        if isinstance(value, bool):
            child.text = "true" if value else "false"
        elif isinstance(value, str | int):
            child.text = str(value)
        else:
            _fill(child, value)


def timestamp(moment: datetime) -> str:
    """A time as S3's XML writes it: `2026-12-01T04:36:43.000Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse(body: bytes) -> ET.Element:
    """The root element of a request body, namespaces dropped from the tags; XMLError
    for anything not well-formed, and for any DTD (S3 takes none; entities could
    expand without bound)."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise XMLError("a DTD in a request body")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise XMLError(str(exc)) from None
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return root


def text(element: ET.Element, tag: str) -> str | None:
    """The text of the first child `tag`, None when there is none ("" when empty)."""
    child = element.find(tag)
    return None if child is None else (child.text or "")
