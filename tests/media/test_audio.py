"""The audio haystack: exact needle insertion at pauses, reuse, forms, files and bad input."""

from __future__ import annotations

import random
import wave
from pathlib import Path

import numpy as np
import pytest

from niah.errors import ConfigError, HaystackError
from niah.media import _clips, _pcm, tts
from niah.media.audio import AudioSource, open_audio_source
from niah.media.config import AudioHaystackSpec

NEEDLE = "The secret keyword is banana."
RATE = 16_000


def read_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def silent_runs(pcm: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """Runs of samples at or under the silence threshold (written independently of the
    source's pause finder)."""
    quiet = np.abs(pcm.astype(np.int32)) <= _clips.SILENCE
    padded = np.concatenate(([False], quiet, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= min_len]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[AudioSource, Path]:
    root = tmp_path_factory.mktemp("audio")
    return open_audio_source(AudioHaystackSpec(kind="audio"), root, root / "cache"), root


def haystack(src: AudioSource, n: int) -> np.ndarray:
    clips, _ = src._clips_for(n, n / RATE)
    return np.concatenate([np.asarray(c.samples()) for c in clips])[:n]


def test_needle_is_exact_at_a_pause_nearest_the_depth(speech: tuple[AudioSource, Path]) -> None:
    src, root = speech
    rng = random.Random(7)
    needle = src.needle_pcm(NEEDLE)
    hay = haystack(src, 150 * RATE)
    runs = silent_runs(hay, round(0.2 * RATE))
    for trial in range(50):
        duration, depth = rng.uniform(8, 150), rng.choice([0, 100, rng.uniform(0, 100)])
        t = src.build(duration, depth, NEEDLE, "banana", 0, "wav", root / "out")
        out = read_wav(t.parts[0].path)
        total, cut = round(duration * RATE), t.needle.index
        hay_len = total - len(needle)
        assert len(out) == total and t.parts[0].nbytes == 44 + 2 * total
        assert t.needle.time_s == pytest.approx(cut / RATE)
        assert np.array_equal(out[:cut], hay[:cut]), trial
        assert np.array_equal(out[cut: cut + len(needle)], needle), trial
        assert np.array_equal(out[cut + len(needle):], hay[cut:hay_len]), trial
        # inside a pause: the haystack is silent on both sides of the cut
        if 0 < cut < hay_len:
            assert any(s < cut < e for s, e in runs), (trial, cut)
        # the nearest pause: no other whole pause lies between the target and the cut
        target = depth / 100 * hay_len
        lo, hi = sorted((target, cut))
        between = [(s, e) for s, e in runs if lo < s and e < hi and e <= hay_len]
        assert not between, (trial, target, cut, between[:2])


def test_a_rebuilt_trial_reuses_its_file(speech: tuple[AudioSource, Path]) -> None:
    src, root = speech
    a = src.build(30, 40, NEEDLE, "banana", 0, "wav", root / "reuse")
    mtime = Path(a.parts[0].path).stat().st_mtime_ns
    b = src.build(30, 40, NEEDLE, "banana", 0, "wav", root / "reuse")
    assert a == b and Path(b.parts[0].path).stat().st_mtime_ns == mtime
    c = src.build(30, 60, NEEDLE, "banana", 0, "wav", root / "reuse")
    assert c.parts[0].path != a.parts[0].path


def test_the_script_holds_the_needle_where_it_is_spoken(speech: tuple[AudioSource, Path]) -> None:
    src, root = speech
    early = src.build(60, 0, NEEDLE, "banana", 0, "wav", root / "out")
    late = src.build(60, 100, NEEDLE, "banana", 0, "wav", root / "out")
    assert early.transcript is not None and early.transcript.startswith(NEEDLE)
    assert late.transcript is not None and NEEDLE in late.transcript
    after = late.transcript.split(NEEDLE)[1]  # at most the one sentence cut off at the end
    assert len(_clips.sentences(after)) <= 1
    assert "banana" not in src.text_sample() and "the " in src.text_sample()


def test_mp3_form_decodes_to_the_duration(speech: tuple[AudioSource, Path]) -> None:
    src, root = speech
    t = src.build(20, 50, NEEDLE, "banana", 0, "mp3", root / "mp3")
    assert t.parts[0].mime == "audio/mpeg" and t.parts[0].path.endswith(".mp3")
    decoded = _pcm.decode(Path(t.parts[0].path), RATE, "test")
    assert abs(len(decoded) - 20 * RATE) < 0.1 * RATE


def test_random_in_bin_stays_in_its_bin(tmp_path: Path) -> None:
    spec = AudioHaystackSpec(kind="audio", placement="random_in_bin")
    src = open_audio_source(spec, tmp_path, tmp_path / "cache")
    depths = {src.build(120, 50, NEEDLE, "x", seed, "wav", tmp_path).needle.actual_depth
              for seed in range(6)}
    assert len(depths) > 1 and all(35 < d < 65 for d in depths)


def write_wav(path: Path, pcm: np.ndarray, rate: int = 22_050) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return path


def spoken(text: str) -> np.ndarray:
    gap = np.zeros(tts.SAMPLE_RATE // 2, np.int16)
    return np.concatenate([gap, tts.synthesize(text, "en-us"), gap])


def test_a_folder_of_files_is_looped_in_a_seeded_order(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, text in enumerate(["One small boat.", "Two tall trees grow here.", "Three red doors."]):
        write_wav(folder / f"{i}.wav", np.concatenate([spoken(text), spoken(text)]))
    spec = AudioHaystackSpec(kind="audio", path="clips", too_short="loop", seed=3)
    src = open_audio_source(spec, tmp_path, tmp_path / "cache")
    assert src.max_duration_s() is None and src.text_sample() == ""
    t = src.build(30, 50, NEEDLE, "banana", 0, "wav", tmp_path / "out")
    assert t.transcript is None and t.duration_s == pytest.approx(30)
    out, needle = read_wav(t.parts[0].path), src.needle_pcm(NEEDLE)
    before = out[: t.needle.index]
    assert np.abs(before[-RATE // 20:].astype(np.int32)).max() <= _clips.SILENCE
    assert np.array_equal(out[t.needle.index: t.needle.index + len(needle)], needle)
    refuse = open_audio_source(spec.model_copy(update={"too_short": "refuse"}), tmp_path,
                               tmp_path / "cache")
    assert 10 < (refuse.max_duration_s() or 0) < 30
    with pytest.raises(HaystackError, match="too_short: loop"):
        refuse.build(600, 50, NEEDLE, "banana", 0, "wav", tmp_path / "out")


def test_bad_audio_is_one_line_naming_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "bad.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 10)
    write_wav(tmp_path / "silent.wav", np.zeros(22_050, np.int16))
    (tmp_path / "notes.mid").write_bytes(b"MThd")
    write_wav(tmp_path / "slow.wav", np.full(30, 9000, np.int16), rate=3)
    cache = tmp_path / "cache"
    cases = [("bad.wav", "bad.wav"), ("silent.wav", "silent"), ("notes.mid", "unsupported"),
             ("slow.wav", "3 Hz cannot be resampled to 16000 Hz"),
             ("missing", "not found")]
    for name, message in cases:
        src_spec = AudioHaystackSpec(kind="audio", path=name)
        with pytest.raises(HaystackError, match=message) as err:
            src = open_audio_source(src_spec, tmp_path, cache)
            src.build(5, 50, NEEDLE, "x", 0, "wav", tmp_path / "o")
        assert "\n" not in str(err.value) and str(err.value).startswith("haystack.path: ")
    assert not (tmp_path / "o").exists()


def test_bad_settings_are_refused_before_writing(tmp_path: Path) -> None:
    src = open_audio_source(AudioHaystackSpec(kind="audio"), tmp_path, tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"grid\.durations: the needle clip"):
        src.build(1.5, 50, NEEDLE, "x", 0, "wav", tmp_path / "o")
    odd = open_audio_source(AudioHaystackSpec(kind="audio", sample_rate=12_345), tmp_path,
                            tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"haystack\.sample_rate: MP3 cannot hold 12345 Hz"):
        odd.build(10, 50, NEEDLE, "x", 0, "mp3", tmp_path / "o")
    with pytest.raises(ConfigError, match=r"haystack\.needle_voice"):
        spec = AudioHaystackSpec(kind="audio", needle_voice="xx-nope")
        open_audio_source(spec, tmp_path, tmp_path)
    clip = write_wav(tmp_path / "needle.wav", spoken("The secret keyword is banana. " * 3))
    long_clip = AudioHaystackSpec(kind="audio", needle_clip=clip.name)
    with pytest.raises(ConfigError, match=r"haystack\.needle_clip: the needle clip"):
        open_audio_source(long_clip, tmp_path, tmp_path / "cache").build(
            4, 50, NEEDLE, "x", 0, "wav", tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_text_corpus_is_spoken(tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text(
        "The owl sat still. It watched the field.\n\nRain came at noon. The barn was dry.\n"
    )
    spec = AudioHaystackSpec(kind="audio", text="texts", too_short="loop")
    src = open_audio_source(spec, tmp_path, tmp_path / "cache")
    assert "the owl sat still." in src.text_sample()
    t = src.build(20, 50, NEEDLE, "banana", 0, "wav", tmp_path / "out")
    assert t.transcript is not None and NEEDLE in t.transcript and "barn" in t.transcript
