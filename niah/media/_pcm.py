"""PCM helpers of the audio haystack and the recognizers: resampling, decoding, blocks.

Decoding and resampling are PyAV's (FFmpeg's swresample); pauses are found by
``niah.media._clips.PauseFinder``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from niah.errors import HaystackError

MIN_RATE = 1_000
MAX_RATE = 768_000
"""Input sample rates resampled (below 1 kHz a file holds no speech; FFmpeg's top rate)."""


def resample(pcm: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    """Mono int16 ``pcm`` at ``rate`` resampled to ``to_rate`` (a fresh resampler each call,
    so equal input gives equal output)."""
    if rate == to_rate or len(pcm) == 0:
        return pcm
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.int16, copy=False) if out else pcm[:0]


def decode_blocks(path: Path, rate: int, where: str) -> Iterator[np.ndarray]:
    """A media file's first audio stream as mono int16 blocks at ``rate``.

    An unreadable file, one without audio, or a rate FFmpeg cannot convert raises a
    ``HaystackError`` naming ``where`` and the file.
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise HaystackError(f"{where}: cannot read audio from {path}: {_reason(exc)}") from None
    with container:
        if not container.streams.audio:
            raise HaystackError(f"{where}: {path} has no audio stream")
        stream = container.streams.audio[0]
        if not stream.codec_context or not stream.sample_rate:
            raise HaystackError(f"{where}: {path}: unsupported audio format")
        if not MIN_RATE <= stream.sample_rate <= MAX_RATE:
            raise HaystackError(
                f"{where}: {path}: a sample rate of {stream.sample_rate} Hz cannot be resampled "
                f"to {rate} Hz (takes {MIN_RATE}-{MAX_RATE} Hz)"
            )
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1)
        except (av.FFmpegError, ValueError) as exc:
            raise HaystackError(f"{where}: cannot decode {path}: {_reason(exc)}") from None


def native_rate(path: Path, where: str) -> int:
    """The sample rate of a media file's first audio stream."""
    try:
        with av.open(str(path)) as container:
            if container.streams.audio and container.streams.audio[0].sample_rate:
                return int(container.streams.audio[0].sample_rate)
    except (av.FFmpegError, OSError) as exc:
        raise HaystackError(f"{where}: cannot read audio from {path}: {_reason(exc)}") from None
    raise HaystackError(f"{where}: {path} has no audio stream")


def decode(path: Path, rate: int, where: str) -> np.ndarray:
    """A whole (short) media file as mono int16 at ``rate``."""
    blocks = list(decode_blocks(path, rate, where))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.int16)


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc).splitlines()[0]
