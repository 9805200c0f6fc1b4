"""``niah.fmt``: the one token-count parser and formatter, and the one money formatter."""

from __future__ import annotations

import pytest

from niah.fmt import money, parse_tokens, tokens

SPELLINGS = [
    (0, "0"), (16, "16"), (999, "999"), (1000, "1K"), (1024, "1Ki"), (1200, "1.2K"),
    (1250, "1.25K"), (1500, "1.5K"), (1536, "1.5Ki"), (2048, "2Ki"), (4096, "4Ki"),
    (10_071, "10071"), (32_000, "32K"), (32_768, "32Ki"), (100_000, "100K"),
    (120_000, "120K"), (128_000, "128K"), (131_072, "128Ki"), (999_999, "999999"),
    (1_000_000, "1M"), (1_048_576, "1Mi"), (1_234_000, "1234K"), (1_500_000, "1.5M"),
    (2_250_000, "2.25M"), (10_000_000, "10M"), (23_612_345, "23612345"),
]


@pytest.mark.parametrize(("n", "text"), SPELLINGS)
def test_every_length_is_spelt_exactly_and_reads_back(n: int, text: str) -> None:
    assert tokens(n) == text
    assert parse_tokens(text) == n


def test_round_trip_over_a_range_of_grids() -> None:
    grids = [range(16, 5000, 7), range(1000, 2_000_000, 977), [2**k for k in range(4, 27)],
             [k * 1000 for k in range(1, 2000)], [k * 1024 for k in range(1, 300)]]
    for grid in grids:
        for n in grid:
            assert parse_tokens(tokens(n)) == n, n


@pytest.mark.parametrize(
    ("text", "n"),
    [("4000", 4000), ("4K", 4000), ("4k", 4000), ("1.5K", 1500), (" 128K ", 128_000),
     ("128 K", 128_000), ("1M", 1_000_000), ("1m", 1_000_000), ("2.5M", 2_500_000),
     ("32Ki", 32_768), ("32ki", 32_768), ("32KI", 32_768), ("1Mi", 1_048_576),
     ("0.5Ki", 512), ("1.000K", 1000)],
)
def test_parse_suffixes(text: str, n: int) -> None:
    assert parse_tokens(text) == n


@pytest.mark.parametrize(
    ("text", "message"),
    [("abc", "expected a token count like 4000, 4K, 1.5K, 1M or 32Ki (= 32768), got 'abc'"),
     ("", "got ''"), ("-1", "got '-1'"), ("1e3", "got '1e3'"), ("1,000", "got '1,000'"),
     ("4G", "got '4G'"), ("K", "got 'K'"), ("1.0005K", "'1.0005K' is 1000.5 tokens, not a "
                                                      "whole number")],
)
def test_parse_errors_say_what_a_token_count_looks_like(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_tokens(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_approximate_totals() -> None:
    assert [tokens(n, approx=True) for n in (999, 1000, 35_795, 999_400, 999_999,
                                              23_612_345, 999_999_999, 2_500_000_000)] == [
        "999", "1K", "35.8K", "999K", "1M", "23.6M", "1000M", "2500M"]


def test_money() -> None:
    assert [money(x) for x in (None, 0.0, 0.00001, 0.01234, 0.5, 12.5, 1234.5)] == [
        "unknown", "$0", "<$0.0001", "$0.0123", "$0.5000", "$12.50", "$1,234.50"]


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("1.2m", 72), ("3h", 10800), ("1.5H", 5400), (" 2 m ", 120),
])
def test_durations_parse_to_whole_seconds(text: str, seconds: int) -> None:
    from niah.fmt import duration, parse_seconds

    assert parse_seconds(text) == seconds
    assert parse_seconds(duration(seconds)) == seconds  # printed durations read back


@pytest.mark.parametrize("text", ["1.5s", "0.01m", "2x", "-3m", ""])
def test_bad_durations_say_what_a_duration_looks_like(text: str) -> None:
    from niah.fmt import parse_seconds

    with pytest.raises(ValueError, match=r"duration|whole second"):
        parse_seconds(text)


def test_durations_print_in_the_largest_exact_unit() -> None:
    from niah.fmt import duration

    assert [duration(s) for s in (30, 60, 72, 100, 5400, 10800)] == [
        "30s", "1m", "1.2m", "100s", "1.5h", "3h"]
