"""Audio haystacks: build time and peak memory by duration; the cascade's recognition speed.

    python bench/audio.py [--durations 1h,22h] [--asr-seconds 120] [--cache DIR]

Build: each duration is built in a fresh process (synthesized speech, 16 kHz WAV, the
needle at 50%), first from an empty clip cache ("cold": synthesis included) unless the
cache already holds it, then again at 25% ("warm": clips read from the cache); each
prints seconds and the process's peak resident memory (``ru_maxrss``). The goal: peak
memory independent of the duration and under 1 GiB.

Recognition: the same synthesized WAV transcribed by the cascade's transcriber
(``niah.media.asr``, pocketsphinx, an empty transcript cache) and by pocketsphinx called
directly as its documentation does for long audio (its ``Segmenter`` VAD + ``Decoder``),
alternately; each as a multiple of real time (audio seconds / wall seconds) and the
ratio of the two. The goal: the cascade within 1.1x of pocketsphinx alone.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
NEEDLE = "The secret keyword is banana."


def seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def build_child(duration_s: float, depth: float, cache: str, out: str) -> None:
    from niah.media.audio import open_audio_source
    from niah.media.config import AudioHaystackSpec

    start = time.perf_counter()
    src = open_audio_source(AudioHaystackSpec(kind="audio"), Path(out), Path(cache))
    trial = src.build(duration_s, depth, NEEDLE, "banana", 0, "wav", Path(out))
    took = time.perf_counter() - start
    Path(trial.parts[0].path).unlink()  # a day of WAV is 2.5 GB: keep the disk free
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": took, "peak_bytes": peak, "bytes": trial.parts[0].nbytes}))


def run_build(duration_s: float, depth: float, cache: Path, out: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(duration_s), str(depth), str(cache), str(out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def direct_pocketsphinx(path: Path) -> str:
    """pocketsphinx alone, as its documentation transcribes a long file."""
    from pocketsphinx import Decoder, Segmenter

    decoder = Decoder(samprate=16_000, loglevel="FATAL")
    segmenter = Segmenter(sample_rate=16_000)
    lines = []
    with wave.open(str(path), "rb") as w:
        audio = w.readframes(w.getnframes())
    for speech in segmenter.segment(io.BytesIO(audio)):
        decoder.start_utt()
        decoder.process_raw(speech.pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        if hyp is not None and hyp.hypstr:
            lines.append(f"{speech.start_time:.1f} {hyp.hypstr}")
    return "\n".join(lines)


def bench_asr(audio_s: float, cache: Path, repeats: int) -> None:
    from niah.media.asr import make_transcriber
    from niah.media.audio import open_audio_source
    from niah.media.config import AudioHaystackSpec

    with tempfile.TemporaryDirectory() as tmp:
        src = open_audio_source(AudioHaystackSpec(kind="audio"), Path(tmp), cache)
        trial = src.build(audio_s, 50, NEEDLE, "banana", 0, "wav", Path(tmp))
        cascade, direct, cascade_cpu, direct_cpu = [], [], [], []
        for r in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            asr = make_transcriber({}, Path(tmp) / f"asr-{r}")
            text = asyncio.run(asr.transcribe(trial.parts))
            cascade.append(time.perf_counter() - start)
            cascade_cpu.append(time.process_time() - cpu)
            start, cpu = time.perf_counter(), time.process_time()
            alone = direct_pocketsphinx(Path(trial.parts[0].path))
            direct.append(time.perf_counter() - start)
            direct_cpu.append(time.process_time() - cpu)
        c, d, cc, dc = min(cascade), min(direct), min(cascade_cpu), min(direct_cpu)
        print(f"recognition of {audio_s:g} s of synthesized speech (best of {repeats}; "
              "wall and CPU seconds, CPU is steadier on a shared machine):")
        print(f"  cascade (niah.media.asr):     {c:6.1f} s wall {cc:6.1f} s CPU "
              f"{audio_s / c:5.2f}x real time, {asr.recognized} segments")
        print(f"  pocketsphinx alone (VAD+dec): {d:6.1f} s wall {dc:6.1f} s CPU "
              f"{audio_s / d:5.2f}x real time, {len(alone.splitlines())} utterances")
        print(f"  cascade / direct: wall {c / d:.2f}, CPU {cc / dc:.2f}; "
              f"{len(text.splitlines())} transcript lines")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        build_child(float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", default="1h,22h")
    ap.add_argument("--asr-seconds", type=float, default=120.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "niah-audio-bench")
    ap.add_argument("--skip-build", action="store_true")
    args = ap.parse_args()
    if not args.skip_build:
        for text in args.durations.split(","):
            duration = seconds(text)
            with tempfile.TemporaryDirectory() as out:
                cold = run_build(duration, 50, args.cache, Path(out))
                warm = run_build(duration, 25, args.cache, Path(out))
            print(f"build {text:>4}: first {cold['seconds']:7.1f} s"
                  f" peak {cold['peak_bytes'] / 2**20:6.0f} MiB;"
                  f" again {warm['seconds']:6.1f} s peak {warm['peak_bytes'] / 2**20:6.0f} MiB;"
                  f" WAV {warm['bytes'] / 2**30:.2f} GiB", flush=True)
    if args.asr_seconds > 0:
        bench_asr(args.asr_seconds, args.cache, args.repeats)


if __name__ == "__main__":
    main()
