"""The rule that says whether a model's lengths are in its own tokens."""

from __future__ import annotations

import pytest

from niah.lengths import LengthBasis, length_basis


@pytest.mark.parametrize(
    ("model", "tokenizer", "estimated", "kind"),
    [
        # openai/: exact in the model's own tiktoken encoding, approximate in another
        ("openai/gpt-4o", "tiktoken:o200k_base", False, "exact"),
        ("openai/gpt-4o-mini", "tiktoken:o200k_base", False, "exact"),
        ("openai/o3-mini", "tiktoken:o200k_base", False, "exact"),
        ("openai/gpt-4-turbo", "tiktoken:cl100k_base", False, "exact"),
        ("openai/gpt-4o", "tiktoken:cl100k_base", False, "approximate"),
        ("openai/gpt-3.5-turbo", "tiktoken:o200k_base", False, "approximate"),
        # Claude and Gemini are counted in cl100k (auto): approximate
        ("anthropic/claude-3-5-sonnet-20241022", "tiktoken:cl100k_base", False, "approximate"),
        ("gemini/gemini-1.5-pro", "tiktoken:cl100k_base", False, "approximate"),
        ("openai-compatible/llama-3-8b", "tiktoken:cl100k_base", False, "approximate"),
        # a GGUF's own vocabulary, or an hf tokenizer the user chose: exact
        ("llamacpp/smollm2-135m", "llamacpp:SmolLM2-135M-Instruct-Q8_0.gguf", False, "exact"),
        ("openai-compatible/llama-3-8b", "hf:/models/llama-3/tokenizer.json", False, "exact"),
        ("anthropic/claude-3-haiku", "hf:claude/tokenizer.json", False, "exact"),
        # the scripted fake has no tokenizer of its own: what niah counted is exact
        ("scripted/echo", "tiktoken:cl100k_base", False, "exact"),
        # imported counts were never measured; a run without a manifest does not say
        ("gkamradt/gpt-4", None, True, "estimated"),
        ("openai/gpt-4o", "tiktoken:o200k_base", True, "estimated"),
        ("openai/gpt-4o", None, False, "unknown"),
        ("no-provider", "tiktoken:cl100k_base", False, "approximate"),
    ],
)
def test_length_basis_rule(model: str, tokenizer: str | None, estimated: bool, kind: str) -> None:
    assert length_basis(model, tokenizer, estimated).kind == kind


def test_captions_and_notes_name_the_tokenizer() -> None:
    approximate = length_basis("anthropic/claude-3-5-sonnet", "tiktoken:cl100k_base")
    assert approximate.unit == "cl100k_base"
    assert approximate.caption() == "lengths in cl100k_base tokens (approximate for this model)"
    note = approximate.note("anthropic/claude-3-5-sonnet")
    assert note is not None and note.startswith(
        "anthropic/claude-3-5-sonnet: lengths are counted in cl100k_base, not in this "
        "model's own tokens, so they are approximate")
    exact = length_basis("openai/gpt-4o", "tiktoken:o200k_base")
    assert exact.caption() is None and exact.note("openai/gpt-4o") is None
    assert LengthBasis("exact", "hf:/m/llama-3/tokenizer.json").unit == "hf:llama-3/tokenizer.json"
    assert LengthBasis("exact", "llamacpp:x.gguf").unit == "llamacpp:x.gguf"
    assert length_basis("gkamradt/gpt-4", None, True).caption() == (
        "lengths as imported (estimated, not counted by niah)")
    assert length_basis("openai/gpt-4o", None).caption() == (
        "lengths in tokens of an unrecorded tokenizer")
