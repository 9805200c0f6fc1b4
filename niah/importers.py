"""Import results of gkamradt/LLMTest_NeedleInAHaystack so old runs can be redrawn.

Two layouts are read, by the keys of each record:

- **test records**: one JSON object per test, as ``LLMNeedleHaystackTester`` saves
  them (``results/<model>_len_<L>_depth_<D>_results.json``; his Claude 2.1 results,
  ``original_results/Anthropic_Original_Results/``), with the keys ``model``,
  ``context_length``, ``depth_percent``, ``version``, ``needle``, ``model_response``,
  ``score``, ``test_duration_seconds``, ``test_timestamp_utc`` and sometimes
  ``file_name``; also JSON lists of them and JSONL files, one per line (v2).
  Multi-needle records may carry ``needles`` (a list) and ``insertion_percentages``.
- **score lists**: a JSON list of ``{token_limit, depth_percent, score}`` and nothing
  else (his GPT-4 Turbo results, ``original_results/OpenAI_Original_Results/``): no
  model name, needle or reply. The model is named by ``--model``, or, for the two
  published files (recognised by their sha256), as gkamradt's figure names it.

``score`` comes from an LLM judge on a 1-10 scale. It is kept as ``extra["judge_score"]``
and stored as ``score = (judge - 1) / 9``: 1 (a miss) -> 0, 10 -> 1, so a miss is drawn
and counted at the bottom of the scale. Reports show such runs in judge scores (1-10).

Every original record is kept whole in the row's ``extra["gkamradt"]`` (without a
saved ``context``, which can be megabytes), so nothing is lost in the conversion.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from niah._version import __version__
from niah.atomic import write_text
from niah.errors import UserError
from niah.results import (
    MANIFEST_FILE,
    RESULTS_FILE,
    ErrorInfo,
    Manifest,
    NeedleResult,
    ResultRow,
    manifest_text,
    rows_text,
)

JUDGE_MIN, JUDGE_MAX = 1.0, 10.0
"""gkamradt's evaluator scores 1..10; niah stores ``(judge - 1) / 9`` (1 -> 0, 10 -> 1)."""
JUDGE_KEY = "judge_score"
"""``extra`` key of an imported row's original judge score (reports draw it on 1-10)."""
SOURCE = "gkamradt/LLMTest_NeedleInAHaystack"

Layout = Literal["test records", "score list"]
ModelSource = Literal["file", "--model", "published"]

PUBLISHED_MODELS = {
    "283a676f955a370ba5b618c30a4f67f37b59a3a21620872c81e24f84d0fa163c": "gpt-4-1106-preview",
    "bdd8c55f56e9bb340dabb4e861433db1e8cb82ca108968b445c7a27285e833a0": "gpt-4-1106-preview",
}
"""sha256 of ``original_results/OpenAI_Original_Results/OpenAI_OriginalResults{,_2}.json``
-> the model gkamradt's published figure names ("GPT-4 (1106-preview)", run 11/8/2023);
the files themselves name none."""


def judge_to_score(judge: float) -> float:
    """A 1-10 judge score as a niah score: 1 -> 0.0, 10 -> 1.0 (clipped to 0..1)."""
    return min(max((judge - JUDGE_MIN) / (JUDGE_MAX - JUDGE_MIN), 0.0), 1.0)


