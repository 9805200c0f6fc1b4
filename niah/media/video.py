"""The video haystack: frames sampled at ``fps``, one of them showing the secret word.

Sources: a video file (any container or codec FFmpeg reads, through PyAV), a folder of
frames (sorted image files, one per ``1/fps`` second), or, by default and offline,
generated video: captioned scenes of niah's prose or of a text folder, like subtitles.
A trial takes the first ``duration x fps`` frames (looped if the source is shorter and
``too_short: loop``), replaces or overlays the frame at the needle's second, and writes
them as one H.264 mp4 or as one JPEG per frame. Frames stream from source to encoder one
at a time, so memory does not grow with the duration.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from niah.errors import ConfigError, HaystackError
from niah.media.base import (
    HaystackMedia,
    MediaNeedle,
    MediaPart,
    MediaSource,
    MediaTrial,
    depth_bin,
)
from niah.media.config import VideoHaystackSpec
from niah.media.decode import FileFrames
from niah.media.encode import JpegWriter, write_mp4
from niah.media.frames import FolderFrames, Frame, FrameStream, GeneratedFrames
from niah.media.render import needle_frame, pixel_hash

FORMS = ("video", "frames")
_TEXT_SAMPLE_S = 4 * 3600
"""Seconds of generated captions ``text_sample`` covers (longer than any report's grid)."""


def timestamp(seconds: float) -> str:
    """``[hh:mm:ss]`` of a time on the trial's timeline."""
    s = int(seconds)
    return f"[{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}]"


def needle_index(n: int, depth: float, placement: str, seed: int,
                 depths: Sequence[float] | None = None) -> int:
    """The needle's frame among ``n``: the depth's frame (``exact``), or a frame drawn at
    random, per seed, inside the depth's bin (``random_in_bin``)."""
    exact = min(n - 1, max(0, round(depth / 100 * n)))
    if placement != "random_in_bin":
        return exact
    lo, hi = depth_bin(depth, depths)
    first = min(n - 1, math.ceil(lo / 100 * n))
    last = min(n - 1, max(first, math.ceil(hi / 100 * n) - 1 if hi < 100 else n - 1))
    return random.Random(f"niah-bin-{seed}-{n}-{depth!r}").randint(first, last)


@dataclass
class VideoSource:
    """A ``MediaSource`` of video (see the module docstring)."""

    spec: VideoHaystackSpec
    stream: FrameStream
    description: str
    kind: HaystackMedia = "video"

    def max_duration_s(self) -> float | None:
        n = self.stream.n_frames()
        if n is None or self.spec.too_short == "loop":
            return None
        return n / self.spec.fps

    def text_sample(self) -> str:
        if not isinstance(self.stream, GeneratedFrames):
            return ""
        n = round(_TEXT_SAMPLE_S * self.spec.fps)
        return "\n".join(text for _, text in self.stream.captions(n)).lower()

    def n_frames(self, duration_s: float) -> int:
        """Frames of a trial of ``duration_s`` seconds."""
        return max(1, round(duration_s * self.spec.fps))

    def _frames(self, n: int) -> Iterator[Frame]:
        have = self.stream.n_frames()
        if have is None or n <= have:
            return itertools.islice(self.stream.frames(), n)
        return itertools.islice(itertools.chain.from_iterable(
            self.stream.frames() for _ in range(math.ceil(n / have))), n)

    def _needled(self, n: int, index: int, text: str) -> Iterator[Frame]:
        w, h = self.stream.width, self.stream.height
        for k, frame in enumerate(self._frames(n)):
            if k == index:
                base = frame.image if self.spec.needle_frame == "overlay" else None
                img = needle_frame(text, w, h, base)
                frame = Frame(img, pixel_hash(img))
            yield frame

    def check_duration(self, duration_s: float) -> None:
        have = self.stream.n_frames()
        refuse = have is not None and self.spec.too_short == "refuse"
        if refuse and have is not None and self.n_frames(duration_s) > have:
            raise HaystackError(
                f"duration {duration_s:g} s is longer than the video "
                f"({have / self.spec.fps:g} s); set haystack.too_short: loop"
            )

    def build(
        self, duration_s: float, depth: float, needle_text: str, answer: str, seed: int,
        form: str, out_dir: Path, depths: Sequence[float] | None = None,
    ) -> MediaTrial:
        """See ``MediaSource.build``; ``depths`` (the grid's) define ``random_in_bin``'s
        bins."""
        if form not in FORMS:
            raise ConfigError("form", f"video takes {' or '.join(FORMS)}, not {form!r}")
        if not 0 <= depth <= 100:
            raise ConfigError("depth", f"{depth:g} is not within 0-100")
        self.check_duration(duration_s)
        out_dir = out_dir.resolve()
        fps = self.spec.fps
        n = self.n_frames(duration_s)
        index = needle_index(n, depth, self.spec.placement, seed, depths)
        frames = self._needled(n, index, needle_text)
        if form == "video":
            key = hashlib.sha256("\0".join((
                self.stream.key, str(n), str(index), needle_text, self.spec.needle_frame,
            )).encode()).hexdigest()
            w = write_mp4(frames, key, fps, self.stream.width, self.stream.height, out_dir)
            parts: tuple[MediaPart, ...] = (MediaPart(
                "video", str(w.path), "video/mp4", w.sha256, w.nbytes, 0.0,
                n / fps),)
        else:
            writer = JpegWriter(out_dir / "frames")
            parts = tuple(
                MediaPart("image", str(w.path), "image/jpeg", w.sha256, w.nbytes,
                          k / fps, 0.0, timestamp(k / fps))
                for k, w in ((k, writer.write(f)) for k, f in enumerate(frames))
            )
        needle = MediaNeedle(needle_text, answer, index / fps, index, index / n * 100, 1 / fps)
        return MediaTrial(parts, needle, n / fps, self._transcript(n, index, needle_text))

    def _transcript(self, n: int, index: int, needle_text: str) -> str | None:
        if not isinstance(self.stream, GeneratedFrames):
            return None
        fps = self.spec.fps
        lines = [(start, text) for start, text in self.stream.captions(n)]
        lines.append((index, needle_text))
        lines.sort(key=lambda x: x[0])
        return "\n".join(f"{timestamp(k / fps)} {text}" for k, text in lines)


if TYPE_CHECKING:
    _conforms: type[MediaSource] = VideoSource  # mypy checks the protocol here


def open_video_source(spec: VideoHaystackSpec, base_dir: Path, cache_dir: Path) -> VideoSource:
    """The video haystack a config's ``haystack`` block describes (``path`` and ``text``
    relative to ``base_dir``, the config file's folder; ``cache_dir`` remembers a video
    file's content hash)."""
    if not spec.fps > 0:
        raise ConfigError("haystack.fps", "must be greater than 0")
    if spec.path is None:
        text = None
        if spec.text is not None:
            text = base_dir / spec.text
        gen = GeneratedFrames(spec.seed, spec.fps, spec.width - spec.width % 2,
                              spec.height - spec.height % 2, text)
        what = f"text from {text}" if text else "generated prose"
        return VideoSource(spec, gen, f"generated video, captions of {what} (seed {spec.seed})")
    path = base_dir / spec.path
    if path.is_dir():
        return VideoSource(spec, FolderFrames.open(path, spec.fps), f"frames from {path}")
    return VideoSource(spec, FileFrames.open(path, spec.fps, cache_dir), f"video {path}")
