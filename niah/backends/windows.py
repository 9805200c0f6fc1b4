"""Context windows of hosted models, known without an API call (checked 2026-12-01).

``niah plan``, ``--dry-run`` and ``run`` refuse a length whose prompt plus
``run.max_tokens`` exceeds the window, so a number here must never be larger than
what the API accepts. Where a provider caps the input apart from the output, the
input cap is listed (a prompt within it always fits):

- OpenAI gpt-5, gpt-5.1, gpt-5.2: 272,000 input tokens of the 400,000 window (the
  other 128,000 are output only).
- Gemini: the input token limit; output has its own limit.

Model names not matched here have no known window (nothing is refused); set
``model.context_window`` for them, or to override a number below (e.g. Claude Sonnet
4 and 4.5 take 1M tokens with a beta header, which niah does not send).

Sources:
- OpenAI model pages, platform.openai.com/docs/models (gpt-4o, gpt-4.1, o-series);
  "Introducing GPT-5 for developers", openai.com/index/introducing-gpt-5-for-developers
  ("a maximum of 272,000 input tokens and ... 128,000 reasoning & output tokens").
- Anthropic, platform.claude.com/docs/en/about-claude/models/overview.md and the
  per-model pages (platform.claude.com/docs/en/models/opus-4-6/overview.md: 1M;
  .../opus-4-5/overview: 200K; .../opus-5-5/overview and .../sonnet-5/migration-guide:
  1M; Haiku 4.5: 200K).
- Google, ai.google.dev/gemini-api/docs/models (gemini-2.5-*, gemini-3-pro-preview,
  gemini-3.1-pro-preview: 1,048,576 input tokens; gemini-1.5-pro: 2,097,152).
"""

from __future__ import annotations

import re

_DATE = r"(-\d{4}-\d{2}-\d{2})?"
"""OpenAI snapshot suffix, e.g. gpt-4o-2024-08-06."""

_OPENAI: tuple[tuple[str, int], ...] = (
    (rf"gpt-4o(-mini)?{_DATE}|chatgpt-4o-latest", 128_000),
    (rf"gpt-4\.1(-mini|-nano)?{_DATE}", 1_047_576),
    (rf"gpt-4-turbo(-preview|{_DATE})?", 128_000),
    (r"gpt-4(-0613)?", 8_192),
    (r"gpt-3\.5-turbo(-0125|-1106)?", 16_385),
    (rf"o1-mini{_DATE}", 128_000),
    (rf"(o1|o1-pro|o3|o3-mini|o3-pro|o4-mini){_DATE}", 200_000),
    (rf"gpt-5(\.[12])?(-mini|-nano)?{_DATE}", 272_000),
    (r"gpt-5-chat-latest", 128_000),
)
_GEMINI: tuple[tuple[str, int], ...] = (
    (r"gemini-1\.5-pro(-latest|-\d{3})?", 2_097_152),
    (r"gemini-1\.5-flash(-8b)?(-latest|-\d{3})?", 1_048_576),
    (r"gemini-2\.0-flash(-lite)?(-\d{3})?", 1_048_576),
    (r"gemini-2\.5-(pro|flash|flash-lite)(-preview-\d{2}-\d{2,4})?", 1_048_576),
    (r"gemini-3(\.\d)?-(pro|flash|flash-lite)(-preview)?", 1_048_576),
)
_TABLES = {
    "openai": [(re.compile(p), window) for p, window in _OPENAI],
    "gemini": [(re.compile(p), window) for p, window in _GEMINI],
}

_CLAUDE = re.compile(
    r"claude-(?:(?P<tier>[a-z]+)-(?P<major>\d+)(?:-(?P<minor>\d{1,2}))?"
    r"|(?P<old_major>\d+)(?:-(?P<old_minor>\d))?-(?P<old_tier>[a-z]+))(?:-\d{8}|-latest)?"
)


def claude_version(name: str) -> tuple[str, int, int] | None:
    """(tier, major, minor) of a Claude model id, in either naming scheme:
    ``claude-3-5-sonnet-20241022`` -> ("sonnet", 3, 5), ``claude-opus-4-1`` -> ("opus", 4, 1)."""
    match = _CLAUDE.fullmatch(name.lower())
    if match is None:
        return None
    if match["tier"]:
        return match["tier"], int(match["major"]), int(match["minor"] or 0)
    return match["old_tier"], int(match["old_major"]), int(match["old_minor"] or 0)


def _claude_window(name: str) -> int | None:
    version = claude_version(name)
    if version is None:
        return None
    tier, major, minor = version
    if (major, minor) < (4, 6) and major >= 3:
        return 200_000  # Claude 3, 3.5, 3.7, 4, 4.1, 4.5 (Haiku 4.5 too)
    if tier in ("opus", "sonnet", "fable"):
        return 1_000_000  # Opus and Sonnet 4.6 and later, Fable 5
    return None


def known_window(provider: str, name: str) -> int | None:
    """The window (or input cap) of ``provider``'s model ``name``, if listed here."""
    name = name.lower().removeprefix("models/")
    if provider == "anthropic":
        return _claude_window(name)
    for pattern, window in _TABLES.get(provider, []):
        if pattern.fullmatch(name):
            return window
    return None
