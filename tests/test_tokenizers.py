"""Tokenizers: one protocol, the auto choice, the offline cl100k fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from niah.config import ModelSpec
from niah.errors import TokenizerError
from niah.tokenizers import (
    HFTokenizer,
    Tokenizer,
    load_tokenizer,
    openai_encoding,
    resolve_tokenizer_name,
)


def test_cl100k_counts_and_round_trips() -> None:
    tok = load_tokenizer("tiktoken:cl100k_base")
    assert isinstance(tok, Tokenizer)
    text = "The special magic number is 7392841."
    ids = tok.encode(text)
    assert tok.decode(ids) == text and tok.count(text) == len(ids) > 5
    # the offline file is the real cl100k: a known encoding
    assert tok.encode("hello world") == [15339, 1917]


def test_special_token_text_is_plain_text() -> None:
    tok = load_tokenizer("tiktoken:cl100k_base")
    assert tok.count("<|endoftext|>") > 1  # never a special token inside a haystack


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openai/gpt-4o", "tiktoken:o200k_base"),
        ("openai/gpt-4-turbo", "tiktoken:cl100k_base"),
        ("openai/o3-mini", "tiktoken:o200k_base"),
        ("scripted/perfect", "tiktoken:cl100k_base"),
    ],
)
def test_auto_picks_the_model_tokenizer(model: str, expected: str) -> None:
    spec, warning = resolve_tokenizer_name("auto", ModelSpec(id=model))
    assert spec == expected and warning is None


def test_auto_for_unknown_tokenizer_warns_and_uses_cl100k() -> None:
    spec, warning = resolve_tokenizer_name("auto", ModelSpec(id="anthropic/claude-sonnet-4"))
    assert spec == "tiktoken:cl100k_base"
    assert warning is not None and "hf:" in warning


def test_explicit_setting_wins() -> None:
    spec, _ = resolve_tokenizer_name("tiktoken:o200k_base", ModelSpec(id="anthropic/x"))
    assert spec == "tiktoken:o200k_base"


def test_openai_encoding_families() -> None:
    assert openai_encoding("gpt-4.1-mini") == "o200k_base"
    assert openai_encoding("gpt-3.5-turbo") == "cl100k_base"


def test_hf_tokenizer_from_file(tmp_path: Path) -> None:
    from tokenizers import Tokenizer as HF
    from tokenizers import models, pre_tokenizers, trainers

    tok = HF(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        ["the cat sat on the mat"] * 50,
        trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    hf = load_tokenizer(f"hf:{path}")
    assert isinstance(hf, HFTokenizer)
    assert hf.count("the cat sat") == len(hf.encode("the cat sat")) >= 1


def test_hf_missing_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="not found"):
        HFTokenizer(tmp_path / "missing.json")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(TokenizerError, match=r"not a valid tokenizer\.json"):
        HFTokenizer(bad)


def test_llamacpp_tokenizer_is_exact_and_quick(smollm2_path: Path) -> None:
    tok = load_tokenizer(f"llamacpp:{smollm2_path}")
    text = "The special magic number is 7392841."
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    lengths = tok.byte_lengths  # type: ignore[attr-defined]
    assert int(sum(lengths[i] for i in ids)) == len(text.encode())
