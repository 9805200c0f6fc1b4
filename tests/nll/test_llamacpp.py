"""The in-process source against a direct llama-cpp-python computation (embedded model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from niah.config import ModelSpec
from niah.nll.llamacpp import LlamaCppSource, load_llama
from niah.tokenizers import load_tokenizer

TEXT = (
    "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy "
    "dog again, because a sentence that repeats is easy to predict the second time.\n"
    "def add(a, b):\n    return a + b\n"
)


def direct_logits(path: Path, ids: list[int]) -> np.ndarray:
    """llama-cpp-python's own evaluation with every logit kept (``logits_all=True``)."""
    from niah.backends.llamacpp import amx_advertised

    llm = load_llama(path, not amx_advertised(), n_ctx=512, n_batch=512, n_threads=1,
                     n_threads_batch=1, logits_all=True, verbose=False)
    try:
        llm.eval(ids)
        return np.array(llm.scores[:len(ids)], dtype=np.float64)
    finally:
        llm.close()


def log_softmax(logits: np.ndarray) -> np.ndarray:
    peak = logits.max(axis=-1, keepdims=True)
    return logits - peak - np.log(np.exp(logits - peak).sum(axis=-1, keepdims=True))


@pytest.mark.slow
def test_each_nll_is_minus_the_log_softmax_of_the_logits_before_it(smollm2_path: Path) -> None:
    ids = load_tokenizer(f"llamacpp:{smollm2_path}").encode(TEXT)
    assert 40 < len(ids) < 100
    # several batches, and the scratch buffer reused within one
    spec = ModelSpec(id="llamacpp/smollm2-135m",
                     options={"n_threads": 1, "n_threads_batch": 1, "n_batch": 32})
    source = LlamaCppSource(spec)
    try:
        nll = source.score(ids)
        again = source.score(ids)  # a second window starts from an empty KV cache
    finally:
        source.close()
    logits = direct_logits(smollm2_path, ids)
    expected = -log_softmax(logits[:-1])[np.arange(len(ids) - 1), ids[1:]]
    assert np.isnan(nll[0])
    np.testing.assert_allclose(nll[1:], expected, atol=1e-3)
    np.testing.assert_array_equal(nll, again)
    # the repeated sentence is predicted: the context is used
    fox = load_tokenizer(f"llamacpp:{smollm2_path}").encode(" fox")[0]
    first, second = [i for i, t in enumerate(ids) if t == fox][:2]
    assert nll[second] < 1.0 < nll[first]
