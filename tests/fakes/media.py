"""Tiny real media files for backend tests, and the reverse: media parts read back out
of a recorded request body, whatever the protocol.

PNG frames come from Pillow, WAV clips from the stdlib ``wave`` module, MP4 clips from
PyAV; every file is real, so a test can decode what the backend sent and compare bytes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from niah.media.base import MediaKind, MediaPart


def part_for(path: Path, kind: MediaKind, mime: str, start_s: float = 0.0,
             duration_s: float = 0.0, label: str | None = None) -> MediaPart:
    data = path.read_bytes()
    return MediaPart(kind=kind, path=str(path), mime=mime, sha256=hashlib.sha256(data).hexdigest(),
                     nbytes=len(data), start_s=start_s, duration_s=duration_s, label=label)


def png_frames(folder: Path, count: int, size: tuple[int, int] = (64, 48)) -> list[MediaPart]:
    """``count`` distinct PNG frames, one a second, labelled ``[00:00:SS]``."""
    from PIL import Image

    parts = []
    for i in range(count):
        path = folder / f"frame{i:04d}.png"
        Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, 200)).save(path)
        parts.append(part_for(path, "image", "image/png", start_s=i,
                              label=f"[00:{i // 60:02d}:{i % 60:02d}]"))
    return parts


def wav_clip(path: Path, seconds: float = 1.0, rate: int = 16000) -> MediaPart:
    """A mono 16-bit sine tone."""
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate)))
                      for n in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return part_for(path, "audio", "audio/wav", duration_s=seconds)


def mp4_clip(path: Path, seconds: int = 2, fps: int = 1) -> MediaPart:
    """A small H.264 mp4 (PyAV), one colour per second."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(seconds * fps):
            image = np.full((48, 64, 3), (i * 60) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return part_for(path, "video", "video/mp4", duration_s=seconds)


@dataclass
class Sent:
    """One content item of a recorded request: text, or media bytes with its MIME type."""

    kind: str  # "text" or the part's type ("image_url", "input_audio", "image", ...)
    text: str | None = None
    mime: str | None = None
    data: bytes | None = None
    extra: dict[str, Any] | None = None


def _from_data_url(url: str) -> tuple[str, bytes]:
    head, _, payload = url.partition(",")
    assert head.startswith("data:") and head.endswith(";base64"), head
    return head[5:-7], base64.b64decode(payload, validate=True)


def openai_content(body: dict[str, Any]) -> list[Sent]:
    """The last user message's parts of an OpenAI chat body."""
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    out = []
    for item in content:
        kind = item["type"]
        if kind == "text":
            out.append(Sent("text", text=item["text"]))
        elif kind == "input_audio":
            audio = item["input_audio"]
            out.append(Sent(kind, mime=audio["format"],
                            data=base64.b64decode(audio["data"], validate=True)))
        else:  # image_url, video_url, audio_url
            field = item[kind]
            mime, data = _from_data_url(field["url"])
            out.append(Sent(kind, mime=mime, data=data,
                            extra={k: v for k, v in field.items() if k != "url"}))
    return out


def anthropic_content(body: dict[str, Any]) -> list[Sent]:
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    out = []
    for block in content:
        if block["type"] == "text":
            out.append(Sent("text", text=block["text"], extra=block.get("cache_control")))
        else:
            source = block["source"]
            assert source["type"] == "base64"
            out.append(Sent("image", mime=source["media_type"],
                            data=base64.b64decode(source["data"], validate=True)))
    return out


def gemini_content(body: dict[str, Any]) -> list[Sent]:
    parts = [c for c in body["contents"] if c["role"] == "user"][-1]["parts"]
    out = []
    for part in parts:
        if "text" in part:
            out.append(Sent("text", text=part["text"]))
        elif "inline_data" in part:
            inline = part["inline_data"]
            out.append(Sent("inline_data", mime=inline["mime_type"],
                            data=base64.b64decode(inline["data"], validate=True)))
        else:
            file = part["file_data"]
            out.append(Sent("file_data", mime=file["mime_type"], extra={"uri": file["file_uri"]}))
    return out
