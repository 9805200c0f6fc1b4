"""Drawing frames with Pillow: captioned scenes of generated video and the needle frame.

Text is drawn with Pillow's scalable default font (no font file to ship) at a size a
vision model and OCR both read: rapidocr keeps the spaces between words from about
36 px of text at 720p, so captions are ``height / 16`` (45 px at 720p) and the needle
``height / 12``.
"""

from __future__ import annotations

import colorsys
import hashlib
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

RENDER_VERSION = 1
"""Bump when drawing changes: it is part of every generated frame's cache key."""

_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=8)
def font(size: int) -> _Font:
    return ImageFont.load_default(size=size)


def wrap(text: str, fnt: _Font, max_width: float) -> list[str]:
    """Greedy word wrap by drawn width (a word wider than a line gets a line of its own)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if line and fnt.getlength(candidate) > max_width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _text_block(
    draw: ImageDraw.ImageDraw, text: str, size: int, width: int, center_y: float,
    fg: tuple[int, int, int], box: tuple[int, int, int] | None,
) -> None:
    """Centred lines of ``text`` around ``center_y``, each on a ``box`` coloured band."""
    fnt = font(size)
    lines = wrap(text, fnt, width * 0.9)
    step = round(size * 1.35)
    y = center_y - step * len(lines) / 2
    for line in lines:
        w = fnt.getlength(line)
        x = (width - w) / 2
        if box is not None:
            pad = size // 4
            draw.rectangle((x - pad, y - pad // 2, x + w + pad, y + size * 1.15), fill=box)
        draw.text((x, y), line, font=fnt, fill=fg)
        y += step


def scene_colour(rng: random.Random) -> tuple[int, int, int]:
    """A saturated, mid-dark background, so white captions stay legible on it."""
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.45, 0.8), rng.uniform(0.3, 0.55))
    return round(r * 255), round(g * 255), round(b * 255)


def scene_frame(text: str, colour: tuple[int, int, int], seed: int, width: int,
                height: int) -> Image.Image:
    """A scene: coloured background, a few shapes (so scenes differ visually), a caption
    in the lower part like a subtitle."""
    img = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(img)
    rng = random.Random(f"niah-scene-{seed}")
    for _ in range(rng.randint(2, 5)):
        x0, y0 = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.4)
        x1, y1 = x0 + rng.uniform(width * 0.05, width * 0.25), y0 + rng.uniform(
            height * 0.05, height * 0.2)
        fill = tuple(min(255, c + rng.randint(30, 90)) for c in colour)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=fill)
    _text_block(draw, text, max(12, height // 16), width, height * 0.72, (255, 255, 255),
                (0, 0, 0))
    return img


def needle_frame(text: str, width: int, height: int,
                 base: Image.Image | None = None) -> Image.Image:
    """The needle: black on white, on a frame of its own, or over ``base`` (overlay)."""
    if base is None:
        img = Image.new("RGB", (width, height), (245, 245, 240))
        _text_block(ImageDraw.Draw(img), text, max(12, height // 12), width, height / 2,
                    (0, 0, 0), None)
        return img
    img = base.convert("RGB").copy()
    _text_block(ImageDraw.Draw(img), text, max(12, height // 14), width, height * 0.3,
                (0, 0, 0), (255, 255, 255))
    return img


def pixel_hash(img: Image.Image) -> str:
    """sha256 of a frame's size and RGB pixels: its identity before any encoding."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    h = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()
