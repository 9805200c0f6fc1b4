"""The clips an audio haystack is concatenated from, each cached on disk at the target rate.

A clip is one paragraph of synthesized speech or one audio file: raw int16 mono PCM in a
content-addressed cache file (memory-mapped when a trial is written, so a day of audio
is never held whole), its length, and its cut points: the sample offsets where a needle
may go, each inside a pause. A synthesized sentence is spoken between two half-gaps of
silence, so sentence boundaries (and clip starts) are mid-pause; a file's cut points are
the middles of its silences, plus its start (the junction with the previous file).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from niah.errors import HaystackError
from niah.media import _pcm, _store, tts

CLIPS_VERSION = 1
GAP_S = 0.5
"""Silence between synthesized sentences (half before, half after each sentence)."""
MIN_PAUSE_S = 0.25
"""A file's silences shorter than this are not pauses (gaps between words are shorter)."""
SILENCE = 160
"""Samples at or under this magnitude (-46 dBFS) are silent."""
AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aiff", ".aif"}
)
_BLOCK = 1 << 20
_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


@dataclass(frozen=True)
class Clip:
    path: Path
    """Raw int16 mono PCM at the source's rate."""
    n: int
    cuts: np.ndarray
    """Sample offsets inside pauses where a needle may go (sorted, starting with 0)."""
    text: str

    def samples(self) -> np.ndarray:
        """The clip's samples, memory-mapped."""
        if self.n == 0:
            return np.zeros(0, np.int16)
        return np.memmap(self.path, dtype=np.int16, mode="r", shape=(self.n,))


def _load(pcm_path: Path) -> Clip | None:
    meta_path = pcm_path.with_suffix(".json")
    if not (pcm_path.exists() and meta_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    return Clip(pcm_path, int(meta["n"]), np.asarray(meta["cuts"], np.int64), meta["text"])


def _save(pcm_path: Path, n: int, cuts: list[int], text: str) -> Clip:
    meta = {"n": n, "cuts": cuts, "text": text}
    _store.put(pcm_path.with_suffix(".json"), json.dumps(meta).encode())
    return Clip(pcm_path, n, np.asarray(cuts, np.int64), text)


def sentences(paragraph: str) -> list[str]:
    """A paragraph's sentences (split after . ! ? and closing quotes)."""
    return [s.strip() for s in _SENTENCE.split(paragraph) if s.strip()]


def speech_clip(
    paragraph: list[str], voice: str, wpm: int, rate: int, cache_dir: Path
) -> Clip:
    """A paragraph's sentences spoken in ``voice``, each between half-gaps of silence."""
    digest = _store.key(CLIPS_VERSION, tts.TTS_VERSION, voice, wpm, rate, GAP_S, *paragraph)
    path = _store.entry(cache_dir, "speech", digest, ".pcm")
    clip = _load(path)
    if clip is not None:
        return clip
    half = np.zeros(round(GAP_S * rate / 2), np.int16)
    parts: list[np.ndarray] = []
    cuts: list[int] = []
    n = 0
    for sentence in paragraph:
        pcm = _pcm.resample(tts.synthesize(sentence, voice, wpm), tts.SAMPLE_RATE, rate)
        cuts.append(n)
        parts += [half, pcm, half]
        n += len(pcm) + 2 * len(half)
    _store.put(path, np.concatenate(parts).tobytes() if parts else b"")
    return _save(path, n, cuts, " ".join(paragraph))


def file_clip(path: Path, rate: int, cache_dir: Path) -> Clip:
    """An audio file decoded to mono ``rate``, streamed into the cache; its pauses found."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise HaystackError(f"haystack.path: cannot read {path}: {exc.strerror}") from None
    digest = _store.key(CLIPS_VERSION, path.resolve(), stat.st_size, stat.st_mtime_ns, rate)
    pcm_path = _store.entry(cache_dir, "decoded", digest, ".pcm")
    clip = _load(pcm_path)
    if clip is not None:
        return clip
    pcm_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pcm_path.with_suffix(".part")
    finder = PauseFinder(rate)
    loud = 0
    with tmp.open("wb") as out:
        for block in _pcm.decode_blocks(path, rate, "haystack.path"):
            out.write(block.tobytes())
            finder.feed(block)
            loud = max(loud, int(np.abs(block.astype(np.int32)).max(initial=0)))
    if finder.n == 0 or loud <= SILENCE:
        tmp.unlink(missing_ok=True)
        raise HaystackError(f"haystack.path: {path} is {'silent' if finder.n else 'empty'}")
    tmp.replace(pcm_path)
    transcript = path.with_suffix(".txt")
    text = transcript.read_text(errors="replace") if transcript.exists() else ""
    return _save(pcm_path, finder.n, [0, *finder.cuts], " ".join(text.split()))


class PauseFinder:
    """Middles of silences (>= ``MIN_PAUSE_S`` at <= ``SILENCE``) in a stream of blocks."""

    def __init__(self, rate: int, min_s: float = MIN_PAUSE_S, threshold: int = SILENCE) -> None:
        self.min_len = max(1, round(min_s * rate))
        self.threshold = threshold
        self.n = 0
        self.run_start: int | None = None
        self.cuts: list[int] = []

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Take the next block; return the (start, end) spans of the pauses it closed."""
        quiet = (np.abs(block.astype(np.int32)) <= self.threshold).view(np.int8)
        edges = np.diff(quiet, prepend=np.int8(self.run_start is not None))
        starts = np.flatnonzero(edges == 1) + self.n
        ends = np.flatnonzero(edges == -1) + self.n
        if self.run_start is not None:
            starts = np.concatenate(([self.run_start], starts))
        k = len(ends)
        s, e = starts[:k], ends
        keep = (e - s >= self.min_len) & (s > 0)
        self.cuts.extend(((s[keep] + e[keep]) // 2).tolist())
        self.run_start = int(starts[k]) if len(starts) > k else None
        self.n += len(block)
        return np.stack([s[keep], e[keep]], axis=1)


def audio_files(folder: Path) -> list[Path]:
    """The folder's audio files (or the one file), sorted; hidden ones skipped."""
    if not folder.exists():
        raise HaystackError(f"haystack.path: not found: {folder}")
    if folder.is_file():
        files = [folder]
    else:
        files = sorted(
            p for p in folder.rglob("*")
            if p.is_file() and not any(q.startswith(".") for q in p.relative_to(folder).parts)
            and p.suffix.lower() in AUDIO_SUFFIXES
        )
    if not files:
        kinds = ", ".join(sorted(AUDIO_SUFFIXES))
        raise HaystackError(f"haystack.path: no audio files ({kinds}) in {folder}")
    for f in files:
        if f.suffix.lower() not in AUDIO_SUFFIXES:
            raise HaystackError(f"haystack.path: unsupported audio format {f.suffix!r}: {f}")
    return files


def seeded_order(items: list[Path], seed: int) -> list[Path]:
    order = list(items)
    random.Random(f"niah-audio-{seed}").shuffle(order)
    return order


def cycle_files(files: list[Path], rate: int, cache_dir: Path, loop: bool) -> Iterator[Clip]:
    """The files' clips in order, again and again when ``loop``."""
    while True:
        for f in files:
            yield file_clip(f, rate, cache_dir)
        if not loop:
            return
