"""What every feed importer shares: the error type, opening (gzip-aware), hashing, format sniffing,
and a streaming reader of top-level JSON objects that yields one array element at a time.

The streaming reader is why importing the whole NVD (hundreds of MB) runs in constant memory: it
keeps only the current record and one read chunk, not the document.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wardwatch.model.advisory import FeedFormat

CHUNK = 1 << 16

#: What reading a (possibly gzipped) text file can raise: I/O, a bad gzip header or stream,
#: a truncated gzip, bytes that are not UTF-8.
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, UnicodeDecodeError, zlib.error)


class FeedError(Exception):
    """A feed file that cannot be imported: names the file and where in it (record or offset)."""

    def __init__(self, path: str, where: str, message: str) -> None:
        self.path = path
        self.where = where
        self.message = message
        super().__init__(f"{path}: {where}: {message}" if where else f"{path}: {message}")


def open_text(path: str | Path) -> IO[str]:
    """Open a feed file as UTF-8 text, gunzipping it when it starts with the gzip magic bytes."""
    p = Path(path)
    with p.open("rb") as probe:
        magic = probe.read(2)
    # The caller closes the returned wrapper, which closes the underlying file.
    raw: Any = gzip.open(p, "rb") if magic == b"\x1f\x8b" else p.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict")


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of the file as stored (compressed bytes when gzipped)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sniff(path: str | Path) -> FeedFormat:
    """Guess a file's feed format from its first bytes; raise :class:`FeedError` when unknown."""
    try:
        with open_text(path) as f:
            head = f.read(CHUNK)
    except READ_ERRORS as e:
        raise FeedError(str(path), "", f"cannot read: {e}") from None
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith("#model_version") or text.lower().startswith("cve,epss"):
        return FeedFormat.EPSS
    if not text.startswith("{"):
        raise FeedError(str(path), "offset 0", "not a JSON object or an EPSS CSV")
    markers: list[tuple[str, FeedFormat]] = [
        ('"catalogVersion"', FeedFormat.KEV),
        ('"csaf_version"', FeedFormat.CSAF),
        ('"bomFormat"', FeedFormat.CYCLONEDX),
        ('"spdxVersion"', FeedFormat.SPDX),
        ("openvex", FeedFormat.OPENVEX),
        ('"dataType": "CVE_RECORD"', FeedFormat.VULNRICHMENT),
        ('"dataType":"CVE_RECORD"', FeedFormat.VULNRICHMENT),
        ('"NVD_CVE"', FeedFormat.NVD),
        ('"vulnStatus"', FeedFormat.NVD),
        ('"sourceIdentifier"', FeedFormat.NVD),
    ]
    found = [(text.find(m), fmt) for m, fmt in markers if m in text]
    if not found:
        # Documents with sorted keys put "bomFormat"/"spdxVersion" late: look further, chunk by chunk.
        try:
            with open_text(path) as f:
                tail = ""
                for block in iter(lambda: f.read(1 << 20), ""):
                    window = tail + block
                    found = [(0, fmt) for m, fmt in markers if m in window]
                    if found:
                        break
                    tail = block[-64:]
        except READ_ERRORS as e:
            raise FeedError(str(path), "", f"cannot read: {e}") from None
    if not found:
        raise FeedError(str(path), "offset 0", "unknown feed format (not NVD, KEV, EPSS, CSAF, SBOM, VEX)")
    return min(found)[1]


class JsonStreamError(ValueError):
    """Malformed JSON at a character offset."""

    def __init__(self, offset: int, message: str) -> None:
        self.offset = offset
        super().__init__(f"offset {offset}: {message}")


@dataclass(frozen=True, slots=True)
class Entry:
    """A top-level ``key: value`` (``item`` False), or one element of a streamed array (``item`` True)."""

    key: str
    value: Any
    item: bool
    index: int = -1


class _Reader:
    def __init__(self, fp: IO[str]) -> None:
        self.fp = fp
        self.buf = ""
        self.pos = 0
        self.base = 0  # characters dropped from the front of buf
        self.eof = False
        self.decoder = json.JSONDecoder()

    def fill(self, want: int = CHUNK) -> bool:
        if self.eof:
            return False
        data = self.fp.read(want)
        if not data:
            self.eof = True
            return False
        if self.pos > CHUNK:
            self.base += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += data
        return True

    def offset(self) -> int:
        return self.base + self.pos

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            got = self.peek() or "end of file"
            raise JsonStreamError(self.offset(), f"expected {ch!r}, found {got!r}")
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        want = CHUNK
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if self.fill(want):
                    want = min(want * 2, 1 << 24)  # a large record: read more each time, not quadratically
                    continue
                raise JsonStreamError(self.base + e.pos, e.msg) from None
            # A number at the very end of the buffer may continue in the next chunk.
            if end >= len(self.buf) and not self.eof and self.fill(want):
                continue
            self.pos = end
            return obj


def iter_json(fp: IO[str], stream_keys: frozenset[str] = frozenset()) -> Iterator[Entry]:
    """Walk a top-level JSON object: yield each member, except that arrays under ``stream_keys`` are
    yielded element by element (``item=True``) without holding the whole array.

    Raises :class:`JsonStreamError` with the character offset on malformed input.
    """
    r = _Reader(fp)
    r.expect("{")
    if r.peek() == "}":
        r.pos += 1
        return
    while True:
        key = r.value()
        if not isinstance(key, str):
            raise JsonStreamError(r.offset(), "object key must be a string")
        r.expect(":")
        if key in stream_keys and r.peek() == "[":
            r.pos += 1
            index = 0
            if r.peek() == "]":
                r.pos += 1
            else:
                while True:
                    yield Entry(key, r.value(), True, index)
                    index += 1
                    c = r.peek()
                    r.pos += 1
                    if c == "]":
                        break
                    if c != ",":
                        raise JsonStreamError(r.offset() - 1, f"expected ',' or ']' in {key!r}")
        else:
            yield Entry(key, r.value(), False)
        c = r.peek()
        r.pos += 1
        if c == "}":
            break
        if c != ",":
            raise JsonStreamError(r.offset() - 1, "expected ',' or '}'")
    if r.peek() != "":
        raise JsonStreamError(r.offset(), "data after the top-level object")


def load_json(path: str | Path) -> Any:
    """A whole (small) JSON document, with :class:`FeedError` on bad input."""
    try:
        with open_text(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise FeedError(str(path), f"line {e.lineno} column {e.colno}", e.msg) from None
    except READ_ERRORS as e:
        raise FeedError(str(path), "", f"cannot read: {e}") from None


def text_of(value: Any) -> str:
    """A JSON value as a string, or "" for null and non-strings (feeds are not always tidy)."""
    return value if isinstance(value, str) else ""
