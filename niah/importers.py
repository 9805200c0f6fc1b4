"""Import results of gkamradt/LLMTest_NeedleInAHaystack so old runs can be redrawn.

That harness writes one JSON object per test (``results/<model>_len_<L>_depth_<D>_results.json``)
with the keys ``model``, ``context_length``, ``depth_percent``, ``version``, ``needle``,
``model_response``, ``score``, ``test_duration_seconds``, ``test_timestamp_utc`` and
sometimes ``file_name``. ``score`` comes from an LLM judge on a 1-10 scale and is
mapped to ``score / 10``. Accepted inputs: such files (v1), JSON lists of such objects,
and JSONL files of them, one per line (v2). Multi-needle records may carry ``needles``
(a list) and ``insertion_percentages``.

Every original record is kept whole in the row's ``extra["gkamradt"]`` (without a
saved ``context``, which can be megabytes), so nothing is lost in the conversion.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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

GKAMRADT_SCORE_SCALE = 10.0
"""Their evaluator scores 1..10; niah scores are 0..1."""
SOURCE = "gkamradt/LLMTest_NeedleInAHaystack"


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


def _records_in_file(path: Path, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if path.suffix == ".jsonl":
        items: list[tuple[str, Any]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((f"{name}:{number}", json.loads(line)))
                except ValueError:
                    raise UserError(f"{path} line {number}: not valid JSON") from None
    else:
        try:
            data = json.loads(text)
        except ValueError:
            raise UserError(f"{path}: not valid JSON") from None
        if isinstance(data, list):
            items = [(f"{name}[{k}]", x) for k, x in enumerate(data)]
        else:
            items = [(name, data)]
    for source, item in items:
        if not isinstance(item, dict):
            raise UserError(f"{source}: expected a JSON object per result")
        yield source, item


def read_gkamradt(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """Every (source name, raw record) under ``path`` (a file or a folder searched deeply)."""
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
    records = [rec for file, name in files for rec in _records_in_file(file, name)]
    if not records:
        raise UserError(f"{root}: no .json or .jsonl result files found")
    return records


def _parse(source: str, raw: dict[str, Any]) -> GkamradtRecord:
    try:
        return GkamradtRecord.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "record"
        raise UserError(f"{source}: {where}: {err['msg']}") from None


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


def gkamradt_rows(
    records: list[tuple[str, dict[str, Any]]],
    provider: str = "gkamradt",
    experiment: str = "gkamradt-import",
) -> list[ResultRow]:
    """Convert raw gkamradt records into niah result rows.

    The model id becomes ``provider/model``. Tests of the same model, length and
    depth become repeats 0, 1, ... ordered by their ``version`` then source name.
    Token counts were not stored by gkamradt: they are set to ``context_length`` and
    needle offsets are estimated from the depth (``extra["estimated"]`` says so).
    """
    parsed = [(source, raw, _parse(source, raw)) for source, raw in records]
    groups: dict[tuple[str, int, float], list[tuple[str, dict[str, Any], GkamradtRecord]]]
    groups = defaultdict(list)
    for item in parsed:
        rec = item[2]
        model = f"{provider}/{rec.model}"
        groups[(model, rec.context_length, rec.depth_percent)].append(item)
    rows: list[ResultRow] = []
    for (model, length, depth), items in groups.items():
        items.sort(key=lambda it: (it[2].version, it[0]))
        for repeat, (source, raw, rec) in enumerate(items):
            kept = {k: v for k, v in raw.items() if k != "context"}
            scored = rec.score is not None
            rows.append(
                ResultRow(
                    trial_id=_trial_id(model, length, depth, repeat),
                    experiment=experiment,
                    model=model,
                    context_length=length,
                    context_tokens=length,
                    prompt_tokens=length,
                    requested_depth=depth,
                    actual_depth=depth,
                    repeat=repeat,
                    needles=_needles(rec),
                    response=rec.model_response,
                    score=(min(max(rec.score / GKAMRADT_SCORE_SCALE, 0.0), 1.0)
                           if rec.score is not None else None),
                    error=None if scored else ErrorInfo(
                        kind="missing_score", message="the imported record has no score"
                    ),
                    latency_s=rec.test_duration_seconds,
                    seed=0,
                    prompt_sha256="",
                    niah_version=__version__,
                    timestamp=_timestamp(rec.test_timestamp_utc),
                    extra={"source": SOURCE, "source_file": source, "estimated": True,
                           "gkamradt": kept},
                )
            )
    return rows


def import_gkamradt(
    path: str | Path, out_dir: str | Path, provider: str = "gkamradt",
    experiment: str = "gkamradt-import",
) -> tuple[Path, int]:
    """Write ``results.jsonl`` and ``manifest.json`` for gkamradt results into ``out_dir``.

    Refuses to write over an existing ``results.jsonl``: results are never rewritten.
    Returns the results path and the number of rows.
    """
    out = Path(out_dir)
    target = out / RESULTS_FILE
    if target.exists():
        raise UserError(f"{target}: already exists; import into a new directory")
    records = read_gkamradt(path)
    rows = gkamradt_rows(records, provider=provider, experiment=experiment)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the directory ({exc.strerror})") from None
    manifest = Manifest(
        niah_version=__version__, experiment=experiment,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        config={"name": experiment, "description": f"imported from {SOURCE} results"},
        imported_from={"format": "gkamradt", "path": str(path), "records": len(rows)},
    )
    write_text(out / MANIFEST_FILE, manifest_text(manifest))
    write_text(target, rows_text(rows))
    return target, len(rows)
