"""llama-cpp-python's server (``python -m llama_cpp.server``) on the embedded GGUF.

Its echo log-probabilities are checked against the in-process values. In
llama-cpp-python 0.3.36 (for a model that adds no BOS token, as SmolLM2) the value
reported for token i is its log-probability under the distribution of position i + 1,
``log_softmax(logits after token i)[token i]``; niah's probe must refuse it. Should a
later version align them, the server path must match the in-process path within 1e-3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from niah.config import ModelSpec
from niah.errors import UserError
from niah.nll.server import ServerSource
from niah.tokenizers import load_tokenizer
from tests.fakes.llama_server import llama_server, server_available
from tests.nll.test_llamacpp import TEXT, direct_logits, log_softmax

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(smollm2_path: Path) -> Iterator[str]:
    reason = server_available()
    if reason:
        pytest.skip(reason)
    with llama_server(smollm2_path, n_ctx=512, logits_all=True) as base_url:
        yield base_url


def test_echo_logprobs_are_aligned_or_refused_with_the_reason(server: str,
                                                              smollm2_path: Path) -> None:
    tokenizer = load_tokenizer(f"llamacpp:{smollm2_path}")
    ids = tokenizer.encode(TEXT)
    body = {"prompt": TEXT, "max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 0}
    data = httpx.post(f"{server}/completions", json=body, timeout=300).json()
    reported = np.array(data["choices"][0]["logprobs"]["token_logprobs"][1:len(ids)],
                        dtype=np.float64)
    logits = direct_logits(smollm2_path, ids)
    lsm = log_softmax(logits)
    aligned = lsm[np.arange(len(ids) - 1), ids[1:]]  # token i under position i's logits
    next_position = lsm[np.arange(1, len(ids)), ids[1:]]  # token i under its own logits
    spec = ModelSpec(id="openai-compatible/smollm2", base_url=server)
    source = ServerSource(spec)
    try:
        if np.allclose(reported, aligned, atol=1e-3):  # a fixed server: the paths agree
            assert source.check(tokenizer)["alignment"] == "probe passed"
            np.testing.assert_allclose(source.score(ids)[1:], -aligned, atol=1e-3)
            return
        # the 0.3.36 behaviour, exactly: each token paired with the next position
        np.testing.assert_allclose(reported, next_position, atol=1e-3)
        assert np.abs(reported - aligned).max() > 1.0
        with pytest.raises(UserError) as info:
            source.check(tokenizer)
    finally:
        source.close()
    message = str(info.value)
    assert message.startswith("model: openai-compatible/smollm2: echo log-probabilities are "
                              "misaligned: a repeated probe scores")
    assert "next position's distribution" in message and "\n" not in message
