"""Input tokens of media, per provider, as their documentation counts them.

Estimates for ``plan`` and for a request's ``prompt_tokens`` (window checks, rate
limits); the provider's own count, when a reply reports one, is what rows keep.

- Gemini: 258 tokens per video frame (sampled at 1 fps by the API; niah counts the
  frames it sends) and 32 tokens per second of audio (ai.google.dev, "Understand and
  count tokens").
- OpenAI: an image at ``detail: low`` is 85 tokens; at ``high`` it is scaled to fit
  2048 x 2048, then its short side to 768, and costs 85 + 170 per 512 px tile
  (platform.openai.com, "Images and vision", GPT-4o family).
- Anthropic: about ``width x height / 750`` per image, after scaling the long edge to
  at most 1568 px and the area to about 1.15 megapixels (docs.claude.com, "Vision").
"""

from __future__ import annotations

import math

from niah.media.base import MediaSummary

GEMINI_FRAME_TOKENS = 258
GEMINI_AUDIO_TOKENS_PER_S = 32
OPENAI_BASE_TOKENS = 85
OPENAI_TILE_TOKENS = 170
ANTHROPIC_PIXELS_PER_TOKEN = 750
ANTHROPIC_LONG_EDGE = 1568
ANTHROPIC_MAX_PIXELS = 1_150_000


def gemini_tokens(summary: MediaSummary) -> int:
    if summary.haystack == "audio":
        return math.ceil(summary.seconds * GEMINI_AUDIO_TOKENS_PER_S)
    return summary.frames * GEMINI_FRAME_TOKENS


def openai_image_tokens(width: int, height: int, detail: str = "high") -> int:
    """One image's tokens (``detail`` ``low``, ``high`` or ``auto``, which is high)."""
    if detail == "low" or not width or not height:
        return OPENAI_BASE_TOKENS
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return OPENAI_BASE_TOKENS + OPENAI_TILE_TOKENS * math.ceil(w / 512) * math.ceil(h / 512)


def openai_tokens(summary: MediaSummary, detail: str = "high") -> int | None:
    """Frames as images; None for audio (OpenAI documents no per-second count)."""
    if summary.haystack == "audio":
        return None
    return summary.frames * openai_image_tokens(summary.width, summary.height, detail)


def anthropic_image_tokens(width: int, height: int) -> int:
    if not width or not height:
        return math.ceil(ANTHROPIC_MAX_PIXELS / ANTHROPIC_PIXELS_PER_TOKEN)
    scale = min(1.0, ANTHROPIC_LONG_EDGE / max(width, height),
                math.sqrt(ANTHROPIC_MAX_PIXELS / (width * height)))
    return math.ceil(width * scale * height * scale / ANTHROPIC_PIXELS_PER_TOKEN)


def anthropic_tokens(summary: MediaSummary) -> int | None:
    if summary.haystack == "audio":
        return None
    return summary.frames * anthropic_image_tokens(summary.width, summary.height)
