"""Frame streams a video haystack samples from: generated scenes, a video file, a folder.

Every stream yields frames ``0, 1, 2...`` at the haystack's fps lazily, one at a time,
so an hour of video is never held in memory: a file is decoded as it is read, a folder
opens one image per frame, generated scenes are drawn once per scene.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from PIL import Image

from niah.atomic import write_text
from niah.errors import HaystackError, NiahError
from niah.haystack import prose
from niah.haystack.sentences import sentence_ends
from niah.haystack.sources import read_text_file, split_paragraphs, text_files
from niah.media.render import RENDER_VERSION, pixel_hash, scene_colour, scene_frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
_MAX_CAPTION = 200
"""Characters per caption: a longer sentence is split, so it fits on the frame."""


class Frame:
    """A sampled frame and the hash of its pixels; a generated frame whose hash is known
    is drawn only when its pixels are needed (a JPEG already written needs none)."""

    def __init__(self, image: Image.Image | None, digest: str,
                 render: Callable[[], Image.Image] | None = None) -> None:
        self._image = image
        self.digest = digest
        self._render = render

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            assert self._render is not None
            self._image = self._render()
        return self._image


class FrameStream(Protocol):
    key: str
    """Identifies the frames' content (a cache key)."""
    width: int
    height: int

    def n_frames(self) -> int | None:
        """Frames available at the fps (None: endless)."""
        ...

    def frames(self) -> Iterator[Frame]:
        """Frames from the start, lazily."""
        ...


def _sentences(paragraphs: Iterator[str]) -> Iterator[str]:
    for para in paragraphs:
        data = para.encode()
        start = 0
        for _, after in zip(*sentence_ends(data), strict=True):
            yield from _fit(data[start:int(after)].decode().strip())
            start = int(after)
        yield from _fit(data[start:].decode().strip())


def _fit(sentence: str) -> Iterator[str]:
    """``sentence`` in pieces of at most ``_MAX_CAPTION`` characters, cut between words."""
    words = sentence.split()
    piece = ""
    for word in words:
        if piece and len(piece) + 1 + len(word) > _MAX_CAPTION:
            yield piece
            piece = word
        else:
            piece = f"{piece} {word}" if piece else word
    if piece:
        yield piece


@dataclass
class Scene:
    start: int
    """First frame index."""
    count: int
    text: str
    colour: tuple[int, int, int]
    seed: int
    digest: str | None = None
    """The hash of the scene's pixels, once drawn."""


