"""A small fake media source and transcriber: real files, no codecs.

Frames are real PNGs (Pillow) whose caption is also kept in a PNG text chunk; the
"video" form is one file of timestamped caption lines; audio is a real WAV (the stdlib
``wave`` module) whose samples carry the spoken text's bytes. The scripted backend
"sees" a needle written in a file's bytes, and ``FakeTranscriber`` reads the lines
back, so the whole pipeline runs in milliseconds.
"""

from __future__ import annotations

import hashlib
import io
import re
import wave
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from niah.config import MediaHaystackSpec
from niah.errors import HaystackError
from niah.media.base import HaystackMedia, MediaNeedle, MediaPart, MediaTrial

CAPTIONS = ("The river bends north.", "A lamp hangs over the door.", "Snow covers the field.")
SAMPLE_RATE = 8000
MAX_DURATION: dict[str, float | None] = {"value": None}
"""Tests set a finite length here to exercise ``too_short: refuse``."""
BUILT: list[tuple[float, float, str]] = []
"""(duration, depth, form) of every build, so tests can see what was made."""


def stamp(seconds: float) -> str:
    s = int(seconds)
    return f"[{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}]"


def _write(out_dir: Path, data: bytes, suffix: str) -> tuple[str, str]:
    digest = hashlib.sha256(data).hexdigest()
    path = out_dir / f"{digest[:32]}{suffix}"
    if not path.exists():
        path.write_bytes(data)
    return str(path), digest


def _png(text: str) -> bytes:
    info = PngInfo()
    info.add_text("caption", text)
    buf = io.BytesIO()
    Image.new("RGB", (16, 9), (len(text) % 256, 40, 90)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _wav(text: str, seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(SAMPLE_RATE)
        payload = text.encode()
        pad = max(0, round(seconds * SAMPLE_RATE) - len(payload))
        w.writeframes(payload + b"\x80" * pad)
    return buf.getvalue()


class FakeSource:
    """One caption per second; the needle replaces the caption at its second."""

    def __init__(self, spec: MediaHaystackSpec, base_dir: Path, cache_dir: Path) -> None:
        self.kind: HaystackMedia = spec.kind
        self.spec = spec
        if spec.path is not None and not (base_dir / spec.path).is_file():
            raise HaystackError(f"haystack.path: cannot read {base_dir / spec.path}")
        self.fps = getattr(spec, "fps", 1.0)

    def max_duration_s(self) -> float | None:
        return MAX_DURATION["value"]

    def text_sample(self) -> str:
        return " ".join(CAPTIONS).lower()

    def build(self, duration_s: float, depth: float, needle_text: str, answer: str, seed: int,
              form: str, out_dir: Path, depths: Sequence[float] | None = None) -> MediaTrial:
        BUILT.append((duration_s, depth, form))
        out_dir.mkdir(parents=True, exist_ok=True)
        step = 1.0 if self.kind == "audio" else 1.0 / self.fps
        n = max(1, round(duration_s / step))
        at = min(n - 1, round(depth / 100 * (n - 1)))
        lines = [needle_text if i == at else CAPTIONS[(seed + i) % len(CAPTIONS)]
                 for i in range(n)]
        parts: list[MediaPart] = []
        if form == "frames":
            for i, line in enumerate(lines):
                path, digest = _write(out_dir, _png(line), ".png")
                parts.append(MediaPart("image", path, "image/png", digest,
                                       Path(path).stat().st_size, i * step,
                                       label=stamp(i * step), width=16, height=9))
        elif form == "video":
            data = "\n".join(f"{stamp(i * step)} {x}" for i, x in enumerate(lines)).encode()
            path, digest = _write(out_dir, data, ".mp4")
            parts.append(MediaPart("video", path, "video/mp4", digest, len(data), 0.0,
                                   duration_s=duration_s, width=16, height=9))
        else:
            data = _wav("\n".join(f"{stamp(i)} {x}" for i, x in enumerate(lines)), duration_s)
            path, digest = _write(out_dir, data, ".wav")
            parts.append(MediaPart("audio", path, "audio/wav", digest, len(data), 0.0,
                                   duration_s=duration_s))
        index = at if self.kind == "video" else round(at * step * SAMPLE_RATE)
        needle = MediaNeedle(needle_text, answer, at * step, index, 100.0 * at / n, step)
        return MediaTrial(tuple(parts), needle, duration_s, transcript="\n".join(lines))


def open_fake(spec: MediaHaystackSpec, base_dir: Path, cache_dir: Path) -> FakeSource:
    return FakeSource(spec, base_dir, cache_dir)


class FakeTranscriber:
    """Reads the caption lines back out of a fake file, counting what it transcribed."""

    def __init__(self, options: dict[str, object], cache_dir: Path) -> None:
        self.options = options
        self.calls = 0

    async def transcribe(self, parts: Sequence[MediaPart]) -> str:
        self.calls += 1
        text = "\n".join(Path(p.path).read_bytes().decode("latin-1") for p in parts)
        lines = re.findall(r"\[\d\d:\d\d:\d\d\] [^\n\x80]*", text)
        repeat = int(str(self.options.get("repeat", 1)))  # a longer transcript, for windows
        return "\n".join(line for line in lines for _ in range(repeat))


TRANSCRIBERS: list[FakeTranscriber] = []


def make_fake_transcriber(options: dict[str, object], cache_dir: Path) -> FakeTranscriber:
    made = FakeTranscriber(options, cache_dir)
    TRANSCRIBERS.append(made)
    return made
