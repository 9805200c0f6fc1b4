"""Checks over stored rows that say when a run's numbers may be wrong.

Light (no pandas), so ``niah run`` prints them and ``report`` shows the same words.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from niah.config import cascade_stage_of
from niah.rag.config import PREFIX as RAG_PREFIX
from niah.results import ResultRow

TEMPLATE_SLACK_TOKENS = 64
"""Tokens a chat template may add or drop (role markers, a default system prompt)."""
TEMPLATE_SLACK_RATIO = 0.02
"""Relative slack on top, for long prompts whose markers are counted differently."""


@dataclass(frozen=True)
class TokenMismatch:
    """Rows whose server-side prompt count differs from niah's beyond template overhead."""

    model: str
    rows: int
    compared: int
    median_ratio: float
    """Median of the server's count / niah's count over the mismatched rows."""
    tokenizer: str | None

    def message(self) -> str:
        assumed = f" (niah counted in {self.tokenizer})" if self.tokenizer else ""
        return (
            f"{self.model}: the server counted prompts differently from niah in {self.rows} "
            f"of {self.compared} rows (median ratio {self.median_ratio:.3f}){assumed}; "
            "lengths on the heatmap may not be what the model saw: where the model's own "
            "tokenizer is available, set it (tokenizer: hf:PATH/tokenizer.json or "
            "llamacpp:PATH.gguf); otherwise read the lengths as approximate"
        )


def _beyond_template(local: int, reported: int) -> bool:
    return abs(reported - local) > max(TEMPLATE_SLACK_TOKENS, TEMPLATE_SLACK_RATIO * local)


def token_mismatch(rows: Iterable[ResultRow], model: str,
                   tokenizer: str | None = None) -> TokenMismatch | None:
    """The mismatch of ``model``'s rows, or None when every reported count agrees.

    A cascade (``ocr+``/``asr+``) is never compared: niah counts its prompt before the
    transcript exists, the text model after."""
    if cascade_stage_of(model.removeprefix(RAG_PREFIX)) is not None:
        return None
    ratios: list[float] = []
    compared = 0
    for row in rows:
        if row.model != model or row.prompt_tokens_reported is None:
            continue
        compared += 1
        if _beyond_template(row.prompt_tokens, row.prompt_tokens_reported):
            ratios.append(row.prompt_tokens_reported / max(row.prompt_tokens, 1))
    if not ratios:
        return None
    return TokenMismatch(model, len(ratios), compared, statistics.median(ratios), tokenizer)


@dataclass(frozen=True)
class ErrorKind:
    kind: str
    count: int
    example: str


def errors_by_kind(rows: Iterable[ResultRow], model: str) -> list[ErrorKind]:
    """Errors of ``model``'s rows by kind, most frequent first, with one example each."""
    counts: Counter[str] = Counter()
    example: dict[str, str] = {}
    for row in rows:
        if row.model == model and row.error is not None:
            counts[row.error.kind] += 1
            example.setdefault(row.error.kind, row.error.message)
    return [ErrorKind(k, n, example[k]) for k, n in counts.most_common()]
