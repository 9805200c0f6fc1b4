"""Reading rendered figures back: colours at data points, shares of colours in a cell."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import imread

from niah.report.cells import (
    ERROR_COLOR,
    MARK_COLOR,
    UNANSWERED_COLOR,
    UNANSWERED_HATCH,
    UNANSWERED_MARK_COLOR,
)

DPI = 100
RED, YELLOW, GREEN = to_rgb("#F0496E"), to_rgb("#EBB839"), to_rgb("#0CD79F")
GRAY, DARK, WHITE = to_rgb(ERROR_COLOR), to_rgb(MARK_COLOR), (1.0, 1.0, 1.0)
LIGHT, HATCH, LIGHT_MARK = (to_rgb(UNANSWERED_COLOR), to_rgb(UNANSWERED_HATCH),
                            to_rgb(UNANSWERED_MARK_COLOR))
CLAUDE = "anthropic/claude-3-5-sonnet"


def render(fig: Figure) -> np.ndarray:
    """Save as PNG at a known dpi and read it back; transforms are final after the save."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    image: np.ndarray = imread(buffer)[:, :, :3]
    width, height = fig.get_size_inches() * DPI
    assert image.shape[:2] == (round(height), round(width))
    return image


def pixel(image: np.ndarray, ax: Axes, x: float, y: float) -> tuple[float, ...]:
    """The colour at data point (x, y) of ``ax`` (display y grows upwards, image rows down)."""
    px, py = ax.transData.transform((x, y))
    return tuple(float(c) for c in image[int(image.shape[0] - py), int(px)])


def close(actual: tuple[float, ...], expected: tuple[float, ...], tol: float = 0.03) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def cell_pixels(image: np.ndarray, ax: Axes, i: int, j: int, inset: float = 0.15) -> np.ndarray:
    """Every pixel of cell (i, j) away from its border, as an (n, 3) array."""
    (x0, y0), (x1, y1) = ax.transData.transform([(j - 0.5 + inset, i - 0.5 + inset),
                                                 (j + 0.5 - inset, i + 0.5 - inset)])
    rows = sorted(int(image.shape[0] - y) for y in (y0, y1))
    cols = sorted(int(x) for x in (x0, x1))
    return image[rows[0]:rows[1], cols[0]:cols[1]].reshape(-1, 3)


def share(pixels: np.ndarray, colour: tuple[float, ...], tol: float = 0.03) -> float:
    """The fraction of ``pixels`` within ``tol`` of ``colour`` in every channel."""
    return float((np.abs(pixels - np.asarray(colour)) <= tol).all(axis=1).mean())


def heatmap_axes(fig: Figure) -> list[Axes]:
    """The axes that hold a heatmap (a QuadMesh first), in the order they were made."""
    return [ax for ax in fig.axes if ax.collections and isinstance(ax.collections[0], QuadMesh)]


def centres(ax: Axes) -> tuple[list[float], list[float]]:
    """Data x of each column's centre and y of each row's (every tick is drawn)."""
    return [float(x) for x in ax.get_xticks()], [float(y) for y in ax.get_yticks()]


def white_runs(line: np.ndarray, longest: int) -> bool:
    """Whether ``line`` (pixels, (n, 3)) holds a white run longer than ``longest``."""
    white = (line > 0.97).all(axis=1)
    run = 0
    for w in white:
        run = run + 1 if w else 0
        if run > longest:
            return True
    return False
