from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from niah.backends._http import status_error
from niah.backends._ratelimit import parse_duration, rate_limit_wait

NOW = datetime(2025, 8, 21, 12, 40, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "seconds"), [
    ("1s", 1.0), ("6m0s", 360.0), ("12ms", 0.012), ("1h2m3.5s", 3723.5), ("0.5s", 0.5),
    ("20", 20.0), ("soon", None), ("5x", None), ("", None),
])
def test_durations_as_openai_sends_them(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_openai_the_latest_reset_of_an_exhausted_limit() -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
               "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}
    assert rate_limit_wait(headers) == 360
    headers["x-ratelimit-remaining-tokens"] = "1200"  # only requests are exhausted
    assert rate_limit_wait(headers) == 1


def test_anthropic_resets_are_times() -> None:
    headers = {"anthropic-ratelimit-tokens-remaining": "0",
               "anthropic-ratelimit-tokens-reset": "2025-08-21T12:40:30Z",
               "anthropic-ratelimit-requests-remaining": "999",
               "anthropic-ratelimit-requests-reset": "2025-08-21T12:45:00Z",
               "anthropic-ratelimit-input-tokens-remaining": "0",
               "anthropic-ratelimit-input-tokens-reset": "2025-08-21T12:40:12Z"}
    assert rate_limit_wait(headers, now=NOW) == 30


def test_no_exhausted_limit_or_blanked_values_mean_no_known_wait() -> None:
    assert rate_limit_wait({}) is None
    assert rate_limit_wait({"x-ratelimit-remaining-tokens": "5",
                            "x-ratelimit-reset-tokens": "3s"}) is None
    # Azure OpenAI behind some proxies: -1 everywhere
    assert rate_limit_wait({"x-ratelimit-remaining-tokens": "-1",
                            "x-ratelimit-reset-tokens": "0"}) is None
    assert rate_limit_wait({"x-ratelimit-remaining-tokens": "0",
                            "x-ratelimit-reset-tokens": "later"}) is None


def test_a_429_without_retry_after_waits_for_the_reset() -> None:
    body = {"error": {"message": "Rate limit reached for tokens", "code": "rate_limit_exceeded"}}
    reset = httpx.Response(429, json=body, headers={"x-ratelimit-remaining-tokens": "0",
                                                   "x-ratelimit-reset-tokens": "2.5s"})
    assert status_error("openai", reset, []).retry_after == 2.5
    both = httpx.Response(429, json=body, headers={"retry-after": "7",
                                                  "x-ratelimit-remaining-tokens": "0",
                                                  "x-ratelimit-reset-tokens": "2.5s"})
    assert status_error("openai", both, []).retry_after == 7  # the server's own word wins
