"""Classic zlib's deflate, found on every machine: what archive recipes are proven with.

A recipe (a `d` stream of a content form, a gzip recipe; docs/FORMAT.md 9) rebuilds a
stream by deflating its content at recorded parameters with *classic* zlib, the deflate
of Python's zipfile, gzip and tarfile, Java and most zip tools. Other libraries with
zlib's API give other bytes for the same parameters: zlib-ng in zlib-compat mode (Fedora
40 and later ship it as their zlib, python.org's Windows builds link it from 3.14 on),
Chromium's, Cloudflare's and Intel's forks. A Python linked with one of those cannot
rebuild such streams with its own `zlib` module.

Which deflate Python's `zlib` is, is found by a known-answer test, not by its version
string: a fixed sample deflated at every level, at every memLevel and with every
strategy, its SHA256 compared with classic zlib's (KNOWN), once per process. When it
differs, the classic zlib of the `cmeel-zlib` wheel is used instead (loaded with ctypes,
its own symbols bound first; Linux and macOS, no Windows wheel), provided it passes the
same test. With neither, `require`
raises DeflateMissing: a writer then finds no recipe (streams are kept as they are), and
a reader of a recipe fails before writing anything, saying why.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.metadata
import os
import sys
import zlib
from typing import NamedTuple, Protocol

from deltaglider.core.errors import DeflateMissing

Buffer = bytes | memoryview


class Compressor(Protocol):
    """A raw deflate stream being written (zlib.compressobj's two methods)."""

    def compress(self, data: Buffer, /) -> bytes: ...

    def flush(self) -> bytes: ...


class Factory(Protocol):
    """A raw deflate (window bits -15) compressor with these parameters, primed with a
    dictionary (the content before it, for a stream deflated in pieces) when given."""

    def __call__(
        self, level: int, mem: int, strategy: int, zdict: Buffer | None = None, /
    ) -> Compressor: ...


class Deflater(NamedTuple):
    """A deflate library and what to call it in a message."""

    name: str
    open: Factory


def _python_zlib(level: int, mem: int, strategy: int, zdict: Buffer | None = None) -> Compressor:
    if zdict:
        return zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, mem, strategy, zdict)
    return zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, mem, strategy)


def _python_name() -> str:
    version = zlib.ZLIB_RUNTIME_VERSION
    return f"zlib-ng ({version})" if "zlib-ng" in version else f"zlib {version}"


# Python's own zlib module: what the known-answer test judges first. A test may put
# another deflate here (and clear `classic`'s cache) to be this machine's.
SYSTEM = Deflater(_python_name(), _python_zlib)
BUNDLED = "cmeel-zlib"  # the PyPI package whose classic zlib is the fallback


def _sample() -> bytes:
    """16 KiB of words of a small vocabulary and bits of noise, in a fixed pseudo-random
    order: long and short matches and literals, on which zlib-ng differs from classic
    zlib at every level but 0 (stored)."""
    words = [f"w{n:x}{'abcdefgh'[: n % 8]}".encode() for n in range(300)]
    state, out = 12345, bytearray()
    while len(out) < SAMPLE:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        pick = state >> 8
        if pick % 7 == 0:
            out += bytes((state >> shift) & 0xFF for shift in range(0, 24, 3))
        else:
            out += words[pick % len(words)] + b" "
    return bytes(out[:SAMPLE])


SAMPLE = 16 * 1024
# Every level (0-9) at memLevel 8 and 9, every memLevel at level 6, every strategy at
# level 6: the parameters a recipe may record.
TESTED = (
    [(level, mem, 0) for mem in (8, 9) for level in range(10)]
    + [(6, mem, 0) for mem in range(1, 8)]
    + [(6, 8, strategy) for strategy in range(1, 5)]
)
# The SHA256 of classic zlib's output for every TESTED parameters, one after another
# (zlib 1.2.13 and 1.3.2 alike; zlib-ng 2.3.3 differs).
KNOWN = "37bae31378aa3decd0c1469f6f36ea26fd788b6b3da5aa6a094b490ed2c2d14a"


def known_answer(factory: Factory) -> str:
    """The SHA256 of what `factory` makes of the sample with every TESTED parameters."""
    sample, digest = _sample(), hashlib.sha256()
    for level, mem, strategy in TESTED:
        compressor = factory(level, mem, strategy)
        digest.update(compressor.compress(sample) + compressor.flush())
    return digest.hexdigest()


