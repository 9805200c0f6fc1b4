"""The results format, in one place: a run directory's rows, manifest and file names.

Every reader and writer (the store, resume, ``report``, the importers, ``rescore``)
goes through this module, so they all agree on what a file means:

- ``results.jsonl``: one ``ResultRow`` per line, appended whole. A torn last line (a
  crash mid-write) is recovered: dropped with a warning, its trial runs again. A bad
  line anywhere before the last is damage niah never makes: a one-line error naming
  the file and the line, never silently skipped.
- ``manifest.json``: a ``Manifest`` (the experiment's name, config, models, sessions).

``SCHEMA_VERSION`` changes when a field changes meaning; older rows are migrated on
read (version 1 called the requested depth ``depth_percent``, and the actual depth of a
needle ``depth_percent`` too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from niah.errors import ResultsError, UserError

log = logging.getLogger("niah")

SCHEMA_VERSION = 2
RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "manifest.json"

ANSWER_ERRORS = frozenset({"truncated", "empty"})
"""Error kinds of a reply that arrived but holds no answer (cut by the token limit, or
empty): not API failures, not misses; drawn gray apart from API errors; never retried."""


class NeedleResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    """The inserted sentence."""
    answer: str
    key: str | None = None
    token_offset: int
    """Token index in the context where the needle starts."""
    actual_depth: float
    """Where the needle landed, percent: ``token_offset / (context_tokens - needle
    tokens) * 100``."""
    found: bool | None = None
    """Whether the scorer found this needle's answer (None for error rows)."""
    distractor: bool = False
    """Inserted but not asked for; ``found`` then means the model was distracted."""
    time_s: float | None = None
    """Media: where the needle starts on the trial's timeline, in seconds (None: text)."""
    index: int | None = None
    """Media: the needle's frame index (video, at the sampled fps) or sample index (audio)."""


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    """``transient`` (retries exhausted), ``permanent``, a finer provider kind, or an
    answer error (``truncated``, ``empty``: see ``ANSWER_ERRORS``)."""
    message: str
    status: int | None = None


class UsageInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    """Prompt tokens the provider read from its prompt cache (or a server's KV cache)."""
    cache_write_tokens: int | None = None
    """Prompt tokens written to the provider's prompt cache (Anthropic)."""


JUDGE_ERROR = "judge"
"""``error.kind`` of a row whose answer arrived but whose judge gave no verdict (the
judge's own error is in ``judge.error``; ``niah rescore --scoring judge`` retries it)."""


class JudgeResult(BaseModel):
    """An LLM judge's verdict on one response (``scoring.kind: judge``, ``niah.judge``)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    """The judge model's id."""
    rubric: str
    """``gkamradt``, ``binary`` or ``custom``."""
    verdict: float | None = None
    """The judge's own number: 1-10 (gkamradt), 0 or 1 (binary), 0-1 (custom)."""
    score: float | None = None
    """The verdict on niah's 0..1 scale (gkamradt: (verdict - 1) / 9); the row's ``score``."""
    reason: str | None = None
    reply: str | None = None
    """The judge's reply as sent, kept to audit a verdict or a malformed reply."""
    deterministic_score: float | None = None
    """The baseline scorer's score of the same response (``needles[].found`` are its hits)."""
    error: ErrorInfo | None = None
    """Why there is no verdict: the judge's API error, or ``judge_output`` (malformed)."""
    usage: UsageInfo = Field(default_factory=UsageInfo)
    cost_usd: float | None = None
    """The judge's cost, apart from the row's ``cost_usd`` (the model under test's)."""
    latency_s: float | None = None
    attempts: int = 0
    cached: bool = False
    """The judge's reply came from niah's response cache (nothing was sent)."""


class ResultRow(BaseModel):
    """One scored (or failed) trial."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    trial_id: str
    experiment: str
    model: str
    context_length: int
    """Requested context tokens (haystack + needles), or seconds of media (``length_unit``)."""
    length_unit: Literal["tokens", "seconds"] = "tokens"
    """What ``context_length`` counts: ``seconds`` for video and audio haystacks."""
    context_tokens: int
    """Measured context tokens in the model's tokenizer."""
    prompt_tokens: int
    """Measured tokens of the whole prompt (template, question, context), locally."""
    prompt_tokens_reported: int | None = None
    """Prompt tokens as the server counted them, when it says."""
    requested_depth: float
    """The grid's depth for this trial, percent (the heatmap's row)."""
    actual_depth: float
    """Where the first asked-for needle landed, percent."""
    repeat: int = 0
    needles: list[NeedleResult]
    response: str | None = None
    score: float | None = None
    """Fraction of needles found, 0..1; None when the trial errored. With an LLM judge
    (``scoring.kind: judge``) the judge's score, and ``judge.deterministic_score`` the
    baseline's."""
    error: ErrorInfo | None = None
    latency_s: float | None = None
    usage: UsageInfo = Field(default_factory=UsageInfo)
    cost_usd: float | None = None
    cache_savings_usd: float | None = None
    """What the provider's prompt cache saved on this request against the same tokens
    uncached (negative when cache writes cost more than reads saved); None when the
    price is unknown."""
    finish_reason: str | None = None
    attempts: int = 1
    cached: bool = False
    """True when the response came from niah's response cache (nothing was sent)."""
    seed: int
    prompt_sha256: str
    niah_version: str
    timestamp: str
    extra: dict[str, Any] = Field(default_factory=dict)
    judge: JudgeResult | None = None
    """The LLM judge's verdict when ``scoring.kind`` is judge (``score`` is then its score)."""


