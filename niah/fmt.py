"""Token counts and money, as every command reads and prints them.

One parser and one formatter, so a length reads the same in ``plan``, ``run`` and
``report`` and any length niah prints can be typed back (``--lengths``,
``--split-at``, ``grid.context_lengths`` in YAML):

    parse_tokens("128K") == 128_000      tokens(128_000) == "128K"
    parse_tokens("1.5K") == 1_500        tokens(1_500)   == "1.5K"
    parse_tokens("1M")   == 1_000_000    tokens(1_000_000) == "1M"
    parse_tokens("32Ki") == 32_768       tokens(32_768)  == "32Ki"
    parse_tokens("10071") == 10_071      tokens(10_071)  == "10071"

``K`` and ``M`` are decimal (1K = 1,000 tokens, as providers count context
windows). ``Ki`` and ``Mi`` are binary (1Ki = 1,024), the IEC prefixes: a
power-of-two grid (RULER's 4096 ... 131072) can be written ``4Ki,8Ki,128Ki``, and
32,768 prints as ``32Ki``, never as a ``32K`` that would read back as 32,000 or a
``32.8K`` that reads back as 32,800.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNITS = {"": 1, "k": 1000, "m": 1_000_000, "ki": 1024, "mi": 1024 * 1024}
_SPELLINGS = (("M", 1_000_000), ("K", 1000), ("Mi", 1024 * 1024), ("Ki", 1024))
"""Tried in this order; decimal units first, as most lengths are decimal."""
_TOKEN_COUNT = re.compile(r"(\d+(?:\.\d+)?)\s*([kKmM][iI]?)?")

TOKEN_COUNT_HELP = "a token count like 4000, 4K, 1.5K, 1M or 32Ki (= 32768)"


def parse_tokens(text: str) -> int:
    """``"128K"`` -> 128000; ``ValueError`` says what a token count looks like.

    Case does not matter (``128k``); ``Ki``/``Mi`` are binary. The value must come
    out a whole number of tokens (``1.5K`` yes, ``1.0005K`` no).
    """
    match = _TOKEN_COUNT.fullmatch(text.strip())
    if not match:
        raise ValueError(f"expected {TOKEN_COUNT_HELP}, got {text!r}")
    number, unit = match.groups()
    try:
        value = Decimal(number) * _UNITS[(unit or "").lower()]
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"expected {TOKEN_COUNT_HELP}, got {text!r}") from None
    if value != value.to_integral_value():
        raise ValueError(f"{text.strip()!r} is {value.normalize():f} tokens, not a whole number")
    return int(value)


def tokens(n: int, *, approx: bool = False) -> str:
    """A token count as ``parse_tokens`` reads it back: the same number, never rounded.

    The first of ``M``, ``K``, ``Mi``, ``Ki`` that spells ``n`` exactly with at most
    two decimals, else the plain digits: 1500 -> "1.5K", 128000 -> "128K", 32768 ->
    "32Ki", 131072 -> "128Ki", 10071 -> "10071", 999 -> "999". Plain digits carry
    no thousands separator because a comma separates the values of ``--lengths``.

    ``approx=True`` is for sums nobody types back (tokens sent so far, a grid's total
    prompt tokens): three significant digits, 23612345 -> "23.6M", 35795 -> "35.8K".
    """
    if n < 1000:
        return str(n)
    if approx:
        size, unit = (1_000_000, "M") if n >= 999_500 else (1000, "K")
        return f"{n / size:.3g}{unit}" if n < 999_500_000 else f"{n / 1_000_000:.0f}M"
    for unit, size in _SPELLINGS:
        if n >= size and (n * 100) % size == 0:
            return f"{(Decimal(n) / size).normalize():f}" + unit
    return str(n)


def money(usd: float | None) -> str:
    """US dollars: "$0", "<$0.0001", "$0.0123" below a dollar, "$1,234.50" above;
    "unknown" when some price is not known (a partial sum would mislead)."""
    if usd is None:
        return "unknown"
    if usd == 0:
        return "$0"
    if usd < 0.0001:
        return "<$0.0001"
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smh]?)", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}
DURATION_HELP = "a duration in seconds like 90, 90s, 1.2m or 3h"


def parse_seconds(text: str) -> int:
    """``"1.2m"`` -> 72, ``"3h"`` -> 10800, ``"90"`` -> 90: media grids sweep whole seconds
    (a trial's length is its duration in seconds)."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    number, unit = match.groups()
    value = Decimal(number) * _SECONDS[unit.lower()]
    if value != value.to_integral_value():
        raise ValueError(f"{text.strip()!r} is {value.normalize():f} s, not a whole second")
    return int(value)


def duration(seconds: float) -> str:
    """Seconds as ``parse_seconds`` reads them back: 90 -> "90s", 72 -> "1.2m", 10800 ->
    "3h", 4000 -> "4000s" (plain seconds when no unit spells it in two decimals)."""
    for unit, size in (("h", 3600), ("m", 60)):
        value = Decimal(round(seconds)) / size
        if value >= 1 and value == value.quantize(Decimal("0.01")):
            return f"{value.normalize():f}{unit}"
    return f"{round(seconds)}s"
