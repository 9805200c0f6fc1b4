"""The video haystack: needle exactness, both forms, file and folder sources, bad input."""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from niah.errors import ConfigError, HaystackError
from niah.media.config import VideoHaystackSpec
from niah.media.encode import JPEG_QUALITY, sidecar_path
from niah.media.frames import GeneratedFrames
from niah.media.render import needle_frame
from niah.media.video import VideoSource, depth_bin, needle_index, open_video_source
from tests.media.clips import COLOURS, mean_colour, write_mp4

NEEDLE = 'The secret word is "lantern".'


def _spec(**kw: object) -> VideoHaystackSpec:
    return VideoHaystackSpec.model_validate({"kind": "video", **kw})


def _jpeg_sha(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return hashlib.sha256(buf.getvalue()).hexdigest()


@pytest.fixture(scope="module")
def small() -> VideoSource:
    """Generated video, small frames so that 50 trials stay quick."""
    return open_video_source(_spec(width=320, height=180, seed=3), Path("."), Path("."))


@pytest.fixture(scope="module")
def reference(small: VideoSource) -> list[tuple[str, str]]:
    """(pixel hash, JPEG sha256) of the un-needled first 10 minutes, from a fresh source."""
    fresh = open_video_source(_spec(width=320, height=180, seed=3), Path("."), Path("."))
    out: list[tuple[str, str]] = []
    jpeg: dict[str, str] = {}
    for _, frame in zip(range(600), fresh.stream.frames(), strict=False):
        if frame.digest not in jpeg:
            jpeg[frame.digest] = _jpeg_sha(frame.image)
        out.append((frame.digest, jpeg[frame.digest]))
    return out


def test_needle_in_exactly_one_frame_at_its_second(
    small: VideoSource, reference: list[tuple[str, str]], tmp_path: Path
) -> None:
    rng = random.Random(7)
    needle_sha = _jpeg_sha(needle_frame(NEEDLE, 320, 180))
    for _ in range(50):
        duration, depth = rng.randint(5, 600), round(rng.uniform(0, 100), 1)
        trial = small.build(duration, depth, NEEDLE, "lantern", rng.randrange(99), "frames",
                            tmp_path)
        n = duration
        assert len(trial.parts) == n and trial.duration_s == n
        i = trial.needle.index
        assert abs(i - depth / 100 * n) <= 1
        assert trial.needle.time_s == i and trial.needle.actual_depth == pytest.approx(i / n * 100)
        shas = [p.sha256 for p in trial.parts]
        expected = [sha for _, sha in reference[:n]]
        differs = [k for k in range(n) if shas[k] != expected[k]]
        assert differs == [i], (duration, depth)
        assert shas[i] == needle_sha
        part = trial.parts[i]
        assert part.start_s == i
        assert part.label == f"[{i // 3600:02d}:{i % 3600 // 60:02d}:{i % 60:02d}]"
        assert hashlib.sha256(Path(part.path).read_bytes()).hexdigest() == part.sha256
        assert NEEDLE in (trial.transcript or "")


def test_video_form_timestamps_and_the_changed_frame(
    small: VideoSource, reference: list[tuple[str, str]], tmp_path: Path
) -> None:
    fresh = open_video_source(_spec(width=320, height=180, seed=3), Path("."), Path("."))
    ref_imgs = [np.asarray(f.image, dtype=float) for _, f in zip(range(90), fresh.stream.frames(),
                                                                 strict=False)]
    for duration, depth in ((90, 0.0), (45, 50.0), (90, 100.0), (17, 33.3)):
        trial = small.build(duration, depth, NEEDLE, "lantern", 1, "video", tmp_path)
        (part,) = trial.parts
        assert part.mime == "video/mp4" and part.duration_s == duration
        assert hashlib.sha256(Path(part.path).read_bytes()).hexdigest() == part.sha256
        diffs, times = [], []
        with av.open(part.path) as container:
            for frame in container.decode(video=0):
                times.append(frame.time)
                img = np.asarray(frame.to_image(), dtype=float)
                diffs.append(float(np.abs(img - ref_imgs[len(diffs)]).mean()))
        assert times == [float(k) for k in range(duration)]
        i = trial.needle.index
        assert int(np.argmax(diffs)) == i
        assert diffs[i] > 5 * max(d for k, d in enumerate(diffs) if k != i)
        side = json.loads(sidecar_path(Path(part.path)).read_text())
        assert side["sha256"] == part.sha256
        assert [k for k, d in enumerate(side["frames"]) if d != reference[k][0]] == [i]


def test_rebuilding_reuses_the_files(small: VideoSource, tmp_path: Path) -> None:
    first = small.build(30, 50, NEEDLE, "lantern", 1, "video", tmp_path)
    mtime = Path(first.parts[0].path).stat().st_mtime_ns
    again = small.build(30, 50, NEEDLE, "lantern", 1, "video", tmp_path)
    assert again.parts == first.parts
    assert Path(first.parts[0].path).stat().st_mtime_ns == mtime
    other = small.build(30, 20, NEEDLE, "lantern", 1, "video", tmp_path)
    assert other.parts[0].path != first.parts[0].path


def test_overlay_keeps_the_scene_under_the_needle(tmp_path: Path) -> None:
    src = open_video_source(_spec(width=320, height=180, needle_frame="overlay"), Path("."),
                            Path("."))
    trial = src.build(20, 50, NEEDLE, "lantern", 1, "frames", tmp_path)
    i = trial.needle.index
    under = next(f for k, f in enumerate(src.stream.frames()) if k == i)
    assert trial.parts[i].sha256 == _jpeg_sha(needle_frame(NEEDLE, 320, 180, under.image))
    assert trial.parts[i].sha256 != _jpeg_sha(needle_frame(NEEDLE, 320, 180))


def test_random_in_bin_stays_in_the_depths_bin() -> None:
    grid = [0.0, 25.0, 50.0, 75.0, 100.0]
    assert depth_bin(50.0, grid) == (37.5, 62.5)
    assert depth_bin(0.0, grid) == (0.0, 12.5) and depth_bin(100.0, grid) == (87.5, 100.0)
    for depth in grid:
        lo, hi = depth_bin(depth, grid)
        seen = {needle_index(200, depth, "random_in_bin", s, grid) for s in range(60)}
        assert all(lo / 100 * 200 <= i < max(hi / 100 * 200, 1) for i in seen), (depth, seen)
        assert len(seen) > 5
    assert needle_index(200, 50.0, "random_in_bin", 4, grid) == needle_index(
        200, 50.0, "random_in_bin", 4, grid)
    assert needle_index(200, 50.0, "exact", 4, grid) == 100


def test_text_sample_holds_the_captions(small: VideoSource) -> None:
    sample = small.text_sample()
    assert isinstance(small.stream, GeneratedFrames)
    first = small.stream.captions(1)[0][1]
    assert first.lower() in sample and sample == sample.lower()
    assert not any(ch.isdigit() for ch in sample)


def test_text_folder_captions(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_text("Zebras graze quietly. Otters swim at dawn.\n")
    src = open_video_source(_spec(width=320, height=180, text="t"), tmp_path, tmp_path)
    assert "zebras graze quietly." in src.text_sample()
    trial = src.build(12, 50, NEEDLE, "lantern", 1, "frames", tmp_path / "out")
    assert "Otters swim at dawn." in (trial.transcript or "")


def test_file_source_samples_each_second(tmp_path: Path) -> None:
    video = write_mp4(tmp_path / "clip.mp4", seconds=10)
    src = open_video_source(_spec(path="clip.mp4"), tmp_path, tmp_path)
    assert src.max_duration_s() == 10
    assert (src.stream.width, src.stream.height) == (160, 120)
    (memo,) = (tmp_path / "file-digests").iterdir()
    assert memo.read_text() == hashlib.sha256(video.read_bytes()).hexdigest()
    assert open_video_source(_spec(path="clip.mp4"), tmp_path, tmp_path).stream.key == (
        src.stream.key)
    trial = src.build(6, 50, NEEDLE, "lantern", 1, "frames", tmp_path / "out")
    assert trial.needle.index == 3 and len(trial.parts) == 6
    for k, part in enumerate(trial.parts):
        if k != 3:
            assert np.abs(mean_colour(Path(part.path)) - COLOURS[k]).max() < 12, k
    two = open_video_source(_spec(path=str(video), fps=2), tmp_path, tmp_path)
    trial = two.build(5, 0, NEEDLE, "lantern", 1, "video", tmp_path / "out")
    with av.open(trial.parts[0].path) as container:
        colours = [mean_colour(f.to_image()) for f in container.decode(video=0)]
    assert len(colours) == 10
    for k in range(1, 10):
        assert np.abs(colours[k] - COLOURS[k // 2]).max() < 12, k


def test_frames_folder_and_loop_or_refuse(frames_folder: Path, tmp_path: Path) -> None:
    src = open_video_source(_spec(path="frames"), frames_folder.parent, tmp_path)
    assert src.max_duration_s() == 8
    with pytest.raises(HaystackError) as err:
        src.build(20, 50, NEEDLE, "lantern", 1, "frames", tmp_path / "out")
    assert str(err.value) == (
        "duration 20 s is longer than the video (8 s); set haystack.too_short: loop")
    assert not (tmp_path / "out").exists()
    looped = open_video_source(_spec(path="frames", too_short="loop"), frames_folder.parent,
                               tmp_path)
    assert looped.max_duration_s() is None
    trial = looped.build(20, 100, NEEDLE, "lantern", 1, "frames", tmp_path / "out")
    assert len(trial.parts) == 20 and trial.needle.index == 19
    for k in range(19):
        assert np.abs(mean_colour(Path(trial.parts[k].path)) - COLOURS[k % 8]).max() < 4, k
    halves = open_video_source(_spec(path="frames", fps=2), frames_folder.parent, tmp_path)
    assert halves.max_duration_s() == 4


def _one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(HaystackError) as err:
        open_video_source(_spec(path="missing.mp4"), tmp_path, tmp_path)
    assert "missing.mp4" in _one_line(err)
    (tmp_path / "notes.mp4").write_text("not a video at all\n")
    with pytest.raises(HaystackError) as err:
        open_video_source(_spec(path="notes.mp4"), tmp_path, tmp_path)
    assert "notes.mp4" in _one_line(err)
    with av.open(str(tmp_path / "empty.mp4"), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=1)
        stream.width, stream.height = 64, 64
    with pytest.raises(HaystackError) as err:
        open_video_source(_spec(path="empty.mp4"), tmp_path, tmp_path)
    assert "empty.mp4" in _one_line(err)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(HaystackError) as err:
        open_video_source(_spec(path="nothing"), tmp_path, tmp_path)
    assert "no image files" in _one_line(err)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(HaystackError) as err:
        open_video_source(_spec(path="broken"), tmp_path, tmp_path)
    assert "a.png" in _one_line(err)
    with pytest.raises(ValidationError):
        _spec(fps=0)
    zero = VideoHaystackSpec.model_construct(kind="video", fps=0.0)
    with pytest.raises(ConfigError) as cerr:
        open_video_source(zero, tmp_path, tmp_path)
    assert _one_line(cerr).startswith("haystack.fps:")
    src = open_video_source(_spec(width=64, height=64), tmp_path, tmp_path)
    with pytest.raises(ConfigError):
        src.build(5, 50, NEEDLE, "lantern", 1, "wav", tmp_path)


@pytest.mark.parametrize("fps", [0.5, 2.5, 29.97])
def test_mp4_timestamps_at_any_fps(fps: float, tmp_path: Path) -> None:
    src = open_video_source(_spec(fps=fps, width=160, height=96), tmp_path, tmp_path)
    trial = src.build(10, 50, NEEDLE, "lantern", 1, "video", tmp_path)
    with av.open(trial.parts[0].path) as container:
        times = [frame.time for frame in container.decode(video=0)]
    n = round(10 * fps)
    assert len(times) == n
    assert times == pytest.approx([k / fps for k in range(n)], abs=1e-9)
    assert trial.needle.time_s == pytest.approx(trial.needle.index / fps)
    assert abs(trial.needle.index - n / 2) <= 1