class GkamradtRecord(BaseModel):
    """The fields niah reads from one gkamradt result; others are kept verbatim."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    context_length: int = Field(ge=1)
    depth_percent: float = Field(ge=0, le=100)
    version: int = 1
    needle: str | None = None
    needles: list[str] | None = None
    insertion_percentages: list[float] | None = None
    model_response: str | None = None
    score: float | None = None
    test_duration_seconds: float | None = None
    test_timestamp_utc: str | None = None


class ScoreListRecord(BaseModel):
    """One entry of a score list (``{token_limit, depth_percent, score}``)."""

    model_config = ConfigDict(extra="forbid")

    token_limit: int = Field(ge=1)
    depth_percent: float = Field(ge=0, le=100)
    score: float | None = None


@dataclass
class SourceFile:
    """What one file held: its records (source name, raw record) and how it was read."""

    name: str
    layout: Layout
    records: list[tuple[str, dict[str, Any]]]
    sha256: str = ""
    model: str | None = None
    """The model given to records that name none, once resolved."""
    model_source: ModelSource = "file"


@dataclass
class Imported:
    """What ``import_gkamradt`` wrote."""

    target: Path
    rows: int
    files: list[SourceFile] = field(default_factory=list)


def _layout(items: list[tuple[str, Any]]) -> Layout:
    first = items[0][1] if items else None
    if isinstance(first, dict) and "token_limit" in first and "context_length" not in first:
        return "score list"
    return "test records"


def _read_file(path: Path, name: str) -> SourceFile:
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    items: list[tuple[str, Any]] = []
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((f"{name}:{number}", json.loads(line)))
                except ValueError:
                    raise UserError(f"{path} line {number}: not valid JSON") from None
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            raise UserError(f"{path}: not valid JSON") from None
        if isinstance(parsed, list):
            items = [(f"{name}[{k}]", x) for k, x in enumerate(parsed)]
        else:
            items = [(name, parsed)]
    for source, item in items:
        if not isinstance(item, dict):
            raise UserError(f"{source}: expected a JSON object per result")
    records = [(source, item) for source, item in items if isinstance(item, dict)]
    return SourceFile(name, _layout(items), records, hashlib.sha256(data).hexdigest())


def read_files(path: str | Path) -> list[SourceFile]:
    """Every result file under ``path`` (a file, or a folder searched deeply), read."""
    root = Path(path)
    if root.is_file():
        files = [(root, root.name)]
    elif root.is_dir():
        found = sorted(
            p for p in root.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file()
        )
        files = [(p, p.relative_to(root).as_posix()) for p in found]
    else:
        raise UserError(f"{root}: no such file or directory")
    read = [_read_file(file, name) for file, name in files]
    if not any(f.records for f in read):
        raise UserError(f"{root}: no .json or .jsonl result files found")
    return [f for f in read if f.records]


def read_gkamradt(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """Every (source name, raw record) under ``path`` (a file or a folder searched deeply)."""
    return [rec for f in read_files(path) for rec in f.records]


def _resolve_model(file: SourceFile, model: str | None) -> None:
    """Name the model of a file whose records name none: ``--model``, else published."""
    if all("model" in raw for _, raw in file.records):
        return
    if model:
        file.model, file.model_source = model, "--model"
    elif file.sha256 in PUBLISHED_MODELS:
        file.model, file.model_source = PUBLISHED_MODELS[file.sha256], "published"
    else:
        source = next(s for s, raw in file.records if "model" not in raw)
        raise UserError(
            f"{source}: model: the file names no model; give it with --model NAME "
            "(e.g. --model gpt-4-1106-preview)"
        )


def _error(source: str, exc: ValidationError) -> UserError:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "record"
    return UserError(f"{source}: {where}: {err['msg']}")


def _parse(source: str, raw: dict[str, Any], model: str | None = None) -> GkamradtRecord:
    """A record of either layout as a test record (a score list's keys renamed)."""
    data = raw
    if "token_limit" in raw and "context_length" not in raw:
        try:
            entry = ScoreListRecord.model_validate(raw)
        except ValidationError as exc:
            raise _error(source, exc) from None
        data = {"context_length": entry.token_limit, "depth_percent": entry.depth_percent,
                "score": entry.score}
    if model and "model" not in data:
        data = {**data, "model": model}
    try:
        return GkamradtRecord.model_validate(data)
    except ValidationError as exc:
        raise _error(source, exc) from None


def _timestamp(text: str | None) -> str:
    if not text:
        return ""
    for fmt in ("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S"):
        try:
            stamp = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).isoformat()
    return text


def _needles(rec: GkamradtRecord) -> list[NeedleResult]:
    texts = rec.needles if rec.needles is not None else [rec.needle] if rec.needle else []
    depths = rec.insertion_percentages
    if depths is None or len(depths) != len(texts):
        # gkamradt's multi-needle spacing: the first at the depth, the rest spread to the end
        step = (100.0 - rec.depth_percent) / len(texts) if texts else 0.0
        depths = [rec.depth_percent + k * step for k in range(len(texts))]
    return [
        NeedleResult(
            text=t.strip(), answer=t.strip(), actual_depth=d,
            token_offset=round(d / 100.0 * rec.context_length), found=None,
        )
        for t, d in zip(texts, depths, strict=True)
    ]


def _trial_id(model: str, length: int, depth: float, repeat: int) -> str:
    key = {"src": SOURCE, "model": model, "len": length, "depth": depth, "rep": repeat}
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


Parsed = tuple[str, dict[str, Any], GkamradtRecord]


