"""Media in request bodies: where parts go in the last user message, how they are
read from disk, what they are checked against, and image sizes for token estimates.

A request with media puts, in its last user message, the text before ``media_at``,
then each part in order (after its timestamp label, when it has one), then the rest
of the text. Every backend builds its own block shapes from ``segments``; the parts'
bytes go into the body as ``Base64File`` and are read from disk while it is sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from niah.backends._body import Base64File, Text
from niah.backends.base import Message, Request
from niah.errors import MissingDependency, PermanentModelError
from niah.media.base import MediaKind, MediaPart

FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav",
           "audio/mpeg": "mp3", "audio/mp3": "mp3"}
"""Audio MIME types and the ``format`` OpenAI's ``input_audio`` names them by."""


@dataclass(frozen=True)
class Label:
    """A part's timestamp line (``[00:12:04]``), sent as text just before it."""

    text: str


Segment = Text | Label | MediaPart
"""The last user message in order: text spans, labels and media parts."""


def last_user(messages: Sequence[Message]) -> int | None:
    """Index of the last user message (where ``media_at`` points), or None."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            return i
    return None


def segments(message: Message, request: Request) -> list[Segment]:
    """``message`` cut at ``request.media_at`` with the media parts in between; empty
    text spans are left out (Anthropic refuses empty text blocks)."""
    text = message.content
    at = len(text) if request.media_at is None else max(0, min(request.media_at, len(text)))
    out: list[Segment] = []
    if at:
        out.append(Text((text, 0, at)))
    for part in request.media:
        if part.label:
            out.append(Label(part.label))
        out.append(part)
    if at < len(text):
        out.append(Text((text, at, len(text))))
    return out


def base64_file(part: MediaPart, prefix: str = "") -> Base64File:
    return Base64File(part.path, part.nbytes, prefix)


def data_url(part: MediaPart) -> Base64File:
    """``data:MIME;base64,...`` of the part, streamed from disk."""
    return base64_file(part, f"data:{part.mime};base64,")


def base64_len(nbytes: int) -> int:
    return 4 * ((nbytes + 2) // 3)


def check_kinds(provider: str, accepts: frozenset[MediaKind], parts: Iterable[MediaPart],
                hint: str = "") -> None:
    """A part this backend cannot send is a permanent error (a gray row), never a crash."""
    for part in parts:
        if part.kind not in accepts:
            raise PermanentModelError(
                f"{provider}: cannot send {part.kind} parts ({part.mime}){hint}",
                kind="unsupported_media")


def audio_format(provider: str, part: MediaPart) -> str:
    """``wav`` or ``mp3`` for OpenAI's ``input_audio``; other audio is refused."""
    fmt = FORMATS.get(part.mime)
    if fmt is None:
        raise PermanentModelError(f"{provider}: input_audio takes wav or mp3, not {part.mime}",
                                  kind="unsupported_media")
    return fmt


@lru_cache(maxsize=4096)
def _size(path: str, sha256: str) -> tuple[int, int]:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow is in the video extra
        raise MissingDependency("Pillow", "video") from exc
    with Image.open(path) as image:  # reads the header only
        width, height = image.size
    return int(width), int(height)


def image_size(part: MediaPart) -> tuple[int, int]:
    """(width, height) of an image part, from its file header (cached per content)."""
    return _size(part.path, part.sha256)


def seconds(part: MediaPart) -> int:
    """Whole seconds a video or audio part lasts (at least 1)."""
    return max(1, math.ceil(part.duration_s))
