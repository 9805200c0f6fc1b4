"""The server source against scripted OpenAI-compatible servers (httpx.MockTransport).

The fake model "copies": a token that already appeared in the prompt gets log-
probability -0.1, a new one -8. An aligned server reports that for each prompt token;
the llama-cpp-python 0.3.36 bug reports, for token i, the log-probability under the
distribution of position i + 1 (which predicts token i + 1), so a copy is no longer
recognised.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from niah.config import ModelSpec
from niah.errors import PermanentModelError, TransientModelError, UserError
from niah.nll.server import PROBE_REPEATS, PROBE_WORDS, ServerSource
from niah.tokenizers import load_tokenizer

SEEN, NEW = -0.1, -8.0


def copy_logprobs(ids: list[int]) -> list[float | None]:
    return [None] + [SEEN if ids[i] in ids[:i] else NEW for i in range(1, len(ids))]


def next_position_logprobs(ids: list[int]) -> list[float | None]:
    """What a server reading ``scores[i]`` for token ``i`` reports."""
    out: list[float | None] = [None]
    for i in range(1, len(ids)):
        # position i's distribution predicts token i + 1: it puts mass on the token that
        # followed the previous occurrence of token i, not on token i itself
        out.append(SEEN if i + 1 < len(ids) and ids[i] == ids[i + 1] else NEW)
    return out


Handler = Callable[[dict[str, Any]], httpx.Response]


def vllm(body: dict[str, Any]) -> httpx.Response:
    ids = body["prompt"]
    if body.get("prompt_logprobs") != 0 or not isinstance(ids, list):
        return httpx.Response(400, json={"error": {"message": "bad request"}})
    entries: list[Any] = [None] + [
        {str(t): {"logprob": lp, "rank": 1, "decoded_token": "x"}, "99999": {"logprob": -1.0}}
        for t, lp in zip(ids[1:], copy_logprobs(ids)[1:], strict=True)
    ]
    return httpx.Response(200, json={"choices": [{"text": "x", "prompt_logprobs": entries}],
                                     "usage": {"prompt_tokens": len(ids), "completion_tokens": 1}})


def echo_server(values: Callable[[list[int]], list[float | None]], *, tokens_ok: bool = True,
                extra: int = 1) -> Handler:
    def handle(body: dict[str, Any]) -> httpx.Response:
        if "prompt_logprobs" in body:
            return httpx.Response(400, json={"error": {"message": "unknown field"}})
        prompt = body["prompt"]
        if isinstance(prompt, list) and not tokens_ok:  # llama-cpp-python: 500, a str only
            return httpx.Response(500, json={"error": {"message": "validation errors"}})
        ids = prompt if isinstance(prompt, list) else TOK.encode(prompt)
        lps = values(ids) + [-1.0] * extra
        return httpx.Response(200, json={
            "choices": [{"text": "x", "logprobs": {"tokens": ["t"] * len(lps),
                                                   "token_logprobs": lps}}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": extra}})
    return handle


TOK = load_tokenizer("tiktoken:cl100k_base")


def source(handler: Handler, **options: Any) -> tuple[ServerSource, list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    def transport(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        assert request.url.path == "/v1/completions"
        return handler(body)

    client = httpx.Client(transport=httpx.MockTransport(transport))
    spec = ModelSpec(id="openai-compatible/m", base_url="http://server/v1", options=options)
    return ServerSource(spec, client=client), bodies


def test_vllm_prompt_logprobs_are_checked_per_token_id() -> None:
    src, bodies = source(vllm)
    facts = src.check(TOK)
    assert facts["mode"] == "prompt_logprobs" and facts["prompt"] == "tokens"
    assert facts["alignment"] == "probe passed" and facts["ratio"] < 0.1
    ids = TOK.encode("one two one two three")
    nll = src.score(ids)
    assert np.isnan(nll[0])
    expected = [-v for v in copy_logprobs(ids)[1:] if v is not None]
    np.testing.assert_allclose(nll[1:], expected, rtol=1e-6)
    assert bodies[-1] == {"model": "m", "prompt": ids, "max_tokens": 1, "temperature": 0,
                          "prompt_logprobs": 0}


def test_echo_is_used_when_prompt_logprobs_are_not_supported() -> None:
    src, bodies = source(echo_server(copy_logprobs))
    facts = src.check(TOK)
    assert (facts["mode"], facts["prompt"]) == ("echo", "tokens")
    ids = TOK.encode(" a b a b")
    np.testing.assert_allclose(src.score(ids)[1:], [8.0, 0.1, 0.1], rtol=1e-6)
    assert bodies[-1]["echo"] is True and bodies[-1]["logprobs"] == 0


def test_a_text_only_server_gets_text() -> None:
    src, bodies = source(echo_server(copy_logprobs, tokens_ok=False, extra=0))
    facts = src.check(TOK)
    assert (facts["mode"], facts["prompt"]) == ("echo", "text")
    assert bodies[-1]["prompt"] == " ".join([PROBE_WORDS] * PROBE_REPEATS)


def test_echo_values_paired_with_the_next_position_are_refused() -> None:
    src, _ = source(echo_server(next_position_logprobs, tokens_ok=False))
    with pytest.raises(UserError) as info:
        src.check(TOK)
    message = str(info.value)
    assert "echo log-probabilities are misaligned" in message
    assert "next position's distribution" in message and "\n" not in message


def test_prompt_logprobs_for_other_token_ids_are_refused() -> None:
    def wrong_ids(body: dict[str, Any]) -> httpx.Response:
        ids = body["prompt"]
        entries = [None] + [{str(t + 1): {"logprob": -1.0}} for t in ids[1:]]
        return httpx.Response(200, json={"choices": [{"prompt_logprobs": entries}]})

    src, _ = source(wrong_ids)
    with pytest.raises(UserError, match="prompt_logprobs log-probabilities are misaligned "
                       r"\(position 2 has no log-probability for its token id"):
        src.check(TOK)


def test_a_server_without_prompt_logprobs_is_refused_saying_what_was_tried() -> None:
    def plain(body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"text": "x", "logprobs": None}]})

    src, bodies = source(plain)
    with pytest.raises(UserError) as info:
        src.check(TOK)
    assert "returned no prompt log-probabilities" in str(info.value)
    assert "echo with text: the response has no logprobs.token_logprobs" in str(info.value)
    assert len(bodies) == 3  # prompt_logprobs, echo with tokens, echo with text


def test_a_server_that_is_down_is_a_failure_not_bad_input() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    spec = ModelSpec(id="openai-compatible/m", base_url="http://server/v1")
    src = ServerSource(spec, client=httpx.Client(transport=httpx.MockTransport(down)))
    with pytest.raises(TransientModelError):
        src.check(TOK)


def test_a_window_the_server_counts_differently_fails_that_document() -> None:
    aligned = echo_server(copy_logprobs, tokens_ok=False)

    def retokenizes(body: dict[str, Any]) -> httpx.Response:
        if "zzz" not in str(body["prompt"]):
            return aligned(body)
        return httpx.Response(200, json={
            "choices": [{"logprobs": {"token_logprobs": [None, -1.0]}}],
            "usage": {"completion_tokens": 0}})

    src, _ = source(retokenizes)
    assert src.check(TOK)["prompt"] == "text"
    with pytest.raises(PermanentModelError, match="echoed 2 token log-probabilities for 5 "
                       "prompt tokens") as info:
        src.score(TOK.encode(" zzz b c d e")[:5])
    assert info.value.kind == "misaligned"


def test_alignment_checking_can_be_turned_off_and_is_recorded() -> None:
    src, _ = source(echo_server(next_position_logprobs), check_alignment=False)
    assert src.check(TOK)["alignment"] == "not checked (check_alignment: false)"


def test_a_server_window_leaves_room_for_the_generated_token(tmp_path: Any) -> None:
    from niah.nll.config import load_nll_config
    from niah.nll.runner import plan_nll

    (tmp_path / "a.txt").write_text("some text " * 50)
    data = {"name": "s", "tokenizer": "tiktoken:cl100k_base",
            "model": {"id": "openai-compatible/m", "base_url": "http://127.0.0.1:9/v1",
                      "context_window": 64},
            "corpora": [{"name": "p", "kind": "files", "path": str(tmp_path)}]}
    assert plan_nll(load_nll_config(data)).models[0].window == 63
    with pytest.raises(UserError, match=r"window: 64 tokens exceed the context window of "
                       r"openai-compatible/m \(63 less 1 generated\)"):
        plan_nll(load_nll_config({**data, "window": 64}))