def _row(model: str, repeat: int, item: Parsed, experiment: str) -> ResultRow:
    source, raw, rec = item
    kept = {k: v for k, v in raw.items() if k != "context"}
    extra: dict[str, Any] = {"source": SOURCE, "source_file": source, "estimated": True}
    if rec.score is not None:
        extra[JUDGE_KEY] = rec.score
    extra["gkamradt"] = kept
    return ResultRow(
        trial_id=_trial_id(model, rec.context_length, rec.depth_percent, repeat),
        experiment=experiment,
        model=model,
        context_length=rec.context_length,
        context_tokens=rec.context_length,
        prompt_tokens=rec.context_length,
        requested_depth=rec.depth_percent,
        actual_depth=rec.depth_percent,
        repeat=repeat,
        needles=_needles(rec),
        response=rec.model_response,
        score=judge_to_score(rec.score) if rec.score is not None else None,
        error=None if rec.score is not None else ErrorInfo(
            kind="missing_score", message="the imported record has no score"
        ),
        latency_s=rec.test_duration_seconds,
        seed=0,
        prompt_sha256="",
        niah_version=__version__,
        timestamp=_timestamp(rec.test_timestamp_utc),
        extra=extra,
    )


def gkamradt_rows(
    records: list[tuple[str, dict[str, Any]]] | list[SourceFile],
    provider: str = "gkamradt",
    experiment: str = "gkamradt-import",
    model: str | None = None,
) -> list[ResultRow]:
    """Convert raw gkamradt records (or files read by ``read_files``) into result rows.

    The model id becomes ``provider/model``; records that name no model take
    ``model`` (a file's resolved model first). Tests of the same model, length and
    depth become repeats 0, 1, ... ordered by their ``version`` then source name.
    Token counts were not stored by gkamradt: they are set to ``context_length`` and
    needle offsets are estimated from the depth (``extra["estimated"]`` says so).
    """
    items: list[tuple[str, dict[str, Any], str | None]] = []
    for entry in records:
        if isinstance(entry, SourceFile):
            items += [(s, raw, entry.model or model) for s, raw in entry.records]
        else:
            items.append((entry[0], entry[1], model))
    parsed = [(source, raw, _parse(source, raw, name)) for source, raw, name in items]
    groups: dict[tuple[str, int, float], list[Parsed]] = defaultdict(list)
    for item in parsed:
        rec = item[2]
        groups[(f"{provider}/{rec.model}", rec.context_length, rec.depth_percent)].append(item)
    rows: list[ResultRow] = []
    for (model_id, _, _), group in groups.items():
        group.sort(key=lambda it: (it[2].version, it[0]))
        rows += [_row(model_id, repeat, item, experiment) for repeat, item in enumerate(group)]
    return rows


def _models(file: SourceFile, provider: str) -> list[str]:
    names = {str(raw.get("model") or file.model) for _, raw in file.records}
    return sorted(f"{provider}/{n}" for n in names)


def read_report(files: list[SourceFile], provider: str = "gkamradt") -> list[dict[str, Any]]:
    """What was read, per file; one-test files of one folder, layout and model (his
    1,376 Claude files) are one entry naming the folder and the count of files."""
    out: list[dict[str, Any]] = []
    for file in files:
        folder = file.name.rpartition("/")[0]
        entry = {"file": file.name, "files": 1, "layout": file.layout,
                 "records": len(file.records), "models": _models(file, provider)}
        if file.model:
            entry["model_from"] = file.model_source
        last = out[-1] if out else None
        if (last is not None and len(file.records) == 1 and last["records"] == last["files"]
                and last["folder"] == folder and last["layout"] == file.layout
                and last["models"] == entry["models"] and "model_from" not in entry):
            last["files"] += 1
            last["records"] += 1
            last["file"] = f"{folder}/" if folder else "./"
            continue
        out.append({**entry, "folder": folder})
    for entry in out:
        del entry["folder"]
    return out


def import_gkamradt(
    path: str | Path, out_dir: str | Path, provider: str = "gkamradt",
    experiment: str = "gkamradt-import", model: str | None = None,
) -> Imported:
    """Write ``results.jsonl`` and ``manifest.json`` for gkamradt results into ``out_dir``.

    ``model`` names the model of files that name none (score lists). Refuses to write
    over an existing ``results.jsonl``: results are never rewritten.
    """
    out = Path(out_dir)
    target = out / RESULTS_FILE
    if target.exists():
        raise UserError(f"{target}: already exists; import into a new directory")
    files = read_files(path)
    for file in files:
        _resolve_model(file, model)
    rows = gkamradt_rows(files, provider=provider, experiment=experiment)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the directory ({exc.strerror})") from None
    manifest = Manifest(
        niah_version=__version__, experiment=experiment,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        config={"name": experiment, "description": f"imported from {SOURCE} results"},
        imported_from={
            "format": "gkamradt", "path": str(path), "records": len(rows),
            "score": "judge 1-10 stored as (judge - 1) / 9; extra.judge_score keeps it",
            "files": read_report(files, provider),
        },
    )
    write_text(out / MANIFEST_FILE, manifest_text(manifest))
    write_text(target, rows_text(rows))
    return Imported(target, len(rows), files)
