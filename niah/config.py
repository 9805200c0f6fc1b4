"""The experiment config: YAML in, a validated ``Experiment`` out.

Every model forbids unknown keys, so a typo is an error, never silently ignored.
Validation errors become one ``ConfigError`` line ``path.to.field: message``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from niah.config_errors import config_error as config_error
from niah.config_errors import keys_at, models_in, unknown_key_message
from niah.errors import ConfigError, HaystackError
from niah.fmt import parse_seconds, parse_tokens
from niah.media.config import AudioHaystackSpec, VideoHaystackSpec
from niah.rag.config import PREFIX as RAG_PREFIX
from niah.rag.config import RagSpec

MAX_CONTEXT_LENGTH = 100_000_000
"""Larger lengths are typos (no model or haystack is near this)."""


_MODEL_ID = re.compile(r"^(?:(?:ocr|asr)\+)?[A-Za-z0-9_.\-]+/.+$")
"""``provider/model``, or a cascade ``ocr+provider/model`` / ``asr+provider/model``."""
CASCADE_STAGES = ("ocr", "asr")
TRANSCRIBER_KEY = "transcriber"
"""A cascade's ``model.options`` key for its transcriber's settings."""


def cascade_stage_of(model_id: str) -> str | None:
    """``ocr`` or ``asr`` for a cascade id (``ocr+llamacpp/smollm2-135m``), else None."""
    stage, plus, _ = model_id.split("/", 1)[0].partition("+")
    return stage if plus and stage in CASCADE_STAGES else None
MAX_TRIALS = 1_000_000
"""More trials per model than this is a typo (a grid of this size takes days to run)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_S = TypeVar("_S", bound=BaseModel)


def _required_for(spec: _S, kind: str, name: str) -> _S:
    """``spec`` when its ``kind`` needs no ``name`` or has one; else the config error."""
    if getattr(spec, "kind", None) == kind and not getattr(spec, name):
        raise ValueError(f"{name} is required when kind is {kind!r}")
    return spec


def unique_models(models: list[ModelSpec]) -> list[ModelSpec]:
    """``models`` when no id is listed twice (a model runs each trial once)."""
    ids = [m.id for m in models]
    for i, model_id in enumerate(ids):
        if model_id in ids[:i]:
            raise ValueError(f"{model_id!r} is listed twice")
    return models


