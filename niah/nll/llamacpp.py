"""The in-process source: a GGUF evaluated by llama.cpp, every logit of one pass.

A window is decoded in batches of ``n_batch`` tokens, each token asking for its
logits. After each batch llama.cpp holds ``n_batch x vocabulary`` floats; they are
read in place (no copy) and reduced to one number per token before the next batch
overwrites them. So memory stays at one batch of logits whatever the window: an 8K
window of a 49K vocabulary never becomes the 1.6 GB matrix that llama-cpp-python's
``logits_all=True`` keeps (``Llama.scores`` is sized ``n_ctx x vocabulary``).

The window's last token is not decoded: nothing after it is scored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from niah.backends.llamacpp import amx_advertised, llama_class
from niah.config import ModelSpec
from niah.errors import ConfigError, MissingDependency, PermanentModelError
from niah.gguf import context_length, resolve_gguf
from niah.nll.source import LogprobSource, nll_from_logits, parse_options

if TYPE_CHECKING:
    from llama_cpp import Llama

SCRATCH_ROWS = 64
"""Logit rows reduced at a time (a 64 x vocabulary float32 scratch buffer)."""


class LlamaCppNllOptions(BaseModel):
    """``model.options`` of ``llamacpp/...`` in an NLL config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=1024)
    """Threads for generation (unused by scoring, but llama.cpp starts them)."""
    n_threads_batch: int | None = Field(default=None, ge=1, le=1024)
    """Threads for evaluating the window; defaults to ``n_threads``. Set both: llama.cpp
    spin-waits, so more threads than free cores is much slower."""
    n_batch: int = Field(default=512, ge=1, le=65536)
    """Tokens decoded per call; also how many rows of logits are alive at once."""
    extra_buffers: bool | None = None
    """llama.cpp's extra CPU weight layouts; default on, except on CPUs that advertise
    AMX (see ``LlamaCppOptions.extra_buffers`` of the llamacpp backend)."""
    verbose: bool = False
    """Let llama.cpp print its logs to stderr."""


def load_llama(path: Path, extra_buffers: bool, **kwargs: Any) -> Llama:
    """``Llama(path, **kwargs)`` with ``use_extra_bufts`` set (see ``llama_class``)."""
    llm: Llama = llama_class(extra_buffers)(model_path=str(path), **kwargs)
    return llm


class LlamaCppSource(LogprobSource):
    """``llamacpp/<smollm2-135m | path.gguf>``: exact, in process, one window at a time."""

    kind = "llamacpp"

    def __init__(self, spec: ModelSpec, where: str = "model") -> None:
        super().__init__(spec, where)
        self.options: LlamaCppNllOptions = parse_options(LlamaCppNllOptions, spec, where)
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise MissingDependency("llama-cpp-python", "local") from None
        self.path = resolve_gguf(spec.name)
        self.n_ctx_train = context_length(self.path)
        self._llm: Llama | None = None
        self._n_ctx = 0

    @classmethod
    def auto_tokenizer(cls, spec: ModelSpec) -> str | None:
        return f"llamacpp:{resolve_gguf(spec.name)}"

    def context_window(self) -> int | None:
        return self.spec.context_window or self.n_ctx_train

    @property
    def extra_buffers(self) -> bool:
        if self.options.extra_buffers is not None:
            return self.options.extra_buffers
        return not amx_advertised()

    def prepare(self, window: int) -> None:
        n_ctx = -(-window // 256) * 256  # llama.cpp pads the context to 256 anyway
        if self._llm is not None and self._n_ctx >= n_ctx:
            return
        self.close()
        opts = self.options
        try:
            self._llm = load_llama(
                self.path, self.extra_buffers, n_ctx=n_ctx, n_batch=opts.n_batch,
                n_ubatch=opts.n_batch, n_threads=opts.n_threads,
                n_threads_batch=opts.n_threads_batch or opts.n_threads,
                logits_all=False, verbose=opts.verbose,
            )
        except Exception as exc:
            raise ConfigError(f"{self.where}.id", f"llama.cpp cannot load {self.path}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc) else exc}") from exc
        self._n_ctx = n_ctx

    def score(self, ids: Sequence[int]) -> np.ndarray:
        import llama_cpp

        self.prepare(len(ids))
        llm = self._llm
        assert llm is not None
        tokens = np.asarray(ids, dtype=np.int64)
        out = np.full(len(tokens), np.nan, dtype=np.float32)
        n_vocab = llm.n_vocab()
        n_batch = self.options.n_batch
        scratch = np.empty((min(SCRATCH_ROWS, n_batch), n_vocab), dtype=np.float32)
        ctx = llm.ctx
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        try:
            for start in range(0, len(tokens) - 1, n_batch):
                chunk = tokens[start:min(start + n_batch, len(tokens) - 1)]
                batch.n_tokens = len(chunk)
                for i, token in enumerate(chunk.tolist()):
                    batch.token[i] = token
                    batch.pos[i] = start + i
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = 0
                    batch.logits[i] = 1
                code = llama_cpp.llama_decode(ctx, batch)
                if code != 0:
                    raise PermanentModelError(f"llama.cpp: llama_decode returned {code} at "
                                              f"token {start} of a {len(tokens)}-token window")
                logits = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits(ctx), shape=(len(chunk), n_vocab)
                )
                targets = tokens[start + 1:start + 1 + len(chunk)]
                nll_from_logits(logits, targets, out[start + 1:start + 1 + len(chunk)], scratch)
        finally:
            llama_cpp.llama_batch_free(batch)
        return out

    def identity(self) -> dict[str, Any]:
        stat = self.path.stat()
        return {"source": self.kind, "gguf": str(self.path.resolve()), "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns}

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.spec.id, "source": self.kind, "gguf": str(self.path),
            "n_ctx_train": self.n_ctx_train, "n_threads": self.options.n_threads,
            "n_threads_batch": self.options.n_threads_batch or self.options.n_threads,
            "n_batch": self.options.n_batch, "extra_buffers": self.extra_buffers,
        }

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
            self._n_ctx = 0
