"""espeak-ng synthesis through ctypes: output, voices, the disk cache, one lock."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from niah.errors import ConfigError
from niah.media import tts


def test_speech_is_int16_at_22050_and_scales_with_the_text() -> None:
    short = tts.synthesize("Hello there.", "en-us")
    long = tts.synthesize("Hello there. " * 6, "en-us")
    assert short.dtype == np.int16 and tts.SAMPLE_RATE == 22_050
    assert 0.4 < len(short) / tts.SAMPLE_RATE < 3 and len(long) > 4 * len(short)
    assert np.abs(short.astype(np.int32)).max() > 3000  # audible, not silence
    slow = tts.synthesize("Hello there. " * 6, "en-us", rate=110)
    assert len(slow) > 1.3 * len(long)


def test_voices_differ_and_unknown_ones_are_refused() -> None:
    a = tts.synthesize("The secret keyword is banana.", "en-us")
    b = tts.synthesize("The secret keyword is banana.", "en+f3")
    assert not (len(a) == len(b) and np.array_equal(a, b))
    refusal = r"^haystack\.needle_voice: espeak-ng has no voice 'en-gb'"
    with pytest.raises(ConfigError, match=refusal):
        tts.check_voice("en-gb", "haystack.needle_voice")
    again = tts.synthesize("The secret keyword is banana.", "en-us")
    # espeak-ng keeps state across calls (pitch flutter): the same speech, a few samples apart
    assert abs(len(again) - len(a)) < 0.01 * len(a)


def test_cached_sentences_are_not_synthesized_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tts.synthesize("A cached sentence.", "en-us", cache_dir=tmp_path)
    assert len(list((tmp_path / "tts").rglob("*.pcm"))) == 1

    def refuse(*args: object) -> np.ndarray:
        raise AssertionError("synthesized again")

    monkeypatch.setattr(tts, "_synth_locked", refuse)
    assert np.array_equal(tts.synthesize("A cached sentence.", "en-us", cache_dir=tmp_path), first)
    with pytest.raises(AssertionError):  # another voice is another entry
        tts.synthesize("A cached sentence.", "en+f3", cache_dir=tmp_path)


def test_threads_share_the_engine_safely() -> None:
    texts = [f"Sentence number {w} is spoken." for w in ("one", "two", "three", "four")]
    expected = [tts.synthesize(t, v) for t, v in zip(texts, ["en-us", "en+f3"] * 2, strict=True)]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = tts.synthesize(texts[i], ["en-us", "en+f3"][i % 2])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [0, 1, 2, 3]
    assert all(abs(len(results[i]) - len(expected[i])) < 0.01 * len(expected[i]) for i in range(4))
