"""OCR of video frames for the ``ocr+<text model>`` cascade, with rapidocr-onnxruntime.

rapidocr bundles its ONNX models (PP-OCRv4 detection and recognition) in the wheel, so
it runs offline. Its angle classifier flips or drops small English lines, so it is off
(``use_cls=False``); its recogniser drops the spaces between words in small text, so
frames under ``min_height`` pixels are upscaled first. OCR costs 0.5-1 s per frame on
two cores, so each distinct frame's text is cached on disk by content: a JPEG by its
sha256, an mp4's frame by the pre-encoding pixel hash in the mp4's sidecar (or, without
one, by the decoded pixels), and a sweep reads each distinct frame once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from niah.atomic import write_text
from niah.config_errors import config_error
from niah.errors import ConfigError, HaystackError, MissingDependency
from niah.media.base import MediaPart, Transcriber
from niah.media.decode import frame_image, sample
from niah.media.encode import read_sidecar
from niah.media.render import pixel_hash
from niah.media.video import timestamp

OCR_VERSION = 1
"""Part of every cache key: bump when the text a frame gives changes."""


class OcrOptions(BaseModel):
    """Options of the OCR transcriber (``ocr+<model>`` cascades)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_height: int = Field(default=720, ge=0, le=4320)
    """Frames shorter than this are upscaled to it (at most 4x) before OCR: the bundled
    recogniser drops spaces between words in small text. 0: never upscale."""
    text_score: float = Field(default=0.5, ge=0.0, le=1.0)
    """Lines recognised with less confidence than this are dropped."""
    threads: int = Field(default=0, ge=0, le=64)
    """onnxruntime threads per OCR call; 0: the library's default (all cores)."""


_Load = Callable[[], Image.Image]


class OcrTranscriber:
    """A ``Transcriber``: frames to a ``[hh:mm:ss] text`` transcript, cached per frame."""

    def __init__(self, options: OcrOptions, cache_dir: Path) -> None:
        self.options = options
        self.cache_dir = cache_dir / f"ocr-v{OCR_VERSION}"
        self.ocr_calls = 0
        """Frames actually OCR'd (not found in the cache): the cost of a sweep."""
        self._engine: Any = None
        self._lock = threading.Lock()
        settings = options.model_dump(exclude={"threads"})
        self._salt = json.dumps(settings, sort_keys=True)

    async def transcribe(self, parts: Sequence[MediaPart]) -> str:
        """See ``Transcriber.transcribe``; OCR runs in a worker thread."""
        return await asyncio.to_thread(self.transcribe_sync, parts)

    def transcribe_sync(self, parts: Sequence[MediaPart]) -> str:
        lines: list[str] = []
        last_text = last_key = None
        with self._lock:  # one OCR at a time: it already uses every core
            for time_s, key, load in self._frames(parts):
                if key == last_key:
                    continue  # the same frame again: the same text
                last_key = key
                text = self._text(key, load)
                if not text:
                    last_text = None  # a caption that comes back is a new line
                elif text != last_text:
                    lines.append(f"{timestamp(time_s)} {text}")
                    last_text = text
        return "\n".join(lines)

    def _frames(self, parts: Sequence[MediaPart]) -> Iterator[tuple[float, str, _Load]]:
        for part in parts:
            if part.kind == "image":
                yield part.start_s, part.sha256, _image_loader(Path(part.path))
            elif part.kind == "video":
                yield from self._video_frames(part)
            else:
                raise ConfigError("media", f"OCR reads images and video, not {part.kind}")

    def _video_frames(self, part: MediaPart) -> Iterator[tuple[float, str, _Load]]:
        path = Path(part.path)
        sidecar = read_sidecar(path)
        if sidecar is not None and sidecar.get("sha256") == part.sha256:
            digests: list[str] = sidecar["frames"]
            fps = float(sidecar["fps"])
            if all(self._cached(d) is not None for d in digests):  # no decoding at all
                for k, d in enumerate(digests):
                    yield part.start_s + k / fps, d, _never
                return
            for k, frame in sample(path, fps, where=str(path)):
                if k >= len(digests):
                    return
                yield part.start_s + k / fps, digests[k], _const(frame_image(frame))
            return
        fps = _native_fps(path)
        for k, frame in sample(path, fps, where=str(path)):
            img = frame_image(frame)
            yield part.start_s + k / fps, pixel_hash(img), _const(img)

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(f"{self._salt}\0{key}".encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.txt"

    def _cached(self, key: str) -> str | None:
        try:
            return self._path(key).read_text(encoding="utf-8")
        except OSError:
            return None

    def _text(self, key: str, load: _Load) -> str:
        cached = self._cached(key)
        if cached is not None:
            return cached
        text = self.ocr(load())
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text)
        return text

    def ocr(self, img: Image.Image) -> str:
        """The text of one frame: its lines in reading order, joined by spaces."""
        self.ocr_calls += 1
        img = img.convert("RGB")
        floor = self.options.min_height
        if floor and img.height < floor:
            scale = min(4.0, floor / img.height)
            img = img.resize((round(img.width * scale), round(img.height * scale)),
                             Image.Resampling.LANCZOS)
        result, _ = self._ocr_engine()(np.asarray(img), text_score=self.options.text_score)
        rows = sorted(result or [], key=lambda r: (_top(r[0]), r[0][0][0]))
        return " ".join(" ".join(str(r[1]).split()) for r in rows).strip()

    def _ocr_engine(self) -> Any:
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise MissingDependency("rapidocr-onnxruntime", "video") from None
            kwargs: dict[str, Any] = {"use_cls": False}
            if self.options.threads:
                kwargs["intra_op_num_threads"] = self.options.threads
            self._engine = RapidOCR(**kwargs)
        return self._engine


def _top(box: Any) -> float:
    """A line's vertical position, in steps of 10 px so one line's boxes stay together."""
    return float(round(min(p[1] for p in box) / 10))


def _const(img: Image.Image) -> _Load:
    return lambda: img


def _never() -> Image.Image:
    raise AssertionError("a cached frame is never loaded")


def _image_loader(path: Path) -> _Load:
    def load() -> Image.Image:
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except OSError as exc:
            raise HaystackError(f"{path}: cannot read image: {exc}") from None
    return load


def _native_fps(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
    return float(rate) if rate else float(Fraction(1))


if TYPE_CHECKING:
    _conforms: type[Transcriber] = OcrTranscriber  # mypy checks the protocol here


def make_transcriber(options: dict[str, Any], cache_dir: Path) -> OcrTranscriber:
    """The OCR transcriber of an ``ocr+`` cascade (``options`` validated by ``OcrOptions``)."""
    try:
        opts = OcrOptions.model_validate(options)
    except ValidationError as exc:
        raise config_error(exc, "model.options.transcriber.", OcrOptions) from None
    return OcrTranscriber(opts, cache_dir)