class Manifest(BaseModel):
    """``manifest.json``: what a run directory holds and how it was made."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    niah_version: str
    experiment: str
    """The experiment's name (rows carry the same string)."""
    fingerprint: str = ""
    """Hash of everything that shapes the prompts; a resume must match it."""
    started_at: str
    config: dict[str, Any] = Field(default_factory=dict)
    shard: dict[str, int] | None = None
    """``{"index": I, "count": N}`` for a shard of a sharded run (``niah run --shard``)."""
    merged_from: list[str] | None = None
    """The shard directories ``niah merge`` joined into this run."""
    config_dir: str | None = None
    """Absolute folder the config's relative paths resolved against (``niah prompt``)."""
    models: list[dict[str, Any]] = Field(default_factory=list)
    """Per model: id, backend facts (no secrets), tokenizer name."""
    host: dict[str, Any] = Field(default_factory=dict)
    sessions: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    rescored: list[dict[str, Any]] = Field(default_factory=list)
    imported_from: dict[str, Any] | None = None
    """Set by importers: the source format, path and record count."""

    def tokenizer_of(self, model: str) -> str | None:
        for entry in self.models:
            if entry.get("id") == model:
                name = entry.get("tokenizer")
                return str(name) if name else None
        return None


def row_line(row: ResultRow) -> bytes:
    """A row as one JSON line: the unit every write appends whole."""
    return (row.model_dump_json() + "\n").encode("utf-8")


def rows_text(rows: list[ResultRow]) -> str:
    return "".join(row.model_dump_json() + "\n" for row in rows)


def results_file(run_dir: str | Path) -> Path:
    """The ``results.jsonl`` of a run directory (a path to the file itself is accepted)."""
    path = Path(run_dir)
    if path.is_file():
        return path
    if not path.exists():
        raise UserError(f"{path}: no such run directory")
    target = path / RESULTS_FILE
    if not target.is_file():
        raise UserError(f"{path}: no {RESULTS_FILE} (not a niah run directory)")
    return target


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A row of an older schema in today's field names."""
    if data.get("schema_version", 1) < 2:
        if "depth_percent" in data:
            data["requested_depth"] = data.pop("depth_percent")
        if "actual_depth_percent" in data:
            data["actual_depth"] = data.pop("actual_depth_percent")
        for needle in data.get("needles") or []:
            if isinstance(needle, dict) and "depth_percent" in needle:
                needle["actual_depth"] = needle.pop("depth_percent")
        data["schema_version"] = SCHEMA_VERSION
    return data


def parse_row(line: bytes | str) -> ResultRow:
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return ResultRow.model_validate(_migrate(data))


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "row"
        return f"{where}: {err['msg']}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        return "not valid JSON"
    return str(exc) or exc.__class__.__name__


def parse_rows(path: Path, data: bytes, torn: str = "skipped") -> tuple[list[ResultRow], int]:
    """The rows of ``data`` (the bytes of ``path``) and the length of its good part.

    Only the last line may be bad (a crash mid-write): it is left out, with a warning
    that ends in ``torn``. A bad line before it raises ``ResultsError``.
    """
    return parse_lines(path, data, parse_row, "result row", torn)


_Parsed = TypeVar("_Parsed")


def parse_lines(path: Path, data: bytes, parse: Callable[[bytes], _Parsed], what: str,
                torn: str) -> tuple[list[_Parsed], int]:
    """The one policy for every append-only JSON-lines file niah writes (results, NLL
    documents): ``parse`` each line; a torn last line is left out with a warning; a bad
    line before it is an error naming the file and the line."""
    rows: list[_Parsed] = []
    good_end = 0
    lines = data.split(b"\n")
    last_text = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if i == len(lines) - 1 and not line:
            break  # the file ends with a newline: nothing torn
        if line.strip():
            try:
                if i == len(lines) - 1:
                    raise ValueError("no trailing newline")
                rows.append(parse(line))
            except (ValueError, ValidationError) as exc:
                if i < last_text:
                    raise ResultsError(
                        f"{path}: line {i + 1} is not a valid {what} ({_reason(exc)}); "
                        "fix or remove that line"
                    ) from None
                log.warning("%s: line %d is torn (an interrupted write): %s", path, i + 1, torn)
                return rows, good_end
        good_end += len(line) + 1
    return rows, good_end


def read_rows(run_dir: str | Path) -> list[ResultRow]:
    """Every row of a run directory (or results file), by the one policy above."""
    path = results_file(run_dir)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from exc
    return parse_rows(path, data)[0]


def read_manifest(run_dir: str | Path) -> Manifest | None:
    """The run's manifest, or None when it is absent; a damaged one is an error."""
    path = Path(run_dir)
    path = (path.parent if path.is_file() else path) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read ({_reason(exc)})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: not a JSON object")
    if isinstance(data.get("experiment"), dict):  # written by importers before 0.2
        data["experiment"] = str(data["experiment"].get("name", ""))
    data.setdefault("started_at", data.pop("created_at", ""))
    data.setdefault("niah_version", "")
    data.setdefault("experiment", "")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ResultsError(f"{path}: {_reason(exc)}") from None


def manifest_text(manifest: Manifest) -> str:
    return json.dumps(manifest.model_dump(mode="json", exclude_none=True), indent=2) + "\n"