class ModelSpec(_Strict):
    """A model under test: ``provider/model`` plus how to reach it."""

    id: str = Field(description="`provider/model`")
    base_url: str | None = Field(default=None, json_schema_extra=lambda schema: schema.update(
        anyOf=[{"type": "string"}, {"type": "array", "items": {"type": "string"},
                                    "minItems": 1}, {"type": "null"}]))
    """Endpoint for HTTP backends (required by ``openai-compatible``); a list of URLs
    spreads the trials over several servers of the same model (see ``endpoints``)."""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable holding the key; the key itself never goes in configs."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Backend options (e.g. ``n_threads`` for llamacpp, ``reasoning_effort`` for openai),
    checked against the backend's ``Options`` before anything runs; HTTP backends send
    ``options.body`` as extra request fields."""
    context_window: int | None = Field(default=None, gt=0)
    """The model's context window in tokens (prompt + answer), to refuse lengths that
    cannot fit; overrides the window niah knows for the model."""
    endpoints: list[EndpointSpec] | None = Field(default=None, min_length=1)
    """Several servers of the same model, each with its own concurrency and rate
    limits: trials go to the least-loaded healthy one, and trials sharing a prompt
    prefix to the same one (its KV cache is reused). Instead of ``base_url``."""
    rag: RagSpec | None = None
    """Chunking and retrieval of a ``rag/<model id>`` twin (default: BM25, 4 chunks of
    256 tokens); only on ``rag/`` ids. The twin answers the same trials from the
    retrieved chunks only (``niah.rag``)."""

    @field_validator("id")
    @classmethod
    def _provider_slash_model(cls, v: str) -> str:
        if not _MODEL_ID.match(v):
            raise ValueError(f"expected provider/model (e.g. openai/gpt-4o-mini), or ocr+ or "
                             f"asr+ before one (a transcript cascade), got {v!r}")
        if v.startswith(RAG_PREFIX) and not _MODEL_ID.match(v[len(RAG_PREFIX):]):
            raise ValueError(f"expected rag/provider/model (e.g. rag/llamacpp/smollm2-135m), "
                             f"got {v!r}")
        return v

    @model_validator(mode="after")
    def _rag_block(self) -> ModelSpec:
        if self.rag is not None and not self.id.startswith(RAG_PREFIX):
            raise ValueError(f"rag settings need a rag/ id: rag/{self.id}")
        return self

    @property
    def is_rag(self) -> bool:
        """A RAG twin (``rag/<model id>``)."""
        return self.id.startswith(RAG_PREFIX)

    @property
    def inner(self) -> ModelSpec:
        """The answering model: this spec without ``rag/`` (itself when not a twin)."""
        if not self.is_rag:
            return self
        return self.model_copy(update={"id": self.id[len(RAG_PREFIX):], "rag": None})

    @property
    def rag_settings(self) -> RagSpec:
        """The twin's settings (the defaults when the entry has no ``rag:`` block)."""
        return self.rag or RagSpec()

    # --- endpoints (issue 16) ---
    @model_validator(mode="before")
    @classmethod
    def _several_urls(cls, data: Any) -> Any:
        """``base_url: [a, b]`` is ``endpoints: [{base_url: a}, {base_url: b}]``; a list
        of one is a plain ``base_url``; an empty list stays for ``base_url``'s check."""
        urls = data.get("base_url") if isinstance(data, dict) else None
        if isinstance(urls, list) and urls and "endpoints" not in data:
            data = {k: v for k, v in data.items() if k != "base_url"}
            if len(urls) == 1:
                data["base_url"] = urls[0]
            else:
                data["endpoints"] = [{"base_url": url} for url in urls]
        return data

    @field_validator("base_url", mode="before")
    @classmethod
    def _no_list_left(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:
            raise ValueError("an empty list names no server: give a URL or a list of URLs")
        if isinstance(v, list):  # other lists became endpoints, unless those were given too
            raise ValueError("give the servers as base_url or as endpoints, not both")
        return v

    @field_validator("endpoints", mode="before")
    @classmethod
    def _not_empty(cls, v: Any) -> Any:
        if isinstance(v, list) and not v:
            raise ValueError("an empty list names no server: give one or more {base_url: URL}")
        return v

    @field_validator("endpoints")
    @classmethod
    def _distinct_endpoints(
        cls, v: list[EndpointSpec] | None, info: ValidationInfo
    ) -> list[EndpointSpec] | None:
        if v is not None and info.data.get("base_url") is not None:
            raise ValueError("give base_url or endpoints, not both")
        urls = [e.base_url.rstrip("/") for e in v or []]
        for i, url in enumerate(urls):
            if url in urls[:i]:
                raise ValueError(f"{url!r} is listed twice")
        return v
    # --- end endpoints ---

    @property
    def provider(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def cascade_stage(self) -> str | None:
        """``ocr`` or ``asr`` for a cascade id (``ocr+llamacpp/smollm2-135m``), else None."""
        return cascade_stage_of(self.id)

    @property
    def text_model(self) -> ModelSpec:
        """The model that reads text: a cascade's text model (the id without ``ocr+`` or
        ``asr+``, the options without ``transcriber``), else this spec itself."""
        if self.cascade_stage is None:
            return self
        options = {k: v for k, v in self.options.items() if k != TRANSCRIBER_KEY}
        return self.model_copy(update={"id": self.id.split("+", 1)[1], "options": options})

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]


# --- endpoints (issue 16): one server of several ---------------------------------------
class EndpointSpec(_Strict):
    """One server of a model served by several (``model.endpoints``)."""

    base_url: str = Field(min_length=1)
    """The server's URL, as ``model.base_url`` would be (``http://10.0.0.2:8000/v1``)."""
    concurrency: int | None = Field(default=None, ge=1, le=1024)
    """In-flight requests to this server (the most: it drops on 429s and grows back);
    default ``run.concurrency``."""
    requests_per_minute: float | None = Field(default=None, gt=0)
    """This server's own request rate limit (``run.requests_per_minute`` is the model's)."""
    tokens_per_minute: float | None = Field(default=None, gt=0)
    """This server's own token rate limit (``run.tokens_per_minute`` is the model's)."""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Overrides ``model.api_key_env`` for this server."""

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {v!r}")
        return v


ModelSpec.model_rebuild()  # its endpoints field names the class above
# --- end endpoints --------------------------------------------------------------------


def _model_spec(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


class HaystackSpec(_Strict):
    """Where haystack text comes from."""

    kind: Literal["generated", "noise", "files"] = "generated"
    seed: int = 0
    """Seed of the prose generator (``generated``)."""
    path: str | None = None
    """Folder of .txt/.md files (``files``); relative paths resolve against the config file."""
    filler: str | None = None
    """Override the repeated filler text of ``noise``."""

    @model_validator(mode="after")
    def _path_for_files(self) -> HaystackSpec:
        return _required_for(self, "files", "path")


class ValueSpec(_Strict):
    """How a needle's answer value is chosen."""

    kind: Literal["fixed", "random_number", "random_word", "uuid", "choice"] = "random_number"
    value: str | None = None
    """The answer for ``fixed``."""
    digits: int = Field(default=7, ge=1, le=30)
    """Digits of ``random_number`` (no leading zero)."""
    values: list[str] | None = Field(default=None, min_length=1, max_length=100_000)
    """The words ``choice`` draws from (e.g. words a speech recognizer knows, for an audio
    haystack's cascade)."""

    @model_validator(mode="after")
    def _fixed_has_value(self) -> ValueSpec:
        _required_for(self, "choice", "values")
        if self.values is not None:
            if self.kind != "choice":
                raise ValueError("values is only for kind choice")
            if any(not v.strip() for v in self.values):
                raise ValueError("values must not be empty strings")
            if len({v.lower() for v in self.values}) != len(self.values):
                raise ValueError("values must be distinct")
        return _required_for(self, "fixed", "value")


class KeySpec(_Strict):
    """Keys drawn per needle, distinct within a trial and absent from the haystack: many
    key->value needles in one context (the Gemini 1.5 report's 100 needles)."""

    kind: Literal["word_pair", "uuid", "number", "names"] = "word_pair"
    """``word_pair`` (``amethyst-falcon``), ``uuid``, ``number`` or one of ``names``."""
    names: list[str] | None = Field(default=None, min_length=1)
    """The keys to draw from for ``names`` (cities, objects), without replacement."""
    digits: int = Field(default=6, ge=1, le=30)
    """Digits of ``number`` keys."""

    @field_validator("names")
    @classmethod
    def _distinct(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len({n.strip().lower() for n in v}) < len(v):
            raise ValueError("names must be distinct (a key names one needle)")
        return v

    @model_validator(mode="after")
    def _names_given(self) -> KeySpec:
        return _required_for(self, "names", "names")


class NeedleSpec(_Strict):
    """One needle (or ``count`` needles of the same shape)."""

    text: str = Field(min_length=1)
    """The sentence to insert; ``{value}`` is replaced by the answer."""
    question: str = Field(default="", description="The question whose answer is the value")
    value: ValueSpec | None = None
    """Answer generator; omit for a needle without ``{value}`` whose answer is ``answer``."""
    answer: str | None = None
    """Expected answer when ``value`` is not given (e.g. gkamradt's sandwich needle)."""
    count: int = Field(default=1, ge=1, le=10_000)
    """How many needles of this shape, each with its own value."""
    depth_percent: float | None = Field(default=None, ge=0, le=100)
    """Pin this needle's depth instead of using the grid's."""
    key: KeySpec | str | None = None
    """Label substituted for ``{key}`` in text and question: one fixed string (RULER
    multi-key), or a ``KeySpec`` drawing a distinct key for each of ``count`` needles."""
    distractor: bool = False
    """Inserted but never asked for (RULER's distractors): not scored; a response that
    repeats its value is recorded per needle as ``found``."""

    @model_validator(mode="after")
    def _answer_known(self) -> NeedleSpec:
        if "{value}" in self.text and self.value is None:
            object.__setattr__(self, "value", ValueSpec())
        if self.value is None and not self.answer:
            raise ValueError("give value (for a {value} needle) or answer")
        if self.value is not None and "{value}" not in self.text:
            raise ValueError("text must contain {value} when value is given")
        if self.count > 1 and (self.value is None or self.value.kind == "fixed"):
            raise ValueError("count > 1 needs a random value so each needle differs")
        if isinstance(self.key, KeySpec) and "{key}" not in self.text:
            raise ValueError("text must contain {key} when key is drawn")
        return self


class RangeSpec(_Strict):
    """An evenly spaced range, like numpy's linspace/geomspace."""

    min: float
    max: float
    num: int = Field(ge=1, le=1000)
    spacing: Literal["linear", "log", "sigmoid"] = "linear"

    @model_validator(mode="after")
    def _ordered(self) -> RangeSpec:
        if self.max < self.min:
            raise ValueError("max must be >= min")
        if self.spacing == "log" and self.min <= 0:
            raise ValueError("log spacing needs min > 0")
        return self

    def values(self) -> list[float]:
        """The points, ``min`` and ``max`` exactly (``exp(log(16))`` is 15.999...)."""
        if self.num == 1:
            return [self.min]
        steps = [i / (self.num - 1) for i in range(self.num)]
        if self.spacing == "linear":
            out = [self.min + (self.max - self.min) * t for t in steps]
        elif self.spacing == "log":
            if self.min <= 0:
                raise ValueError("log spacing needs min > 0")
            lo, hi = math.log(self.min), math.log(self.max)
            out = [math.exp(lo + (hi - lo) * t) for t in steps]
        else:
            # sigmoid: denser near both ends, where retrieval usually changes (gkamradt's)
            k = 6.0
            s = [1 / (1 + math.exp(-k * (2 * t - 1))) for t in steps]
            s0, s1 = s[0], s[-1]
            out = [self.min + (self.max - self.min) * (v - s0) / (s1 - s0) for v in s]
        out[0], out[-1] = self.min, self.max
        return out


def _token_count(value: Any) -> Any:
    """``"128K"`` -> 128000 (see ``niah.fmt``); numbers go on to the int check as they are."""
    return parse_tokens(value) if isinstance(value, str) else value


TokenCount = Annotated[int, BeforeValidator(_token_count, json_schema_input_type=int | str)]
"""A number of tokens, written ``4000``, ``4K``, ``1.5M`` or ``32Ki`` in YAML."""


class LengthRange(RangeSpec):
    """A range of context lengths: ``min`` and ``max`` are token counts like ``1K``."""

    min: Annotated[float, BeforeValidator(_token_count, json_schema_input_type=float | str)]
    max: Annotated[float, BeforeValidator(_token_count, json_schema_input_type=float | str)]


def _seconds(value: Any) -> Any:
    """``"1.2m"`` -> 72 (see ``niah.fmt.parse_seconds``); numbers go on as they are."""
    return parse_seconds(value) if isinstance(value, str) else value


Seconds = Annotated[int, BeforeValidator(_seconds, json_schema_input_type=int | str)]
"""A duration in whole seconds, written ``90``, ``90s``, ``1.2m`` or ``3h`` in YAML."""
MAX_DURATION_S = 7 * 24 * 3600
"""Longer media durations are typos (the Gemini 1.5 report's longest is 22 hours)."""


class DurationRange(RangeSpec):
    """A range of media durations: ``min`` and ``max`` are durations like ``1.2m``."""

    min: Annotated[float, BeforeValidator(_seconds, json_schema_input_type=float | str)]
    max: Annotated[float, BeforeValidator(_seconds, json_schema_input_type=float | str)]


class GridSpec(_Strict):
    """The sweep: context lengths (or media durations) x depths x repeats."""

    context_lengths: list[TokenCount] | LengthRange = Field(
        default_factory=lambda: [1000, 2000, 4000]
    )
    """Context tokens (haystack + needles) in the model's tokenizer: ``[1K, 32K, 128K]``
    or a range ``{min: 1K, max: 128K, num: 8, spacing: log}``."""
    depth_percents: list[float] | RangeSpec = Field(
        default_factory=lambda: RangeSpec(min=0, max=100, num=5)
    )
    """Needle depth: 0 = start of the context, 100 = after the last haystack sentence."""
    repeats: int = Field(default=1, ge=1, le=1000)
    """Trials per cell, each with fresh needle values."""
    length_includes_prompt: bool = False
    """RULER semantics: the whole prompt (template + question) fits in the length."""
    durations: list[Seconds] | DurationRange | None = None
    """Media durations in seconds (video and audio haystacks only, where they replace
    ``context_lengths``): ``[90s, 1.2m, 3h]`` or ``{min: 1m, max: 3h, num: 10}``."""

    @field_validator("durations")
    @classmethod
    def _durations_ok(
        cls, v: list[int] | DurationRange | None
    ) -> list[int] | DurationRange | None:
        values = v.values() if isinstance(v, RangeSpec) else v
        if values is None:
            return v
        if not values:
            raise ValueError("at least one duration is needed")
        for x in values:
            if round(x) < 1:
                raise ValueError(f"duration {x:g} s is below the minimum of 1 second")
            if x > MAX_DURATION_S:
                raise ValueError(f"duration {x:g} s exceeds {MAX_DURATION_S:,} s (a week)")
        return v

    @field_validator("context_lengths")
    @classmethod
    def _lengths_ok(cls, v: list[int] | RangeSpec) -> list[int] | RangeSpec:
        values = v.values() if isinstance(v, RangeSpec) else v
        if not values:
            raise ValueError("at least one context length is needed")
        for x in values:
            if x < 16:
                raise ValueError(f"context length {x} is below the minimum of 16 tokens")
            if x > MAX_CONTEXT_LENGTH:
                raise ValueError(f"context length {x} exceeds {MAX_CONTEXT_LENGTH:,} tokens")
        return v

    @field_validator("depth_percents")
    @classmethod
    def _depths_ok(cls, v: list[float] | RangeSpec) -> list[float] | RangeSpec:
        values = v.values() if isinstance(v, RangeSpec) else v
        if not values:
            raise ValueError("at least one depth is needed")
        for x in values:
            if not 0 <= x <= 100:
                raise ValueError(f"depth {x} is outside 0..100")
        return v

    @model_validator(mode="after")
    def _bounded(self) -> GridSpec:
        trials = len(self.lengths()) * len(self.depths()) * self.repeats
        if trials > MAX_TRIALS:
            raise ValueError(
                f"{trials:,} trials per model exceed the maximum of {MAX_TRIALS:,}; "
                "use fewer lengths, depths or repeats"
            )
        return self

    def lengths(self) -> list[int]:
        """The trials' lengths: tokens, or seconds when ``durations`` are given."""
        values = self.durations if self.durations is not None else self.context_lengths
        raw = values.values() if isinstance(values, RangeSpec) else values
        out: list[int] = []
        for x in raw:
            n = round(x)
            if n not in out:
                out.append(n)
        return sorted(out)

    def depths(self) -> list[float]:
        values = self.depth_percents
        raw = values.values() if isinstance(values, RangeSpec) else values
        out: list[float] = []
        for x in raw:
            d = round(float(x), 4)
            if d not in out:
                out.append(d)
        return sorted(out)


DEFAULT_SYSTEM = "You are a helpful assistant. Answer the question using only the document."
DEFAULT_TEMPLATE = (
    "<document>\n{context}\n</document>\n\n"
    "{question} Answer in one short sentence, using only the document."
)


class PromptSpec(_Strict):
    """How the context and question become chat messages."""

    system: str | None = DEFAULT_SYSTEM
    """System message; null sends none."""
    template: str = DEFAULT_TEMPLATE
    """User message; must contain ``{context}`` and ``{question}``."""
    question: str | None = None
    """Overrides the needles' own questions (useful with many needles); ``{keys}``
    becomes the asked-for needles' keys joined by commas, ``{count}`` their number."""

    @field_validator("template")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        for name in ("{context}", "{question}"):
            if name not in v:
                raise ValueError(f"template must contain {name}")
        return v


DeterministicKind = Literal["contains", "exact", "regex"]
JUDGE_RUBRICS = ("gkamradt", "binary")
"""Built-in judge rubrics (``niah.judge``); any text of several words is custom criteria."""


class ScoringSpec(_Strict):
    """How a response is scored against the needles' answers."""

    kind: Literal["contains", "exact", "regex", "judge"] = "contains"
    """A deterministic scorer, or ``judge``: an LLM judge grades each answer (the
    deterministic ``baseline`` is still computed and kept beside it)."""
    pattern: str | None = None
    """For ``regex``: a pattern with ``{answer}`` where the escaped answer goes."""
    # --- judge (issue 14) ---
    model: Annotated[ModelSpec | None, BeforeValidator(
        _model_spec, json_schema_input_type=str | ModelSpec | None)] = Field(
        default=None, validate_default=True)
    """For ``judge``: the judge model, an id or a full ``ModelSpec`` like ``model:``'s."""
    rubric: str = Field(default="gkamradt", min_length=1)
    """For ``judge``: ``gkamradt`` (1-10, mapped to (score - 1) / 9), ``binary`` (0 or 1),
    or your own criteria as text (the judge then gives 0 to 1)."""
    baseline: DeterministicKind = "contains"
    """For ``judge``: the deterministic scorer kept beside the judge's verdict."""
    max_tokens: int = Field(default=256, ge=16, le=100_000)
    """For ``judge``: the judge's output tokens (its verdict and a one-line reason)."""

    @field_validator("model", mode="after")
    @classmethod
    def _judge_model(cls, v: ModelSpec | None, info: ValidationInfo) -> ModelSpec | None:
        judge = info.data.get("kind") == "judge"
        if judge and v is None:
            raise ValueError("is required when scoring.kind is judge (e.g. openai/gpt-4o-mini)")
        if not judge and v is not None:
            raise ValueError("names the judge model: only with scoring.kind judge")
        return v

    @field_validator("rubric")
    @classmethod
    def _known_rubric(cls, v: str) -> str:
        if v not in JUDGE_RUBRICS and len(v.split()) < 3:
            raise ValueError(f"unknown rubric {v!r}: use gkamradt, binary, or your own "
                             "criteria as a sentence")
        return v

    @property
    def deterministic(self) -> ScoringSpec:
        """The scorer behind ``score`` (or beside the judge's): this spec, or its baseline."""
        if self.kind != "judge":
            return self
        return ScoringSpec(kind=self.baseline, pattern=self.pattern)
    # --- end judge ---


class TaskSpec(_Strict):
    """What a trial holds and how it is scored (``niah.tasks``); ``needle`` is the classic
    needle-in-a-haystack built from ``haystack`` and ``needles``."""

    name: str = Field(default="needle", min_length=1)
    """A registered task: ``needle`` (default), ``ruler/vt``, ... (``niah schema`` lists
    them) or a third party's ``niah.tasks`` entry point."""
    options: dict[str, Any] = Field(default_factory=dict)
    """The task's own settings, checked by the task (unknown keys are errors)."""


class RunSpec(_Strict):
    """How requests are sent. Applies to every model of the experiment."""

    max_tokens: int = Field(default=64, ge=1, le=100_000)
    """Output tokens per answer; below 32 truncates many correct answers."""
    temperature: float | Literal["auto"] | None = "auto"
    """Sampling temperature, 0 to 2. ``auto`` sends 0 to models that take a temperature
    and none to those that reject one or advise against setting it (OpenAI o-series and
    gpt-5, Claude from Opus 4.7 and with extended thinking, Gemini 3); ``null`` sends
    none. A number is refused for a model that rejects it."""
    concurrency: int = Field(default=4, ge=1, le=1024)
    """In-flight requests per model (local backends force 1)."""
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=6, ge=0, le=100)
    timeout_s: float = Field(default=600.0, gt=0)
    """Per-request timeout."""
    max_error_rate: float = Field(default=0.5, ge=0, le=1)
    """Abort once this fraction of finished trials failed (checked after ``min_trials``)."""
    min_trials_before_abort: int = Field(default=10, ge=1)
    cache: bool = True
    """Reuse stored responses for identical requests (never pay twice for a cell)."""
    prompt_cache: Literal["auto", "on", "off"] = "auto"
    """Provider prompt caching: ``auto`` marks the shared haystack for Anthropic (only
    where a later trial reads it back), sends OpenAI a ``prompt_cache_key`` per
    experiment and length, and prices Gemini's implicit cache hits; ``on`` does the
    same but refuses a model whose provider has no prompt cache niah can use; ``off``
    sends no marks and no key."""
    @field_validator("temperature", mode="before")
    @classmethod
    def _temperature(cls, v: Any) -> Any:
        # one message for every wrong value, not one per branch of the union
        if v is None or v == "auto":
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 2:
            return float(v)
        raise ValueError(f"expected a number from 0 to 2, auto or null, got {v!r}")

    build_prompts: Literal["auto", "process", "inline"] = "auto"
    """Where prompts are built: ``process`` builds them ahead in a child process on a
    spare core (a fast server then waits on the client less), ``inline`` just before
    each is sent; ``auto`` picks ``process`` for remote models with 100+ trials when
    there are 2+ cores."""


def _haystack_tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in ("video", "audio") else "text"


AnyHaystack = Annotated[
    Annotated[HaystackSpec, Tag("text")]
    | Annotated[VideoHaystackSpec, Tag("video")]
    | Annotated[AudioHaystackSpec, Tag("audio")],
    Discriminator(_haystack_tag),
]
"""A text haystack, or a video or audio one, told apart by ``kind``."""
MediaHaystackSpec = VideoHaystackSpec | AudioHaystackSpec

MEDIA_NEEDLES: dict[str, dict[str, Any]] = {
    "video": {"text": 'The secret word is "{value}".', "question": "What is the secret word?",
              "value": {"kind": "random_word"}},
    "audio": {"text": "The secret keyword is {value}.",
              "question": "What is the secret keyword?", "value": {"kind": "random_word"}},
}
"""The needle of a media haystack when the config gives none (the Gemini 1.5 report's)."""
MEDIA_PROMPTS: dict[str, dict[str, str]] = {
    kind: {
        "system": f"You are a helpful assistant. Answer the question using only the {kind}.",
        "template": f"{{context}}\n\n{{question}} Answer in one short sentence, using only "
                    f"the {kind}.",
    } for kind in ("video", "audio")
}
"""The prompt of a media haystack when the config sets none: ``{context}`` is where the
media goes."""


class Price(_Strict):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    """Prompt tokens read from the provider's prompt cache (None: the input price)."""
    cache_write: float | None = Field(default=None, ge=0)
    """Prompt tokens written to the provider's prompt cache (Anthropic: 1.25x the input
    price for the 5-minute cache); None: the input price."""


class Experiment(_Strict):
    """A whole needle-in-a-haystack experiment."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=100)
    description: str = ""
    model: list[ModelSpec] = Field(min_length=1)
    """One model or a list; a string is an id, a mapping is a full ``ModelSpec``."""
    tokenizer: str = "auto"
    haystack: AnyHaystack = Field(default_factory=HaystackSpec)
    """Text (``generated``, ``noise``, ``files``), or ``video`` or ``audio`` media swept
    over ``grid.durations``."""
    needles: list[NeedleSpec] = Field(default_factory=list, max_length=1000)
    """What to hide (the ``needle`` task needs one at least; other tasks make their own);
    a media haystack holds one needle per trial (default: the Gemini 1.5 report's secret
    word or keyword)."""
    grid: GridSpec = Field(default_factory=GridSpec)
    prompt: PromptSpec = Field(default_factory=PromptSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    task: TaskSpec = Field(default_factory=TaskSpec)
    """The task; a string is a task name (``task: ruler/vt``)."""
    run: RunSpec = Field(default_factory=RunSpec)
    pricing: dict[str, Price] = Field(default_factory=dict)
    """Per model id, overrides the built-in price table."""
    seed: int = 0
    base_dir: str = Field(default=".", exclude=True)
    """Folder that relative paths resolve against (the config file's folder)."""

    @field_validator(
        "model", mode="before",
        json_schema_input_type=str | ModelSpec | list[str | ModelSpec],
    )
    @classmethod
    def _models(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        if isinstance(v, list):
            return [_model_spec(x) for x in v]
        return v

    @model_validator(mode="before")
    @classmethod
    def _media_defaults(cls, data: Any) -> Any:
        """A media haystack's default needle and prompt, where the config gives none."""
        kind = data.get("haystack", {}).get("kind") if isinstance(data, dict) and isinstance(
            data.get("haystack"), dict) else None
        if kind not in MEDIA_NEEDLES:
            return data
        data = dict(data)
        data.setdefault("needles", [MEDIA_NEEDLES[kind]])
        prompt = data.get("prompt")
        if prompt is None or isinstance(prompt, dict):
            prompt = dict(prompt or {})
            for key, value in MEDIA_PROMPTS[kind].items():
                prompt.setdefault(key, value)
            data["prompt"] = prompt
        return data

    @model_validator(mode="after")
    def _media_grid(self) -> Experiment:
        """Durations for media, lengths for text; one needle per media trial."""
        media = self.media
        grid = self.grid
        if media is None:
            if grid.durations is not None:
                raise ConfigError("grid.durations", "only for video or audio haystacks; a "
                                  f"{self.haystack.kind} haystack is swept over "
                                  "grid.context_lengths")
            return self
        if grid.durations is None:
            raise ConfigError("grid.durations", f"required for a {media.kind} haystack "
                              "(seconds, e.g. [30s, 1m, 2m] or {min: 1m, max: 3h, num: 10})")
        if "context_lengths" in grid.model_fields_set:
            raise ConfigError("grid.context_lengths", f"a {media.kind} haystack is swept over "
                              "grid.durations, not token lengths")
        if grid.length_includes_prompt:
            raise ConfigError("grid.length_includes_prompt",
                              f"only for text haystacks (a {media.kind} trial is a duration)")
        if self.total_needles != 1:
            raise ConfigError("needles", f"a {media.kind} haystack holds one needle per "
                              f"trial, got {self.total_needles}")
        return self

    @property
    def media(self) -> MediaHaystackSpec | None:
        """The video or audio haystack, or None for text."""
        h = self.haystack
        return h if isinstance(h, VideoHaystackSpec | AudioHaystackSpec) else None

    @property
    def text_haystack(self) -> HaystackSpec:
        """The text haystack (a media experiment has none: ``HaystackError``)."""
        if not isinstance(self.haystack, HaystackSpec):
            raise HaystackError(f"haystack: a {self.haystack.kind} haystack has no text "
                                "context; this command takes text haystacks")
        return self.haystack

    @field_validator("task", mode="before", json_schema_input_type=str | TaskSpec)
    @classmethod
    def _task_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("needles", mode="before", json_schema_input_type=NeedleSpec | list[NeedleSpec])
    @classmethod
    def _needle_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @field_validator("needles")
    @classmethod
    def _something_to_find(cls, v: list[NeedleSpec]) -> list[NeedleSpec]:
        if v and all(n.distractor for n in v):
            raise ValueError("every needle is a distractor: at least one must be asked for")
        return v

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer_form(cls, v: str) -> str:
        if v == "auto" or v.split(":", 1)[0] in ("tiktoken", "hf", "llamacpp"):
            if (v != "auto" and not v.split(":", 1)[1:]) or v.endswith(":"):
                raise ValueError(f"{v!r} names no encoding or file")
            return v
        raise ValueError(
            f"unknown tokenizer {v!r}: use auto, tiktoken:NAME, hf:PATH/tokenizer.json "
            "or llamacpp:PATH.gguf"
        )

    @field_validator("model")
    @classmethod
    def _unique_models(cls, v: list[ModelSpec]) -> list[ModelSpec]:
        return unique_models(v)

    @model_validator(mode="after")
    def _needles_for_needle_task(self) -> Experiment:
        if self.task.name == "needle" and not self.needles:
            raise ConfigError("needles", "at least one needle is needed")
        return self

    def resolve_path(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def total_needles(self) -> int:
        return sum(n.count for n in self.needles)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"is not UTF-8 (byte {exc.start}); save it as UTF-8") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc.__class__.__name__}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(str(path), f"{where}{problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "must be a YAML mapping of experiment settings")
    return data


def load_experiment(source: str | Path | dict[str, Any], **overrides: Any) -> Experiment:
    """Load and validate an experiment from a YAML path or a dict.

    ``overrides`` are dotted paths (``grid.repeats=3``) applied before validation.
    """
    return load_config(Experiment, source, **overrides)


def load_config(kind: type[_S], source: str | Path | dict[str, Any], **overrides: Any) -> _S:
    """Load and validate a config of ``kind`` (an experiment, an NLL config) from a YAML
    path or a dict; relative paths in it resolve against the file's folder."""
    if isinstance(source, dict):
        data = dict(source)
        data.setdefault("base_dir", ".")
    else:
        path = Path(source)
        data = _read_yaml(path)
        if "base_dir" in data:
            raise ConfigError("base_dir", "unknown key")
        data["base_dir"] = str(path.parent)
    for dotted, value in overrides.items():
        apply_override(data, dotted, value)
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc) from None


def apply_override(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, creating mappings on the way."""
    keys = dotted.split(".")
    if not all(keys):
        raise ConfigError(dotted, "override path has an empty part")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(dotted, f"{key} is not a mapping")
        node = child
    node[keys[-1]] = value


def parse_override(text: str, root: type[BaseModel] | None = None) -> tuple[str, Any]:
    """``grid.repeats=3`` -> ("grid.repeats", 3); the value is parsed as YAML (safely)."""
    if "=" not in text:
        raise ConfigError("--set", f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    check_override_path(key, root or Experiment)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}", "value is not valid YAML") from None
    return key, value


def check_override_path(dotted: str, root: type[BaseModel] | None = None) -> None:
    """Refuse ``--set grid.repeat=3`` at once, naming the key it probably meant.

    Keys are checked down to the first mapping of free keys (``pricing``'s model ids,
    a model's ``options``); pydantic checks what lies below when the config is loaded.
    """
    keys = dotted.split(".")
    if not all(keys):
        return  # apply_override says which part is empty
    models: list[type[BaseModel]] = [root or Experiment]
    free = False
    for i, key in enumerate(keys):
        if free:  # a dict key: any name goes
            free = False
            continue
        fields = [m.model_fields[key] for m in models
                  if key in m.model_fields and key != "base_dir"]
        if not fields:
            known = keys_at(models[0], ()) if len(models) == 1 else sorted(
                {k for m in models for k in m.model_fields})
            path = ".".join(keys[: i + 1])
            raise ConfigError(f"--set {path}", unknown_key_message(key, known))
        models = [m for f in fields for m in models_in(f.annotation)]
        free = any(get_origin(f.annotation) is dict for f in fields)
        if not models:
            return
