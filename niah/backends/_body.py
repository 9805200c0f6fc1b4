"""JSON request bodies that hold long prompts by reference and stream them.

A 10M-token prompt is about 40 MB of text. httpx's ``json=`` serialises a body into
a second copy of it and encodes a third, per request in flight. Instead a backend puts
the prompt in its body as ``Text`` (the message's own string, or spans of it), and
``encode_body`` returns either the bytes (short prompts: one ``json.dumps``, as fast as
before) or a length and an async iterator that escapes the text a slice at a time.
Both give exactly the bytes of ``json.dumps(body, ensure_ascii=False,
separators=(",", ":"), allow_nan=False)`` with each ``Text`` as its string: what
httpx's ``json=`` sends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from json.encoder import encode_basestring
from typing import Any

STREAM_MIN_CHARS = 1 << 20
"""Bodies with less text than this are encoded in one piece."""
CHUNK_CHARS = 1 << 16
"""Characters escaped at a time when streaming (a few hundred KB in memory each)."""


class Text:
    """A JSON string made of strings or ``(string, start, end)`` spans, never joined."""

    __slots__ = ("parts",)

    def __init__(self, *parts: str | tuple[str, int, int]) -> None:
        self.parts = tuple(p if isinstance(p, tuple) else (p, 0, len(p)) for p in parts)

    def __len__(self) -> int:
        return sum(end - start for _, start, end in self.parts)

    def __str__(self) -> str:
        return "".join(s[start:end] for s, start, end in self.parts)

    def __repr__(self) -> str:
        return f"Text(<{len(self)} characters>)"

    def chunks(self, size: int | None = None) -> Iterator[str]:
        size = size or CHUNK_CHARS
        for s, start, end in self.parts:
            for i in range(start, end, size):
                yield s[i : min(i + size, end)]


class Base64File(Text):
    """A file's bytes as base64 (after an optional prefix such as a data URL's
    ``data:image/png;base64,``), read from disk a slice at a time when the body is sent:
    a large video or audio clip is never held in memory as base64.

    Base64 needs no JSON escaping, so the streamed body's length is known without
    reading the file (``StreamedBody.measure``)."""

    __slots__ = ("nbytes", "path", "prefix")
    READ_BYTES = 3 << 16
    """Bytes read at a time: a multiple of 3, so the pieces join into one base64 text."""

    def __init__(self, path: str, nbytes: int, prefix: str = "") -> None:
        self.parts = ()
        self.path = path
        self.nbytes = nbytes
        self.prefix = prefix

    def __len__(self) -> int:
        return len(self.prefix) + 4 * ((self.nbytes + 2) // 3)

    def __str__(self) -> str:
        return "".join(self.chunks())

    def __repr__(self) -> str:
        return f"Base64File({self.path!r}, {self.nbytes} bytes)"

    def chunks(self, size: int | None = None) -> Iterator[str]:
        if self.prefix:
            yield self.prefix
        read = 0
        with open(self.path, "rb") as f:
            while block := f.read(self.READ_BYTES):
                read += len(block)
                yield base64.b64encode(block).decode("ascii")
        if read != self.nbytes:  # the file changed since the part was made: refuse to lie
            raise OSError(f"{self.path}: {read} bytes on disk, {self.nbytes} expected")


def materialize(obj: Any) -> Any:
    """``obj`` with every ``Text`` as a plain string (what the body means)."""
    if isinstance(obj, Text):
        return str(obj)
    if isinstance(obj, dict):
        return {k: materialize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [materialize(v) for v in obj]
    return obj


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _collect(obj: Any, out: list[Text]) -> None:
    if isinstance(obj, Text):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect(v, out)


def _marked(obj: Any, count: list[int], marker: str) -> Any:
    """``obj`` with the n-th ``Text`` as the string ``marker + n + NUL``."""
    if isinstance(obj, Text):
        count[0] += 1
        return f"{marker}{count[0] - 1}\x00"
    if isinstance(obj, dict):
        return {k: _marked(v, count, marker) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_marked(v, count, marker) for v in obj]
    return obj


def _escaped(text: Text) -> Iterator[bytes]:
    if isinstance(text, Base64File):
        for piece in text.chunks():
            yield piece.encode("ascii")
        return
    for piece in text.chunks():
        yield encode_basestring(piece)[1:-1].encode("utf-8")


class StreamedBody:
    """A body too long to hold twice: its exact length, and its bytes piecewise."""

    def __init__(self, segments: list[bytes], texts: list[Text]) -> None:
        self.segments = segments  # the JSON around the texts: len(texts) + 1 pieces
        self.texts = texts
        self.length: int | None = None

    async def measure(self) -> int:
        """The body's length in bytes: the texts are escaped once to count them (on
        a 10M-token prompt about as long as sending it), yielding to the event loop."""
        if self.length is None:
            length = sum(len(s) for s in self.segments)
            for text in self.texts:
                if isinstance(text, Base64File):
                    length += len(text)  # ASCII that JSON leaves as it is
                    continue
                for n, piece in enumerate(_escaped(text)):
                    length += len(piece)
                    if n % 16 == 15:
                        await asyncio.sleep(0)
            self.length = length
        return self.length

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for segment, text in zip(self.segments, [*self.texts, None], strict=True):
            if segment:
                yield segment
            if text is not None:
                for piece in _escaped(text):
                    yield piece


def encode_body(body: Any) -> bytes | StreamedBody:
    """The bytes of ``body``, or a ``StreamedBody`` when its texts are long."""
    texts: list[Text] = []
    _collect(body, texts)
    if sum(len(t) for t in texts) < STREAM_MIN_CHARS:
        return _dumps(materialize(body)).encode("utf-8")
    # each text becomes a unique string that JSON escapes one known way, then is cut out
    marker = f"\x00niah-{secrets.token_hex(8)}-"
    rest = _dumps(_marked(body, [0], marker))
    escaped_marker = _dumps(marker)[1:-1]
    segments: list[bytes] = []
    for i in range(len(texts)):
        before, found, rest = rest.partition(f"{escaped_marker}{i}\\u0000")
        if not found:  # pragma: no cover - a random marker, escaped one way
            raise AssertionError("body marker lost")
        segments.append(before.encode("utf-8"))
    segments.append(rest.encode("utf-8"))
    return StreamedBody(segments, texts)
