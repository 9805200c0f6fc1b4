"""Token-count checks: a cascade's rows are never compared (its prompt is counted
before the transcript exists)."""

from __future__ import annotations

from niah.checks import token_mismatch
from niah.results import ResultRow


def _row(model: str, counted: int, reported: int) -> ResultRow:
    return ResultRow.model_validate({
        "trial_id": "t", "experiment": "e", "model": model, "context_length": 60,
        "context_tokens": 0, "prompt_tokens": counted, "prompt_tokens_reported": reported,
        "requested_depth": 0.0, "actual_depth": 0.0, "repeat": 0, "needles": [],
        "response": "x", "score": 1.0, "seed": 1, "prompt_sha256": "0" * 64,
        "niah_version": "0", "timestamp": "2026-12-02T00:00:00"})


def test_a_mismatch_is_found_for_a_model_but_not_for_a_cascade() -> None:
    plain = [_row("openai/gpt-4o", 100, 900)]
    found = token_mismatch(plain, "openai/gpt-4o")
    assert found is not None and found.rows == 1
    cascade = [_row("ocr+openai/gpt-4o", 100, 900)]
    assert token_mismatch(cascade, "ocr+openai/gpt-4o") is None
    twin = [_row("rag/asr+openai/gpt-4o", 100, 900)]
    assert token_mismatch(twin, "rag/asr+openai/gpt-4o") is None
