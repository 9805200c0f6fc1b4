"""Video haystack speed and memory: frame extraction, and peak memory of long builds.

    python bench/video.py [--minutes 30] [--source-fps 5] [--repeats 3]
                          [--long-hours 3] [--size 1280x720] [--skip-memory]

1. Extraction at 1 fps from a generated ``--minutes`` long 720p H.264 video (made once
   in a temp folder, at ``--source-fps`` frames per second: every one of them is
   decoded, as a real video's would be). Timed side by side, alternating, ``--repeats``
   times: niah's frames build (decode, sample, hash, write one JPEG per distinct
   frame), a plain PyAV loop writing every sampled frame as a JPEG, and the ``ffmpeg``
   command line (``-vf fps=1 %05d.jpg``) when an ffmpeg binary is on the PATH.
   Sampled frames per second: median (min-max).
2. Peak resident memory of a sweep build in a fresh process, for a ``--minutes`` and a
   ``--long-hours`` generated video: frames form at 3 depths, video form (one mp4) at
   one depth. Goal (issue 10): under 1 GiB and independent of the duration.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDLE = 'The secret word is "lantern".'


def make_source(path: Path, minutes: float, fps: int, width: int, height: int) -> None:
    """A generated video of captioned scenes at ``fps`` (x264 ultrafast: it is only input)."""
    import av

    from niah.media.frames import GeneratedFrames

    frames = GeneratedFrames(seed=11, fps=fps, width=width, height=height).frames()
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        last = None
        vf = None
        for k in range(round(minutes * 60 * fps)):
            frame = next(frames)
            if frame.digest != last:
                vf = av.VideoFrame.from_image(frame.image)
                last = frame.digest
            assert vf is not None
            vf.pts, vf.time_base = k, Fraction(1, fps)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def niah_build(video: Path, out: Path, seconds: int) -> int:
    from niah.media.config import VideoHaystackSpec
    from niah.media.video import open_video_source

    spec = VideoHaystackSpec(kind="video", path=str(video))
    src = open_video_source(spec, video.parent, out)
    return len(src.build(seconds, 50, NEEDLE, "lantern", 1, "frames", out).parts)


def pyav_loop(video: Path, out: Path, seconds: int) -> int:
    """The plain way: decode everything, save the frame on screen at each whole second."""
    import av

    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time + 1e-6 >= n and n < seconds:
                frame.to_image().save(out / f"{n:05d}.jpg", quality=90)
                n += 1
    return n


def ffmpeg_cli(video: Path, out: Path, seconds: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(video), "-vf", "fps=1",
                    "-q:v", "2", str(out / "%05d.jpg")], check=True)
    return len(list(out.iterdir()))


def extraction(args: argparse.Namespace, tmp: Path) -> None:
    w, h = (int(x) for x in args.size.split("x"))
    video = tmp / "source.mp4"
    t0 = time.perf_counter()
    make_source(video, args.minutes, args.source_fps, w, h)
    print(f"source: {args.minutes:g} min, {w}x{h}, {args.source_fps} fps, "
          f"{video.stat().st_size / 2**20:.0f} MiB, made in {time.perf_counter() - t0:.0f} s")
    seconds = round(args.minutes * 60)
    ways = {"niah build (frames)": niah_build, "plain PyAV loop": pyav_loop}
    if shutil.which("ffmpeg"):
        ways["ffmpeg -vf fps=1"] = ffmpeg_cli
    else:
        print("no ffmpeg binary on this machine: compared with a plain PyAV loop instead")
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for rep in range(args.repeats):
        for name, way in ways.items():
            out = tmp / f"out-{rep}-{len(rates[name])}-{name.split()[0]}"
            t = time.perf_counter()
            n = way(video, out, seconds)
            rates[name].append(n / (time.perf_counter() - t))
            shutil.rmtree(out)
    for name, r in rates.items():
        print(f"  {name:22s} {statistics.median(r):7.1f} sampled frames/s "
              f"({min(r):.1f}-{max(r):.1f})")


_SWEEP = """
import json, resource, sys, time
from pathlib import Path
from niah.media.config import VideoHaystackSpec
from niah.media.video import open_video_source
seconds, form, depths, out, w, h, needle = json.loads(sys.argv[1])
spec = VideoHaystackSpec(kind="video", width=w, height=h)
src = open_video_source(spec, Path(out), Path(out))
t = time.perf_counter()
for depth in depths:
    src.build(seconds, depth, needle, "lantern", 1, form, Path(out))
print(json.dumps([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  time.perf_counter() - t]))
"""


def memory(args: argparse.Namespace, tmp: Path) -> None:
    w, h = (int(x) for x in args.size.split("x"))
    for form, depths in (("frames", [0, 50, 100]), ("video", [50])):
        for seconds in (round(args.minutes * 60), round(args.long_hours * 3600)):
            out = tmp / f"mem-{form}-{seconds}"
            cmd = [sys.executable, "-c", _SWEEP, json.dumps([seconds, form, depths, str(out),
                                                             w, h, NEEDLE])]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            peak, wall = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"  {form:6s} {seconds / 60:6.0f} min x {len(depths)} depth(s): "
                  f"peak {peak:6.0f} MiB, {wall:6.0f} s")
            shutil.rmtree(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--source-fps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-hours", type=float, default=3)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-extraction", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="niah-bench-video-") as d:
        if not args.skip_extraction:
            print("1. extraction at 1 fps")
            extraction(args, Path(d))
        if not args.skip_memory:
            print(f"2. peak memory of a sweep build ({args.size})")
            memory(args, Path(d))


if __name__ == "__main__":
    main()