@dataclass
class GeneratedFrames:
    """Captioned scenes, like subtitles: one or two sentences held for 2-6 seconds each."""

    seed: int
    fps: float
    width: int
    height: int
    text_folder: Path | None = None
    key: str = ""
    _corpus: list[str] | None = None
    _scenes: list[Scene] = field(default_factory=list)
    _sentences: Iterator[str] | None = None
    _rng: random.Random | None = None

    def __post_init__(self) -> None:
        text_key = f"prose-v{prose.GENERATOR_VERSION}"
        if self.text_folder is not None:
            digest = hashlib.sha256()
            paras: list[str] = []
            for path in text_files(self.text_folder):
                text = read_text_file(path, "haystack.text")
                digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
                paras.extend(split_paragraphs(text))
            self._corpus = list(_sentences(iter(paras)))
            if not self._corpus:
                raise HaystackError(f"haystack.text: the files in {self.text_folder} hold no text")
            text_key = "files-" + digest.hexdigest()[:24]
        self.key = (f"gen-r{RENDER_VERSION}-{text_key}-s{self.seed}-{self.width}x{self.height}"
                    f"-{self.fps:g}fps")

    def n_frames(self) -> int | None:
        return None

    def _sentence_stream(self) -> Iterator[str]:
        if self._corpus is None:
            yield from _sentences(prose.paragraphs(self.seed))
            return
        start = random.Random(f"niah-video-text-{self.seed}").randrange(len(self._corpus))
        while True:  # a corpus loops, like a finite text haystack
            yield from self._corpus[start:]
            yield from self._corpus[:start]

    def scenes_until(self, frame: int) -> list[Scene]:
        """Scenes covering frames ``0..frame`` (drawn on demand, kept: ~100 bytes each)."""
        if self._rng is None:
            self._rng = random.Random(f"niah-video-{self.seed}")
            self._sentences = self._sentence_stream()
        assert self._sentences is not None
        while not self._scenes or self._scenes[-1].start + self._scenes[-1].count <= frame:
            rng = self._rng
            text = next(self._sentences)
            if rng.random() < 0.5 and len(text) < _MAX_CAPTION // 2:
                more = next(self._sentences)
                if len(text) + len(more) < _MAX_CAPTION:
                    text = f"{text} {more}"
            start = self._scenes[-1].start + self._scenes[-1].count if self._scenes else 0
            count = max(1, round(rng.uniform(2.0, 6.0) * self.fps))
            self._scenes.append(Scene(start, count, text, scene_colour(rng), rng.getrandbits(32)))
        return self._scenes

    def frames(self) -> Iterator[Frame]:
        i = 0
        while True:
            scene = self._scene_at(i)
            if scene.digest is None:
                img = self._draw(scene)
                scene.digest = pixel_hash(img)
                frame = Frame(img, scene.digest)
            else:
                frame = Frame(None, scene.digest, functools.partial(self._draw, scene))
            for _ in range(scene.count):
                yield frame
            i = scene.start + scene.count

    def _draw(self, scene: Scene) -> Image.Image:
        return scene_frame(scene.text, scene.colour, scene.seed, self.width, self.height)

    def _scene_at(self, i: int) -> Scene:
        scenes = self.scenes_until(i)
        lo, hi = 0, len(scenes) - 1
        while lo < hi:  # the last scene starting at or before i
            mid = (lo + hi + 1) // 2
            if scenes[mid].start <= i:
                lo = mid
            else:
                hi = mid - 1
        return scenes[lo]

    def captions(self, n: int) -> list[tuple[int, str]]:
        """(first frame, caption) of the scenes within frames ``0..n-1``."""
        return [(s.start, s.text) for s in self.scenes_until(max(0, n - 1)) if s.start < n]


def _even(n: int) -> int:
    return max(2, n - n % 2)


def file_digest(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a file's bytes; with ``cache_dir``, remembered by path, size and mtime,
    so reopening an hours-long video does not read it all again."""
    st = path.stat()
    memo = None
    if cache_dir is not None:
        stamp = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()
        memo = cache_dir / "file-digests" / f"{hashlib.sha256(stamp).hexdigest()[:32]}.txt"
        with contextlib.suppress(OSError):
            return memo.read_text().strip()
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    if memo is not None:
        with contextlib.suppress(OSError, NiahError):  # a memo is only a shortcut
            memo.parent.mkdir(parents=True, exist_ok=True)
            write_text(memo, h.hexdigest())
    return h.hexdigest()


@dataclass
class FolderFrames:
    """Sorted image files, one per ``1/fps`` second (resized to the first one's size)."""

    folder: Path
    files: list[Path]
    width: int
    height: int
    key: str

    @classmethod
    def open(cls, folder: Path, fps: float) -> FolderFrames:
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            raise HaystackError(f"haystack.path: no image files in {folder}")
        first = _read_image(files[0])
        digest = hashlib.sha256(f"{fps:g}".encode())
        for p in files:
            digest.update(p.name.encode() + b"\0" + file_digest(p).encode())
        return cls(folder, files, _even(first.width), _even(first.height),
                   "folder-" + digest.hexdigest()[:24])

    def n_frames(self) -> int | None:
        return len(self.files)

    def frames(self) -> Iterator[Frame]:
        for p in self.files:
            img = _read_image(p)
            if img.size != (self.width, self.height):
                img = img.resize((self.width, self.height), Image.Resampling.BILINEAR)
            yield Frame(img, pixel_hash(img))


def _read_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise HaystackError(f"haystack.path: cannot read image {path}: {exc}") from None
