from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.backends.test_llamacpp import NEEDLE, QUESTION, haystack
from tests.fakes.llama_server import llama_server, server_available


@pytest.mark.slow
def test_llama_server_answers_a_needle(smollm2_path: Path) -> None:
    reason = server_available()
    if reason:
        pytest.skip(reason)
    document = f"{haystack(10)} {NEEDLE} {haystack(10, offset=1)}"
    prompt = f"<document>\n{document}\n</document>\n\n{QUESTION}"
    with llama_server(smollm2_path) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        response = httpx.post(
            f"{base_url}/chat/completions",
            json={
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 48,
                "temperature": 0,
            },
            timeout=120,
        )
        response.raise_for_status()
        body = response.json()
    assert "7392841" in body["choices"][0]["message"]["content"]
    assert 200 < body["usage"]["prompt_tokens"] < 500


@pytest.mark.slow
def test_llama_server_that_dies_says_why(tmp_path: Path, smollm2_path: Path) -> None:
    reason = server_available()
    if reason:
        pytest.skip(reason)
    with pytest.raises(RuntimeError, match=r"llama server exited \(\d+\): .*"), llama_server(
        tmp_path / "missing.gguf", startup_timeout_s=30
    ):
        pass
