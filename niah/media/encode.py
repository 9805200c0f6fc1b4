"""Writing a trial's frames: one H.264 mp4 (with a per-frame hash sidecar) or JPEG files.

Files are content addressed: a JPEG is named by its pixels' hash, an mp4 by the hashes of
all its frames, so a rebuilt trial, or another trial sharing frames, reuses what exists.
The sidecar ``<name>.frames.json`` lists every frame's pre-encoding pixel hash: the OCR
cache keys frames by it, so H.264's decoding differences never defeat the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from niah.atomic import atomic_file
from niah.errors import HaystackError
from niah.media.decode import time_base
from niah.media.frames import Frame

CRF = 30
PRESET = "veryfast"
JPEG_QUALITY = 90
SIDECAR_SUFFIX = ".frames.json"


@dataclass(frozen=True)
class Written:
    path: Path
    sha256: str
    nbytes: int


def sidecar_path(mp4: Path) -> Path:
    return mp4.with_name(mp4.name.removesuffix(".mp4") + SIDECAR_SUFFIX)


def read_sidecar(mp4: Path) -> dict[str, Any] | None:
    """The sidecar of ``mp4`` if it is there and names this very file, else None."""
    try:
        data = json.loads(sidecar_path(mp4).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        return None
    return data


def _sha256(path: Path) -> Written:
    h = hashlib.sha256()
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return Written(path, h.hexdigest(), n)


def write_mp4(frames: Iterable[Frame], key: str, fps: float, width: int, height: int,
              out_dir: Path) -> Written:
    """Encode ``frames`` as ``<key>.mp4`` unless it exists, with its sidecar of frame hashes.

    ``key`` must identify the frames' content (source, trim, needle), so equal keys are
    equal videos.
    """
    name = hashlib.sha256(json.dumps([key, f"{fps:g}", width, height, CRF, PRESET]).encode())
    target = out_dir / f"{name.hexdigest()[:32]}.mp4"
    if target.exists():
        found, side = _sha256(target), read_sidecar(target)
        if side is not None and side.get("sha256") == found.sha256:
            return found
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{target.name}.", suffix=".mp4")
    os.close(fd)
    digests: list[str] = []
    try:
        _encode(_hashing(frames, digests), fps, width, height, Path(tmp))
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HaystackError(f"{target}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    written = _sha256(target)
    sidecar = {"fps": fps, "width": width, "height": height, "sha256": written.sha256,
               "frames": digests}
    with atomic_file(sidecar_path(target)) as f:
        f.write(json.dumps(sidecar, separators=(",", ":")).encode())
    return written


def _hashing(frames: Iterable[Frame], digests: list[str]) -> Iterator[Frame]:
    for frame in frames:
        digests.append(frame.digest)
        yield frame


def _encode(frames: Iterable[Frame], fps: float, width: int, height: int, path: Path) -> None:
    tb = time_base(fps)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1 / tb)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = tb
        stream.codec_context.time_base = tb
        stream.options = {"crf": str(CRF), "preset": PRESET}
        vf, last = None, None
        for k, frame in enumerate(frames):
            if vf is None or frame.digest != last:  # a held scene is converted once
                vf = av.VideoFrame.from_image(frame.image)  # type: ignore[no-untyped-call]
                last = frame.digest
            vf.pts = k
            vf.time_base = tb
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


class JpegWriter:
    """JPEGs named by pixel hash under ``out_dir``; remembers what it wrote or found."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._known: dict[tuple[Path, str], Written] = {}

    def write(self, frame: Frame) -> Written:
        target = self.out_dir / f"{frame.digest[:32]}.jpg"
        known = self._known.get((self.out_dir, frame.digest))
        if known is not None and target.exists():
            return known
        if target.exists():
            written = _sha256(target)
        else:
            buf = io.BytesIO()
            frame.image.save(buf, format="JPEG", quality=JPEG_QUALITY)
            data = buf.getvalue()
            self.out_dir.mkdir(parents=True, exist_ok=True)
            try:
                with atomic_file(target) as f:
                    f.write(data)
            except OSError as exc:
                raise HaystackError(f"{target}: cannot write ({exc.strerror or exc})") from exc
            written = Written(target, hashlib.sha256(data).hexdigest(), len(data))
        self._known[(self.out_dir, frame.digest)] = written
        return written
