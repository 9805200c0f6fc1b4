"""OCR transcripts of video frames: timestamps, merging, the content-hash cache, real OCR."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from niah.errors import ConfigError
from niah.media.config import VideoHaystackSpec
from niah.media.ocr import OcrOptions, OcrTranscriber, make_transcriber
from niah.media.render import needle_frame
from niah.media.video import VideoSource, open_video_source

NEEDLE = 'The secret word is "lantern".'


class ColourOcr(OcrTranscriber):
    """Reads a frame's colour as its "text" (a scripted OCR, no model), counting calls."""

    def ocr(self, img: Image.Image) -> str:
        self.ocr_calls += 1
        mean = np.asarray(img.convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)
        if mean.min() > 150:
            return "needle"  # black text on a light frame of its own
        return ("red", "green", "blue")[int(np.argmax(mean))] if mean.max() > 60 else ""


def _source(folder: Path, **kw: object) -> VideoSource:
    spec = VideoHaystackSpec.model_validate({"kind": "video", **kw})
    return open_video_source(spec, folder, folder)


def test_transcript_merges_repeats_and_caches_by_content(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    colours = [(200, 0, 0)] * 3 + [(0, 200, 0)] * 2 + [(0, 0, 0)] + [(0, 200, 0), (0, 0, 200)]
    for k, c in enumerate(colours):
        Image.new("RGB", (64, 64), c).save(folder / f"{k:02d}.png")
    src = _source(tmp_path, path="frames")
    ocr = ColourOcr(OcrOptions(), tmp_path / "cache")
    for form in ("frames", "video"):
        trial = src.build(8, 0, NEEDLE, "lantern", 1, form, tmp_path / "out")
        # frame 0 is the needle's own frame; the black frame 5 has no text
        text = asyncio.run(ocr.transcribe(trial.parts))
        lines = text.splitlines()
        assert lines == ["[00:00:00] needle", "[00:00:01] red", "[00:00:03] green",
                         "[00:00:06] green", "[00:00:07] blue"], form
        assert all(re.fullmatch(r"\[\d\d:\d\d:\d\d\] \w+", line) for line in lines)
    assert ocr.ocr_calls == 2 * 5  # the 5 distinct frames of each form, never a repeat
    again = ColourOcr(OcrOptions(), tmp_path / "cache")
    for form in ("frames", "video"):
        trial = src.build(8, 0, NEEDLE, "lantern", 1, form, tmp_path / "out")
        asyncio.run(again.transcribe(trial.parts))
    assert again.ocr_calls == 0
    moved = src.build(8, 100, 'The secret word is "harbour".', "harbour", 1, "video",
                      tmp_path / "out")
    asyncio.run(again.transcribe(moved.parts))
    assert again.ocr_calls == 1  # only the new needle frame: frame 0 is a known red one


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make_transcriber({"min_heigth": 300}, tmp_path)
    assert str(err.value) == ("model.options.transcriber.min_heigth: unknown key; "
                              "did you mean 'min_height'?")
    with pytest.raises(ConfigError):
        make_transcriber({"text_score": 2}, tmp_path)
    assert make_transcriber({"threads": 1}, tmp_path).options.threads == 1


@pytest.mark.slow
def test_real_ocr_reads_the_needle_and_a_sweep_reads_each_frame_once(tmp_path: Path) -> None:
    src = _source(tmp_path, seed=5)
    ocr = make_transcriber({"threads": 2}, tmp_path / "cache")
    first = src.build(12, 50, NEEDLE, "lantern", 1, "video", tmp_path / "out")
    text = asyncio.run(ocr.transcribe(first.parts))
    assert '[00:00:06] The secret word is "lantern".' in text.splitlines()
    distinct = len(set(_sidecar_frames(first.parts[0].path)))
    assert ocr.ocr_calls == distinct
    second = src.build(12, 25, NEEDLE, "lantern", 1, "video", tmp_path / "out")
    text2 = asyncio.run(ocr.transcribe(second.parts))
    assert '[00:00:03] The secret word is "lantern".' in text2.splitlines()
    assert ocr.ocr_calls == distinct  # frame 6's scene was read in the first trial
    captions = [line.split("] ", 1)[1] for line in (first.transcript or "").splitlines()]
    assert sum(c in text for c in captions) >= len(captions) - 1


def _sidecar_frames(mp4: str) -> list[str]:
    import json

    from niah.media.encode import sidecar_path

    frames: list[str] = json.loads(sidecar_path(Path(mp4)).read_text())["frames"]
    return frames


def test_ocr_runs_off_the_event_loop(frames_folder: Path, tmp_path: Path) -> None:
    """OCR waits for an event only the event loop can set: a blocked loop would hang it."""
    go = threading.Event()
    waited: list[bool] = []

    class Waiting(ColourOcr):
        def ocr(self, img: Image.Image) -> str:
            waited.append(go.wait(timeout=30))
            return super().ocr(img)

    src = _source(frames_folder.parent, path="frames")
    trial = src.build(4, 0, NEEDLE, "lantern", 1, "frames", tmp_path / "out")
    ocr = Waiting(OcrOptions(), tmp_path / "cache")

    async def main() -> str:
        job = asyncio.create_task(ocr.transcribe(trial.parts))
        await asyncio.sleep(0)
        go.set()  # runs only while transcribe is awaiting its worker thread
        return await job

    assert asyncio.run(main()).count("\n") == 3
    assert waited and all(waited)


@pytest.mark.slow
def test_small_frames_are_upscaled_so_words_keep_their_spaces(tmp_path: Path) -> None:
    small = needle_frame(NEEDLE, 320, 180)
    plain = make_transcriber({"threads": 2, "min_height": 0}, tmp_path)
    upscaled = make_transcriber({"threads": 2}, tmp_path)
    assert upscaled.ocr(small) == NEEDLE
    assert "lantern" in plain.ocr(small)  # (here: 'Thesecretwordis"lantern"')
