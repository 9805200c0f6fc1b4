"""The audio haystack: speech (synthesized offline, or a folder of files) with a spoken needle.

A trial is the haystack's first ``duration - needle`` samples with the needle clip
inserted at the cut point (a mid-pause sample, see ``niah.media._clips``) nearest the
depth's time: ``out = hay[:c] + needle + hay[c:]``, so every haystack sample keeps its
value, those after the needle shifted by its length. Clips are memory-mapped from the
cache and the trial is written in blocks, so memory does not grow with the duration.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

import numpy as np

from niah.errors import ConfigError, HaystackError
from niah.haystack import prose
from niah.haystack.sources import read_text_file, split_paragraphs, text_files
from niah.media import _audio_write, _clips, _pcm, _store, tts
from niah.media.base import MediaNeedle, MediaPart, MediaTrial, depth_bin
from niah.media.config import AudioHaystackSpec

WPM = 175
"""Speaking rate of synthesized haystack speech (espeak-ng's default), words per minute."""
NEEDLE_WPM = 130
"""Speaking rate of a synthesized needle: slower, which the embedded recognizer hears better."""
BIN_WIDTH = 10.0
"""``random_in_bin``: the needle's depth is drawn from depth +- BIN_WIDTH / 2 (clamped)."""
_PARAGRAPH_SENTENCES = 8
_SAMPLE_PARAGRAPHS = 2_000


class AudioSource:
    """A ``MediaSource`` of audio; see ``open_audio_source``."""

    kind = "audio"

    def __init__(self, spec: AudioHaystackSpec, base_dir: Path, cache_dir: Path) -> None:
        self.spec = spec
        self.rate = spec.sample_rate
        self.cache_dir = cache_dir
        self.files: list[Path] | None = None
        self.paragraphs: list[list[str]] | None = None
        if spec.path is not None:
            self.files = _clips.seeded_order(_clips.audio_files(base_dir / spec.path), spec.seed)
        else:
            tts.check_voice(spec.voice, "haystack.voice")
            if spec.text is not None:
                self.paragraphs = _corpus_paragraphs(base_dir / spec.text, spec.seed)
        self.needle_path = base_dir / spec.needle_clip if spec.needle_clip else None
        if self.needle_path is None:
            tts.check_voice(spec.needle_voice, "haystack.needle_voice")

    # -- the clip stream ---------------------------------------------------------------

    def _stream(self) -> Iterator[_clips.Clip]:
        loop = self.spec.too_short == "loop"
        if self.files is not None:
            yield from _clips.cycle_files(self.files, self.rate, self.cache_dir, loop)
            return
        for paragraph in self._paragraph_stream(loop):
            yield _clips.speech_clip(paragraph, self.spec.voice, WPM, self.rate, self.cache_dir)

    def _paragraph_stream(self, loop: bool) -> Iterator[list[str]]:
        if self.paragraphs is None:
            for text in prose.paragraphs(self.spec.seed):
                yield _clips.sentences(text)
            return
        while True:
            yield from self.paragraphs
            if not loop:
                return

    def max_duration_s(self) -> float | None:
        if self.files is None or self.spec.too_short == "loop":
            return None  # speech is synthesized on demand (a text corpus repeats)
        return sum(clip.n for clip in self._stream()) / self.rate

    def text_sample(self) -> str:
        if self.files is not None:
            clips = _clips.cycle_files(self.files, self.rate, self.cache_dir, loop=False)
            return " ".join(c.text for c in clips if c.text).lower()
        paragraphs = islice(self._paragraph_stream(loop=False), _SAMPLE_PARAGRAPHS)
        return " ".join(" ".join(p) for p in paragraphs).lower()

    # -- one trial ---------------------------------------------------------------------

    def needle_pcm(self, needle_text: str) -> np.ndarray:
        """The needle clip at the haystack's rate, between half-gaps of silence."""
        if self.needle_path is not None:
            speech = _pcm.decode(self.needle_path, self.rate, "haystack.needle_clip")
            if len(speech) == 0 or np.abs(speech.astype(np.int32)).max() <= _clips.SILENCE:
                raise ConfigError("haystack.needle_clip", f"{self.needle_path} is silent or empty")
        else:
            raw = tts.synthesize(needle_text, self.spec.needle_voice, NEEDLE_WPM, self.cache_dir)
            speech = _pcm.resample(raw, tts.SAMPLE_RATE, self.rate)
        half = np.zeros(round(_clips.GAP_S * self.rate / 2), np.int16)
        return np.concatenate([half, speech, half])

    def build(
        self, duration_s: float, depth: float, needle_text: str, answer: str, seed: int,
        form: str, out_dir: Path, depths: Sequence[float] | None = None,
    ) -> MediaTrial:
        """See ``MediaSource.build``; ``depths`` (the grid's) bound ``random_in_bin``'s
        bins as for video (without them: depth +- 5 points)."""
        total = round(duration_s * self.rate)
        _audio_write.check_form(form, self.rate, total)
        needle = self.needle_pcm(needle_text)
        if len(needle) >= total:
            where = "haystack.needle_clip" if self.needle_path else "grid.durations"
            raise ConfigError(
                where, f"the needle clip ({len(needle) / self.rate:.1f} s) is not shorter than "
                f"the trial ({duration_s:g} s)"
            )
        hay_len = total - len(needle)
        clips, offsets = self._clips_for(hay_len, duration_s)
        cuts = np.concatenate([o + c.cuts for o, c in zip(offsets, clips, strict=True)])
        cuts = cuts[cuts <= hay_len]
        target = self._target(depth, seed, duration_s, depths) / 100 * hay_len
        cut = _nearest(cuts, target)

        ident = _store.key("audio-trial", *(c.path.name for c in clips), hay_len, cut,
                           hashlib.sha256(needle.tobytes()).hexdigest(), self.rate, form)
        path = out_dir / f"audio-{ident[:20]}.{form}"
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            digest, nbytes = meta["sha256"], meta["nbytes"]
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            blocks = _blocks(clips, offsets, hay_len, cut, needle)
            digest, nbytes = _audio_write.write(path, blocks, total, self.rate, form)
            _store.put(meta_path, json.dumps({"sha256": digest, "nbytes": nbytes}).encode())
        part = MediaPart(
            kind="audio", path=str(path.resolve()), mime=_audio_write.MIME[form], sha256=digest,
            nbytes=nbytes, start_s=0.0, duration_s=total / self.rate,
        )
        time_s = cut / self.rate
        trial_needle = MediaNeedle(
            text=needle_text, answer=answer, time_s=time_s, index=int(cut),
            actual_depth=time_s / (total / self.rate) * 100, duration_s=len(needle) / self.rate,
        )
        transcript = None
        if self.files is None:
            transcript = _script(clips, offsets, hay_len, cut, needle_text)
        return MediaTrial(parts=(part,), needle=trial_needle, duration_s=total / self.rate,
                          transcript=transcript)

    def _target(self, depth: float, seed: int, duration_s: float,
                depths: Sequence[float] | None = None) -> float:
        if self.spec.placement == "exact":
            return depth
        rng = random.Random(f"niah-audio-bin-{seed}-{duration_s!r}-{depth!r}")
        if depths:
            lo, hi = depth_bin(depth, depths)
        else:
            lo, hi = max(0.0, depth - BIN_WIDTH / 2), min(100.0, depth + BIN_WIDTH / 2)
        return rng.uniform(lo, hi)

    def _clips_for(self, hay_len: int, duration_s: float) -> tuple[list[_clips.Clip], list[int]]:
        clips: list[_clips.Clip] = []
        offsets: list[int] = []
        n = 0
        for clip in self._stream():
            if n >= hay_len:
                break
            clips.append(clip)
            offsets.append(n)
            n += clip.n
        if n < hay_len:
            raise HaystackError(
                f"haystack.path: the audio lasts {n / self.rate:.0f} s, less than a trial of "
                f"{duration_s:g} s; set haystack.too_short: loop to repeat it"
            )
        return clips, offsets


def _nearest(cuts: np.ndarray, target: float) -> int:
    i = int(np.searchsorted(cuts, target))
    candidates = [int(c) for c in cuts[max(0, i - 1): i + 1]]
    return min(candidates, key=lambda c: (abs(c - target), c))


def _blocks(
    clips: list[_clips.Clip], offsets: list[int], hay_len: int, cut: int, needle: np.ndarray
) -> Iterator[np.ndarray]:
    """The haystack's samples [0, cut), the needle, then [cut, hay_len), in blocks."""
    inserted = False
    for offset, clip in zip(offsets, clips, strict=True):
        pcm = clip.samples()
        end = min(clip.n, hay_len - offset)
        for start in range(0, end, 1 << 20):
            stop = min(end, start + (1 << 20))
            if not inserted and offset + start <= cut < offset + stop:
                split = cut - offset
                yield pcm[start:split]
                yield needle
                inserted = True
                start = split
            yield pcm[start:stop]
    if not inserted:  # the cut is the haystack's very end
        yield needle


def _script(
    clips: list[_clips.Clip], offsets: list[int], hay_len: int, cut: int, needle_text: str
) -> str:
    """The synthesized haystack's text up to its end, with the needle sentence in place."""
    words: list[str] = []
    placed = False
    for offset, clip in zip(offsets, clips, strict=True):
        for start, sentence in zip(clip.cuts, _clips.sentences(clip.text), strict=False):
            if offset + start >= hay_len:
                break
            if not placed and offset + start >= cut:
                words.append(needle_text)
                placed = True
            words.append(sentence)
    if not placed:
        words.append(needle_text)
    return " ".join(words)


def _corpus_paragraphs(folder: Path, seed: int) -> list[list[str]]:
    """A text folder's paragraphs as sentence groups, rotated to a seeded start."""
    groups: list[list[str]] = []
    for f in text_files(folder) if folder.is_dir() else [folder]:
        for paragraph in split_paragraphs(read_text_file(f, "haystack.text")):
            s = _clips.sentences(" ".join(paragraph.split()))
            step = _PARAGRAPH_SENTENCES
            groups += [s[i: i + step] for i in range(0, len(s), step)]
    if not groups:
        raise HaystackError(f"haystack.text: no sentences in {folder}")
    start = random.Random(f"niah-audio-text-{seed}").randrange(len(groups))
    return groups[start:] + groups[:start]


def open_audio_source(spec: AudioHaystackSpec, base_dir: Path, cache_dir: Path) -> AudioSource:
    """The audio haystack of ``spec`` (paths relative to ``base_dir``; clips cached under
    ``cache_dir``)."""
    return AudioSource(spec, base_dir, cache_dir)