@functools.cache
def classic() -> Factory | None:
    """Classic zlib's raw deflate: Python's own when it gives classic zlib's bytes, else
    the bundled library's when that does, else None."""
    if known_answer(SYSTEM.open) == KNOWN:
        return SYSTEM.open
    library = _bundled_library()
    if library is not None:
        bundled = functools.partial(_Bundled, library)
        if known_answer(bundled) == KNOWN:
            return bundled
    return None


def available() -> bool:
    """Whether this process can deflate as classic zlib does (recipes may be proven)."""
    return classic() is not None


def require() -> Factory:
    """Classic zlib's raw deflate; DeflateMissing, saying why, when this machine has none."""
    factory = classic()
    if factory is None:
        remedy = (
            "a Python built with classic zlib (python.org's before 3.14, conda-forge's)"
            if sys.platform == "win32"
            else f"pip install {BUNDLED}"
        )
        raise DeflateMissing(
            f"stored with deflate streams that classic zlib rebuilds; this machine's Python "
            f"deflates with {SYSTEM.name}, which gives other bytes, and no classic zlib is "
            f"installed beside it ({remedy}): nothing written"
        )
    return factory


def compressobj(level: int, mem: int, strategy: int, zdict: Buffer | None = None) -> Compressor:
    """A classic zlib raw deflate compressor with these parameters, primed with `zdict`
    when given (DeflateMissing when this machine has no classic zlib)."""
    return require()(level, mem, strategy, zdict)


# ----------------------------------------------------------------------------- bundled


class ZStream(ctypes.Structure):
    """zlib's z_stream (zlib.h), as laid out on LP64 systems."""

    _fields_ = (
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    )


Z_NO_FLUSH, Z_FINISH = 0, 4
Z_OK, Z_STREAM_END, Z_BUF_ERROR = 0, 1, -5
OUT = 256 * 1024  # output buffer per deflate call


def _bundled_library() -> ctypes.CDLL | None:
    """The shared zlib of the cmeel-zlib wheel, when it is installed and loads."""
    try:
        files = importlib.metadata.files(BUNDLED) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name in ("libz.so.1", "libz.1.dylib"):
            # Its own symbols first: Python's zlib module has another libz loaded.
            mode = os.RTLD_LOCAL | getattr(os, "RTLD_DEEPBIND", 0)
            try:
                library = ctypes.CDLL(str(file.locate()), mode=mode)
            except OSError:
                return None
            library.zlibVersion.restype = ctypes.c_char_p
            return library
    return None


class _Bundled:
    """A raw deflate stream written by the bundled library (ctypes frees Python's lock
    during each call, so streams deflate side by side as with the zlib module)."""

    def __init__(
        self,
        library: ctypes.CDLL,
        level: int,
        mem: int,
        strategy: int,
        zdict: Buffer | None = None,
    ) -> None:
        self._library = library
        self._stream = ZStream()
        self._open = False
        status = library.deflateInit2_(
            ctypes.byref(self._stream),
            level,
            zlib.DEFLATED,
            -zlib.MAX_WBITS,
            mem,
            strategy,
            library.zlibVersion(),
            ctypes.sizeof(self._stream),
        )
        if status != Z_OK:
            raise ValueError(f"deflateInit2 failed ({status})")
        self._open = True
        if zdict:
            words = (ctypes.c_char * len(zdict)).from_buffer_copy(zdict)
            status = library.deflateSetDictionary(ctypes.byref(self._stream), words, len(zdict))
            if status != Z_OK:
                raise ValueError(f"deflateSetDictionary failed ({status})")

    def compress(self, data: Buffer, /) -> bytes:
        return self._deflate(data, Z_NO_FLUSH)

    def flush(self) -> bytes:
        try:
            return self._deflate(b"", Z_FINISH)
        finally:
            self._end()

    def _deflate(self, data: Buffer, flush: int) -> bytes:
        source = (ctypes.c_char * len(data)).from_buffer_copy(data)
        stream = self._stream
        stream.next_in = ctypes.addressof(source)
        stream.avail_in = len(data)
        pieces = []
        out = ctypes.create_string_buffer(OUT)
        while True:
            stream.next_out = ctypes.addressof(out)
            stream.avail_out = OUT
            status = self._library.deflate(ctypes.byref(stream), flush)
            if status not in (Z_OK, Z_STREAM_END, Z_BUF_ERROR):
                raise ValueError(f"deflate failed ({status})")
            pieces.append(out.raw[: OUT - stream.avail_out])
            done = status == Z_STREAM_END if flush == Z_FINISH else stream.avail_out > 0
            if done or status == Z_BUF_ERROR:
                return b"".join(pieces)

    def _end(self) -> None:
        if self._open:
            self._open = False
            self._library.deflateEnd(ctypes.byref(self._stream))

    def __del__(self) -> None:
        self._end()
