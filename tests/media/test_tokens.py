"""Media token counts as the providers document them."""

from __future__ import annotations

import pytest

from niah.backends.anthropic import AnthropicBackend
from niah.backends.gemini import GeminiBackend
from niah.backends.openai import OpenAIBackend
from niah.config import ModelSpec
from niah.media.base import MediaPart, MediaSummary
from niah.media.tokens import anthropic_image_tokens, openai_image_tokens

pytestmark = pytest.mark.usefixtures("fake_media")

FRAMES = MediaSummary("video", "frames", 60.0, frames=60, width=1280, height=720)
AUDIO = MediaSummary("audio", "wav", 60.0)


@pytest.mark.parametrize(("size", "detail", "tokens"), [
    ((1280, 720), "high", 85 + 170 * 6),   # 1365 x 768: 3 x 2 tiles
    ((512, 512), "high", 85 + 170 * 1),    # one tile (short side already <= 768)
    ((4096, 8192), "high", 85 + 170 * 6),  # 1024 x 2048 -> 768 x 1536: 2 x 3 tiles
    ((1280, 720), "low", 85),
])
def test_openai_tiles(size: tuple[int, int], detail: str, tokens: int) -> None:
    assert openai_image_tokens(*size, detail) == tokens


def test_anthropic_area_over_750_after_scaling() -> None:
    assert anthropic_image_tokens(1000, 1000) == 1334
    assert anthropic_image_tokens(1280, 720) == 1229
    assert anthropic_image_tokens(4000, 4000) == 1534  # 1.15 MP at most: ~1,530 tokens


def test_backends_count_their_own_way() -> None:
    def spec(model_id: str, **options: str) -> ModelSpec:
        return ModelSpec(id=model_id, options=options)

    assert GeminiBackend.media_tokens(spec("gemini/gemini-2.5-flash"), FRAMES) == 60 * 258
    assert GeminiBackend.media_tokens(spec("gemini/gemini-2.5-flash"), AUDIO) == 60 * 32
    assert OpenAIBackend.media_tokens(spec("openai/gpt-4o"), FRAMES) == 60 * 1105
    assert OpenAIBackend.media_tokens(spec("openai/gpt-4o", detail="low"), FRAMES) == 60 * 85
    assert OpenAIBackend.media_tokens(spec("openai/gpt-4o"), AUDIO) is None
    assert AnthropicBackend.media_tokens(spec("anthropic/claude-sonnet-4-5"), FRAMES) == 60 * 1229


def test_summary_of_built_parts_counts_frames_and_sizes() -> None:
    parts = [MediaPart("image", f"/f{i}.jpg", "image/jpeg", "x", 1, float(i), width=640,
                       height=360) for i in range(5)]
    got = MediaSummary.of("video", "frames", parts, 5.0, fps=1.0, size=(1280, 720))
    assert (got.frames, got.width, got.height) == (5, 640, 360)
    clip = [MediaPart("video", "/v.mp4", "video/mp4", "x", 1, 0.0, duration_s=90.0)]
    got = MediaSummary.of("video", "video", clip, 90.0, fps=0.5, size=(1280, 720))
    assert (got.frames, got.width, got.height) == (45, 1280, 720)
