"""What ``niah plan`` says of a RAG twin, without retrieving anything: its prompt is at
most ``top_k x chunk_tokens`` plus the template (a chunk may pass ``chunk_tokens`` only
by holding one sentence longer than it), beside the full context's size."""

from __future__ import annotations

from dataclasses import dataclass, replace

from niah.backends.registry import context_window
from niah.config import Experiment, ModelSpec
from niah.plan import Trial
from niah.prompt import BuiltPrompt
from niah.rag.builder import check_rag, check_window


@dataclass
class PlannedRag:
    """Builds the full prompt and counts it at the twin's planned size (for ``estimate``)."""

    inner: object
    model: ModelSpec
    size: int

    def build(self, trial: Trial) -> BuiltPrompt:
        full: BuiltPrompt = self.inner.build(trial)  # type: ignore[attr-defined]
        overhead = full.prompt_tokens - full.context_tokens
        context = min(full.context_tokens, self.size - overhead)
        return replace(full, context_tokens=context, prompt_tokens=context + overhead)


def planned_rag(experiment: Experiment, model: ModelSpec, builder: object,
                largest: BuiltPrompt) -> tuple[PlannedRag, BuiltPrompt, str]:
    """The planning builder, the largest planned prompt and the plan's note line; a
    ``ConfigError`` when chunks cannot fit the window or the haystack is media."""
    check_rag(experiment, model)
    overhead = largest.prompt_tokens - largest.context_tokens
    size = check_window(model, context_window(model), overhead, experiment.run.max_tokens)
    planned = PlannedRag(builder, model, size)
    spec = model.rag_settings
    note = (f"{model.id}: RAG prompt <= {min(size, largest.prompt_tokens)} tokens "
            f"(top_k {spec.top_k} x chunk_tokens {spec.chunk_tokens} + template {overhead}; "
            f"{spec.retriever}) beside the full context's {largest.prompt_tokens}")
    return planned, planned.build(largest.trial), note
