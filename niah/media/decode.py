"""Reading video files with PyAV (FFmpeg inside): probing and sampling at a fixed fps.

Sampling picks, for each time ``k / fps``, the frame on screen at that time (the last
frame whose timestamp is not after it), as FFmpeg's ``fps`` filter does with
``round=down``. Frames are decoded one at a time and only the sampled ones are converted
to RGB, so memory does not grow with the video's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from niah.errors import HaystackError
from niah.media.frames import Frame, file_digest
from niah.media.render import pixel_hash

_EPS = 1e-6


def _open(path: Path, where: str) -> av.container.InputContainer:
    if not path.exists():
        raise HaystackError(f"{where}: video not found: {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise HaystackError(f"{where}: cannot read video {path}: {exc}") from None
    if not container.streams.video:
        container.close()
        raise HaystackError(f"{where}: {path} has no video stream")
    return container


def probe_length(path: Path, where: str = "haystack.path") -> float:
    """The video's length in seconds (from the stream or container, else by demuxing)."""
    with _open(path, where) as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            length = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            length = container.duration / av.time_base
        else:
            length = 0.0
            try:
                for packet in container.demux(stream):
                    if packet.pts is not None and packet.time_base is not None:
                        end = (packet.pts + (packet.duration or 0)) * packet.time_base
                        length = max(length, float(end))
            except av.FFmpegError as exc:
                raise HaystackError(f"{where}: cannot read video {path}: {exc}") from None
    if not length > 0:
        raise HaystackError(f"{where}: {path} is a zero-length video")
    return length


def sample(path: Path, fps: float, where: str = "haystack.path"
           ) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(k, frame)`` for each ``k / fps`` second the video covers, decoded lazily."""
    with _open(path, where) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if (
            stream.start_time is not None and stream.time_base is not None) else 0.0
        k = 0
        prev: av.VideoFrame | None = None
        try:
            for frame in container.decode(stream):
                t = (frame.time if frame.time is not None else k / fps) - start
                if prev is None and t > _EPS:
                    prev = frame  # a late first frame stands for the time before it
                while prev is not None and k / fps < t - _EPS:
                    yield k, prev
                    k += 1
                prev = frame
        except av.FFmpegError as exc:
            raise HaystackError(f"{where}: cannot decode video {path}: {exc}") from None
        if prev is not None:
            end = float(stream.duration * stream.time_base) if (
                stream.duration is not None and stream.time_base is not None) else 0.0
            last = max(k + 1, math.floor(end * fps + _EPS)) if end else k + 1
            while k < last:
                yield k, prev
                k += 1


def frame_image(frame: av.VideoFrame, width: int | None = None,
                height: int | None = None) -> Image.Image:
    """A decoded frame as an RGB image (scaled to ``width`` x ``height`` if given)."""
    img: Image.Image = frame.to_image(  # type: ignore[no-untyped-call]
        width=width, height=height)
    return img


@dataclass
class FileFrames:
    """A video file sampled at ``fps`` (frames scaled to even sizes, as H.264 needs)."""

    path: Path
    fps: float
    width: int
    height: int
    length_s: float
    key: str

    @classmethod
    def open(cls, path: Path, fps: float, cache_dir: Path | None = None) -> FileFrames:
        length = probe_length(path)
        with _open(path, "haystack.path") as container:
            ctx = container.streams.video[0].codec_context
            width, height = ctx.width, ctx.height
        if not width or not height:
            raise HaystackError(f"haystack.path: {path} has no frame size")
        key = f"file-{file_digest(path, cache_dir)[:24]}-{fps:g}fps"
        return cls(path, fps, max(2, width - width % 2), max(2, height - height % 2),
                   length, key)

    def n_frames(self) -> int | None:
        return max(1, math.floor(self.length_s * self.fps + _EPS))

    def frames(self) -> Iterator[Frame]:
        n = self.n_frames()
        for k, frame in sample(self.path, self.fps):
            if n is not None and k >= n:
                return
            img = frame_image(frame, self.width, self.height)
            yield Frame(img, pixel_hash(img))


def time_base(fps: float) -> Fraction:
    """The stream time base of an mp4 written at ``fps``."""
    return 1 / Fraction(fps).limit_denominator(1001)
