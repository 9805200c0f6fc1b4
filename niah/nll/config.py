"""The ``niah nll`` config: which documents, which model, how long a window.

    name: nll-quickstart
    model: llamacpp/smollm2-135m          # one id, a mapping, or a list (compared)
    corpora:
      - {name: prose, kind: python-docs, min_tokens: 8192, max_documents: 4}
      - {name: code, kind: tree, paths: ["python:asyncio", "python:email"]}
    window: null                          # default: the model's context window

Every document is cut to ``max_document_tokens`` (default: one window) and scored in
non-overlapping windows of ``window`` tokens: each token once, with all the tokens
before it inside its window as context. A window's first token has no context and is
not scored. Like ``Experiment``, every model forbids unknown keys and a validation
error is one ``ConfigError`` line ``path.to.field: message``.
"""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from niah.config import ModelSpec, load_config, unique_models

MAX_WINDOW = 100_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSpec(_Strict):
    """A named set of documents (a curve in the figure)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=60)
    """Label of the corpus in files and figures, e.g. ``prose`` or ``code``."""
    kind: Literal["files", "fetched", "tree", "python-docs"]
    """``files``: each text file of ``path`` is a document. ``fetched``: the same, for a
    corpus downloaded with ``niah haystack fetch`` (``corpus``). ``tree``: each entry of
    ``paths`` (a folder, or ``python:PACKAGE``, e.g. ``python:asyncio``) is one document,
    its files joined in path order. ``python-docs``: the Python reference documentation
    that ships with every Python (``pydoc_data``), one document per topic."""
    path: str | None = None
    """``files``: the folder. ``fetched``: the folder holding fetched corpora (default
    ``haystacks`` in the current directory). Relative paths resolve against the config."""
    corpus: str | None = None
    """``fetched``: the corpus name, as given to ``niah haystack fetch``."""
    paths: list[str] = Field(default_factory=list)
    """``tree``: one document per entry: a folder or ``python:PACKAGE``."""
    suffixes: list[str] | None = None
    """File name endings read (default ``.txt``/``.md``; ``.py`` for ``tree``)."""
    min_tokens: int = Field(default=2, ge=2)
    """Documents with fewer tokens are skipped (an empty document is an error)."""
    max_documents: int | None = Field(default=None, ge=1)
    """Use the first N documents (in name order) that have ``min_tokens``."""

    @model_validator(mode="after")
    def _kind_needs(self) -> CorpusSpec:
        if self.kind == "files" and not self.path:
            raise ValueError("path is required when kind is 'files'")
        if self.kind == "fetched" and not self.corpus:
            raise ValueError("corpus is required when kind is 'fetched' (e.g. paul-graham)")
        if self.kind == "tree" and not self.paths:
            raise ValueError("paths is required when kind is 'tree' (e.g. [python:json])")
        if self.kind != "tree" and self.paths:
            raise ValueError("paths is only for kind 'tree'")
        return self

    def file_suffixes(self) -> tuple[str, ...]:
        if self.suffixes is not None:
            return tuple(s.lower() for s in self.suffixes)
        return (".py",) if self.kind == "tree" else (".txt", ".md")


class FitSpec(_Strict):
    """How ``niah report`` fits ``L(x) = alpha * x^-beta + gamma`` to the cumulative NLL."""

    points: int = Field(default=60, ge=5, le=10_000)
    """Log-spaced positions the fit uses, so short positions do not dominate."""
    min_position: int = Field(default=2, ge=1)
    """First position fitted (position 1 of a window is never scored)."""
    max_position: int | None = Field(default=None, ge=2)
    """Last position fitted (default: the longest); beyond it the data is only compared."""
    deviation: float = Field(default=0.01, gt=0, lt=1)
    """Relative residual |data - fit| / fit beyond which the data has left the fit."""
    bootstrap: int = Field(default=200, ge=0, le=100_000)
    """Resamples of the documents for the 95% intervals (0: the fit's covariance)."""
    seed: int = 0
    """Seed of the bootstrap."""


class StoreSpec(_Strict):
    """How per-token arrays are stored (``.npz``, compressed, one per document)."""

    dtype: Literal["float32", "float16"] = "float32"
    """float16 halves the files; the curve's averages do not notice (committed examples)."""
    token_ids: bool = True
    """Store each document's token ids beside its NLL."""


class NllConfig(_Strict):
    """A whole ``niah nll`` measurement."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=100)
    description: str = ""
    model: list[ModelSpec] = Field(min_length=1)
    """One model or a list (one curve each); a string is an id."""
    tokenizer: str = "auto"
    """``auto`` (the GGUF's own for llamacpp), ``hf:PATH/tokenizer.json``,
    ``llamacpp:PATH.gguf`` or ``tiktoken:NAME``; a server's model needs its exact
    tokenizer named."""
    corpora: list[CorpusSpec] = Field(min_length=1)
    window: int | None = None
    """Tokens per window (default: the model's context window)."""
    max_document_tokens: int | None = Field(default=None, ge=2)
    """Tokens scored per document, in windows; the rest is left out (default: one window)."""
    fit: FitSpec = Field(default_factory=FitSpec)
    store: StoreSpec = Field(default_factory=StoreSpec)
    base_dir: str = Field(default=".", exclude=True)
    """Folder that relative paths resolve against (the config file's folder)."""

    @field_validator("model", mode="before")
    @classmethod
    def _models(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        if isinstance(v, list):
            return [{"id": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("model")
    @classmethod
    def _unique_models(cls, v: list[ModelSpec]) -> list[ModelSpec]:
        return unique_models(v)

    @field_validator("corpora")
    @classmethod
    def _unique_corpora(cls, v: list[CorpusSpec]) -> list[CorpusSpec]:
        names = [c.name for c in v]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"corpus name {name!r} is used twice")
        return v

    @field_validator("window")
    @classmethod
    def _window_scores_something(cls, v: int | None) -> int | None:
        if v is not None and v < 2:
            raise ValueError(
                f"{v} token{'' if v == 1 else 's'} leaves nothing to score (a window's first "
                "token has no context); use 2 or more"
            )
        if v is not None and v > MAX_WINDOW:
            raise ValueError(f"{v:,} tokens exceeds {MAX_WINDOW:,}")
        return v

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer_form(cls, v: str) -> str:
        kind, _, arg = v.partition(":")
        if v == "auto" or (kind in ("hf", "llamacpp", "tiktoken") and arg):
            return v
        raise ValueError(
            f"unknown tokenizer {v!r}: use auto, hf:PATH/tokenizer.json, llamacpp:PATH.gguf "
            "or tiktoken:NAME (NLL positions need the model's exact tokenizer)"
        )

    def resolve_path(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    def fingerprint(self) -> str:
        """Hash of what shapes the stored numbers (not the name, the fit, or threads)."""
        data = self.model_dump(mode="json", exclude={"name", "description", "fit"})
        for model in data["model"]:
            options = dict(model.get("options") or {})
            for key in ("n_threads", "n_threads_batch", "verbose", "timeout_s", "max_retries"):
                options.pop(key, None)
            model["options"] = options
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return sha256(blob.encode("utf-8")).hexdigest()[:16]


def load_nll_config(source: str | Path | dict[str, Any], **overrides: Any) -> NllConfig:
    """Load and validate an NLL config from a YAML path or a dict.

    ``overrides`` are dotted paths (``window=2048``) applied before validation.
    """
    return load_config(NllConfig, source, **overrides)
