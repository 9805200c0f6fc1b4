"""Writing a trial's audio in blocks: 16-bit PCM WAV (the wave module) or MP3 (PyAV).

The samples come as an iterator of blocks, so a day of audio never sits in memory; the
file appears whole or not at all (written beside its name, then renamed).
"""

from __future__ import annotations

import hashlib
import os
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import av
import numpy as np

from niah.errors import ConfigError, HaystackError

MP3_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
_WAV_LIMIT = 0xFFFF_FFFF - 44
MIME = {"wav": "audio/wav", "mp3": "audio/mpeg"}


class _Hashing:
    """A write-only file that hashes what goes through it (for the wave module)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.nbytes = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.nbytes += len(data)
        return self.raw.write(data)

    def tell(self) -> int:
        return self.nbytes

    def flush(self) -> None:
        self.raw.flush()


def check_form(form: str, rate: int, n_samples: int) -> None:
    """Refuse a form this audio cannot be written in, before anything is written."""
    if form not in MIME:
        raise ConfigError("form", f"audio form {form!r} is not one of wav, mp3")
    if form == "mp3" and rate not in MP3_RATES:
        raise ConfigError(
            "haystack.sample_rate", f"MP3 cannot hold {rate} Hz; use one of {MP3_RATES}"
        )
    if form == "wav" and 2 * n_samples > _WAV_LIMIT:
        raise HaystackError(
            f"haystack.sample_rate: {n_samples / rate / 3600:.1f} h at {rate} Hz is over WAV's "
            "4 GiB; use a lower sample_rate or the mp3 form"
        )


def write(
    path: Path, blocks: Iterable[np.ndarray], n_samples: int, rate: int, form: str
) -> tuple[str, int]:
    """Write ``n_samples`` mono int16 samples as ``form``; return (sha256, bytes)."""
    check_form(form, rate, n_samples)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if form == "wav":
            digest, nbytes = _write_wav(tmp, blocks, n_samples, rate)
        else:
            _write_mp3(tmp, blocks, rate)
            digest, nbytes = _hash_file(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest, nbytes


def _write_wav(path: Path, blocks: Iterable[np.ndarray], n: int, rate: int) -> tuple[str, int]:
    with path.open("wb") as raw:
        out = _Hashing(raw)
        with wave.open(out, "wb") as w:  # type: ignore[call-overload]
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.setnframes(n)  # known up front: the header is never patched afterwards
            written = 0
            for block in blocks:
                w.writeframesraw(np.ascontiguousarray(block, dtype="<i2").tobytes())
                written += len(block)
        if written != n:
            raise RuntimeError(f"wrote {written} samples, expected {n}")
    return out.sha.hexdigest(), out.nbytes


def _write_mp3(path: Path, blocks: Iterable[np.ndarray], rate: int) -> None:
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout="mono")
        for block in blocks:
            samples = np.ascontiguousarray(block, dtype=np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _hash_file(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            sha.update(chunk)
    return sha.hexdigest(), path.stat().st_size
