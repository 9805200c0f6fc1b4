"""Small videos and frame folders made on the spot for the media tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200),
           (200, 30, 200), (120, 120, 120), (240, 240, 240), (10, 10, 10), (250, 130, 10)]


def write_mp4(path: Path, seconds: int, rate: int = 5, size: tuple[int, int] = (160, 120)
              ) -> Path:
    """An H.264 mp4 at ``rate`` fps whose second ``s`` is a solid ``COLOURS[s % 10]``."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for k in range(seconds * rate):
            img = Image.new("RGB", size, COLOURS[(k // rate) % len(COLOURS)])
            frame = av.VideoFrame.from_image(img)
            frame.pts = k
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def mean_colour(path_or_img: Path | Image.Image) -> np.ndarray:
    img = path_or_img if isinstance(path_or_img, Image.Image) else Image.open(path_or_img)
    return np.asarray(img.convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)
