"""The cascade's speech recognition: content-defined segments, the transcript cache, the
transcriptions endpoint over a real socket, and embedded pocketsphinx (slow)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from niah.errors import ConfigError, PermanentModelError
from niah.media import _segments
from niah.media.asr import make_transcriber, stamp
from niah.media.audio import AudioSource, open_audio_source
from niah.media.config import AudioHaystackSpec
from tests.fakes.transcription_server import FakeTranscriptionServer

NEEDLE = "The secret keyword is banana."


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[AudioSource, Path]:
    root = tmp_path_factory.mktemp("asr")
    return open_audio_source(AudioHaystackSpec(kind="audio"), root, root / "cache"), root


def digests(pcm: np.ndarray, every: int) -> list[tuple[int, str]]:
    blocks = (pcm[i: i + 1000] for i in range(0, len(pcm), 1000))
    segs = list(_segments.segments(blocks, 16_000, min_pause_s=0.25, silence=160,
                                   pauses_per_segment=every, max_segment_s=60))
    assert np.array_equal(np.concatenate([seg for _, seg in segs]), pcm)  # they tile the audio
    assert [s for s, _ in segs] == list(np.cumsum([0] + [len(seg) for _, seg in segs[:-1]]))
    return [(start, hashlib.sha256(seg.tobytes()).hexdigest()) for start, seg in segs]


def test_segments_are_cut_by_content_wherever_the_audio_sits(
    speech: tuple[AudioSource, Path]
) -> None:
    src, _ = speech
    clips, _ = src._clips_for(16_000 * 90, 90)
    hay = np.concatenate([np.asarray(c.samples()) for c in clips])
    prefix = src.needle_pcm(NEEDLE)
    for every in (1, 3):
        plain = digests(hay, every)
        shifted = digests(np.concatenate([prefix, hay]), every)
        later = {d for _, d in plain[2:]}
        assert len(later) > 3 and later <= {d for _, d in shifted}, every


def test_the_endpoint_gets_multipart_wav_and_each_clip_is_sent_once(
    speech: tuple[AudioSource, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, root = speech
    monkeypatch.setenv("ASR_TEST_KEY", "sk-test-123")
    a = src.build(90, 25, NEEDLE, "banana", 0, "wav", root / "out")
    b = src.build(90, 75, NEEDLE, "banana", 0, "wav", root / "out")
    with FakeTranscriptionServer() as srv:
        options = {"engine": "openai", "base_url": srv.base_url, "model": "whisper-large-v3",
                   "api_key_env": "ASR_TEST_KEY", "pauses_per_segment": 2}
        asr = make_transcriber(options, tmp_path / "cache")
        first = asyncio.run(asr.transcribe(a.parts))
        sent = len(srv.requests)
        assert sent > 5
        req = srv.requests[0]
        assert req["path"] == "/v1/audio/transcriptions" and req["multipart"]
        assert req["fields"] == {"model": "whisper-large-v3", "response_format": "json",
                                 "language": "en"}
        assert (req["filename"], req["content_type"]) == ("segment.wav", "audio/wav")
        assert (req["rate"], req["channels"], req["width"]) == (16_000, 1, 2)
        assert req["auth"] == "Bearer sk-test-123"
        # the same trial again: everything from the cache
        again = make_transcriber(options, tmp_path / "cache")
        assert asyncio.run(again.transcribe(a.parts)) == first and len(srv.requests) == sent
        # the needle elsewhere: only its old and new neighbourhoods are new (a content-
        # defined cut may move by one segment on each side of each: at most 3 + 3; how
        # the prose falls into segments varies with espeak-ng's state in the process)
        asyncio.run(again.transcribe(b.parts))
        assert 0 < len(srv.requests) - sent <= 6 < sent
    lines = first.splitlines()
    assert all(re.fullmatch(r"\[\d\d:\d\d:\d\d\] clip [0-9a-f]{12}", line) for line in lines)
    stamps = [line[:10] for line in lines]
    # segments start at times on the trial's timeline, from its start to before its end
    # (whether one starts exactly at the needle depends on which pauses the content-
    # defined cut picks, which varies with the synthesized prose)
    assert stamps == sorted(stamps) and stamps[0] == "[00:00:00]" and stamps[-1] < stamp(90)


def test_endpoint_errors_never_show_the_key(tmp_path: Path, speech: tuple[AudioSource, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    src, root = speech
    trial = src.build(10, 50, NEEDLE, "banana", 0, "wav", root / "out")
    monkeypatch.setenv("ASR_TEST_KEY", "sk-test")
    with FakeTranscriptionServer(status=401) as srv:
        asr = make_transcriber({"engine": "openai", "base_url": srv.base_url,
                                "api_key_env": "ASR_TEST_KEY"}, tmp_path)
        with pytest.raises(PermanentModelError) as err:
            asyncio.run(asr.transcribe(trial.parts))
    assert "401" in str(err.value) and "sk-test" not in str(err.value)


def test_bad_options_name_their_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    cases: list[tuple[dict[str, Any], str]] = [
             ({"engine": "vosk"}, "model.options.transcriber.engine"),
             ({"min_pause_s": 0}, "model.options.transcriber.min_pause_s"),
             ({"colour": 1}, "model.options.transcriber.colour"),
             ({"engine": "openai", "api_key_env": "NO_SUCH_KEY_VAR"},
              "model.options.transcriber.api_key_env"),
             ({"engine": "openai", "base_url": "ftp://x"}, "model.options.transcriber.base_url")]
    for options, field in cases:
        with pytest.raises(ConfigError, match=f"^{re.escape(field)}: "):
            make_transcriber(options, tmp_path)


@pytest.mark.slow
def test_pocketsphinx_transcribes_a_synthesized_trial(tmp_path: Path) -> None:
    src = open_audio_source(AudioHaystackSpec(kind="audio"), tmp_path, tmp_path / "cache")
    keywords = ["tiger", "window", "apple", "rocket", "violin", "penguin"]
    asr = make_transcriber({"keywords": keywords}, tmp_path / "cache")
    for word in ("tiger", "window"):
        trial = src.build(20, 50, f"The secret keyword is {word}.", word, 0, "wav", tmp_path)
        text = asyncio.run(asr.transcribe(trial.parts))
        lines = text.splitlines()
        assert len(lines) >= 3, text
        near = [line for line in lines if abs(_seconds(line) - trial.needle.time_s) <= 1]
        assert any(line.endswith(f"the secret key word is {word}") for line in near), text
    recognized = asr.recognized
    again = make_transcriber({"keywords": keywords}, tmp_path / "cache")
    assert asyncio.run(again.transcribe(trial.parts)) == text and again.recognized == 0
    assert recognized < 2 * len(lines)  # the second trial's haystack came from the cache


def _seconds(line: str) -> int:
    h, m, s = (int(x) for x in line[1:9].split(":"))
    return h * 3600 + m * 60 + s
