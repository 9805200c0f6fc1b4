"""Bad input, table-driven: each case exits 2 with one line naming the field or file,
prints no traceback, and writes nothing (issue 5, "Bad input").

Every case runs the real CLI in-process in an empty working folder holding only an empty
``out/``; afterwards both must still be empty (no results/, no prompt file, no temp file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.errors import ConfigError

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


def base(**top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "bad", "model": "scripted/perfect", "needles": [NEEDLE],
        "grid": {"context_lengths": [200], "depth_percents": [50]},
    }
    data.update(top)
    return data


def grid(**changes: Any) -> dict[str, Any]:
    return base(grid={"context_lengths": [200], "depth_percents": [50], **changes})


def files_haystack(**files: bytes) -> Callable[[Path], None]:
    """A setup writing ``corpus/NAME`` next to the config (``__`` in a name is a dot)."""

    def setup(cfg_dir: Path) -> None:
        folder = cfg_dir / "corpus"
        folder.mkdir()
        for name, data in files.items():
            (folder / name.replace("__", ".")).write_bytes(data)

    return setup


def broken_tokenizer(cfg_dir: Path) -> None:
    (cfg_dir / "tok.json").write_text('{"model": \n {"type": "BPE"')


@dataclass
class Case:
    id: str
    expect: str
    """Must appear in the one error line: the field, option or file at fault."""
    config: dict[str, Any] | str | bytes | None = None
    """A dict (dumped as YAML), raw YAML text or bytes, or None for no config file."""
    args: list[str] = field(default_factory=list)
    command: str = "plan"
    setup: Callable[[Path], None] | None = None
    env: dict[str, str | None] = field(default_factory=dict)


FILES = {"kind": "files", "path": "corpus"}
TEXT = b"A plain text. It has sentences of its own.\n"

CASES = [
    # unknown keys, anywhere
    Case("unknown-top-key", "colour: unknown key; expected one of: name,", base(colour="red")),
    Case("misspelt-top-key", "needle: unknown key; did you mean 'needles'?",
         {k: v for k, v in base(needle=[NEEDLE]).items() if k != "needles"}),
    Case("unknown-grid-key", "grid.depth: unknown key; did you mean 'depth_percents'?",
         grid(depth=[50])),
    Case("unknown-needle-key", "needles[0].vaule: unknown key; did you mean 'value'?",
         base(needles=[{**NEEDLE, "vaule": 3}])),
    Case("unknown-value-key", "needles[0].value.digit: unknown key",
         base(needles=[{**NEEDLE, "value": {"digit": 3}}])),
    Case("unknown-model-key", "model[0].idd: unknown key", base(model={"id": "scripted/x",
                                                                        "idd": 1})),
    Case("unknown-run-key", "run.max_token: unknown key", base(run={"max_token": 3})),
    Case("unknown-range-key", "grid.depth_percents.step: unknown key",
         grid(depth_percents={"min": 0, "max": 100, "num": 3, "step": 5})),
    Case("base-dir-key", "base_dir: unknown key", base(base_dir="/")),
    # wrong types
    Case("repeats-not-int", "grid.repeats:", grid(repeats="many")),
    Case("lengths-a-string", "grid.context_lengths:", grid(context_lengths="big")),
    Case("needles-a-string", "needles:", base(needles="find the number")),
    Case("temperature-a-word", "run.temperature:", base(run={"temperature": "hot"})),
    Case("prompt-cache-a-word", "run.prompt_cache:", base(run={"prompt_cache": "yes please"})),
    Case("prompt-cache-on-without-one", "run.prompt_cache: on, but scripted/perfect has no "
         "prompt cache", base(run={"prompt_cache": "on"})),
    Case("prompt-cache-on-old-gemini", "run.prompt_cache: on, but gemini/gemini-2.0-flash",
         base(model="gemini/gemini-2.0-flash", run={"prompt_cache": "on"})),
    Case("model-a-number", "model", base(model=42)),
    # out-of-range values
    Case("depth-150", "grid.depth_percents: depth 150", grid(depth_percents=[0, 150])),
    Case("depth-range-negative", "grid.depth_percents:",
         grid(depth_percents={"min": -10, "max": 100, "num": 3})),
    Case("negative-length", "grid.context_lengths:", grid(context_lengths=[1000, -5])),
    Case("empty-lengths", "grid.context_lengths:", grid(context_lengths=[])),
    Case("range-max-below-min", "grid.context_lengths: max must be >= min",
         grid(context_lengths={"min": 2000, "max": 1000, "num": 3})),
    Case("digits-31", "needles[0].value.digits:", base(needles=[{**NEEDLE,
                                                                 "value": {"digits": 31}}])),
    Case("bad-name", "name:", base(name="my experiment")),
    Case("template-no-context", "prompt.template:", base(prompt={"template": "{question}"})),
    # sizes nobody means
    Case("length-10e12", "grid.context_lengths:", grid(context_lengths=[10**12])),
    Case("repeats-10e9", "grid.repeats:", grid(repeats=10**9)),
    Case("billion-trials", "grid:", grid(
        context_lengths={"min": 1000, "max": 1_000_000, "num": 1000},
        depth_percents={"min": 0, "max": 100, "num": 1000}, repeats=1000)),
    Case("count-huge", "needles[0].count:", base(needles=[{**NEEDLE, "count": 10**6}])),
    # lengths the model or the needles cannot hold
    Case("beyond-context-window", "grid.context_lengths: 2000 does not fit scripted/x",
         base(model={"id": "scripted/x", "context_window": 1000},
              grid={"context_lengths": [500, 2000], "depth_percents": [50]})),
    Case("beyond-context-window-build", "grid.context_lengths: 2000 does not fit",
         base(model={"id": "scripted/x", "context_window": 1000},
              grid={"context_lengths": [2000], "depth_percents": [50]}),
         command="build"),
    Case("needle-longer-than-context", "grid.context_lengths: 40 tokens cannot hold",
         base(needles=[{**NEEDLE, "text": "The number is {value}. " + "Words go on. " * 40}],
              grid={"context_lengths": [40], "depth_percents": [50]})),
    # haystack folders and files
    Case("files-without-path", "haystack:", base(haystack={"kind": "files"})),
    Case("missing-haystack-folder", "haystack.path: folder not found", base(haystack=FILES)),
    Case("empty-haystack-folder", "haystack.path: no .txt or .md files",
         base(haystack=FILES), setup=files_haystack()),
    Case("haystack-only-readme", "haystack.path: no .txt or .md files",
         base(haystack=FILES), setup=files_haystack(README__md=TEXT)),
    Case("binary-haystack-file", "b.txt is a binary file", base(haystack=FILES),
         setup=files_haystack(a__txt=TEXT, b__txt=b"\x7fELF\x02\x01\x00\x00" * 64)),
    Case("non-utf8-haystack-file", "a.md is not UTF-8", base(haystack=FILES),
         setup=files_haystack(a__md="Caf\u00e9 cr\u00e8me.\n".encode("latin-1"))),
    Case("fixed-answer-in-haystack", "needles[0].answer:",
         base(needles=[{"text": "Meet me at the harbour.", "answer": "harbour"}],
              haystack=FILES), setup=files_haystack(a__txt=b"The harbour was quiet today.\n")),
    Case("empty-noise-filler", "haystack.filler:", base(haystack={"kind": "noise",
                                                                 "filler": "  "})),
    # models, providers and keys
    Case("unknown-provider", "model[0].id: unknown provider 'nosuch'", base(model="nosuch/x")),
    Case("unknown-provider-by-option", "model[1].id: unknown provider 'gpt'", base(),
         args=["--model", "scripted/a", "--model", "gpt/4"]),
    Case("model-without-provider", "model[0].id: expected provider/model", base(model="gpt4")),
    Case("duplicate-model-ids", "model: 'scripted/a' is listed twice",
         base(model=["scripted/a", "scripted/a"])),
    Case("duplicate-model-options", "model: 'scripted/a' is listed twice", base(),
         args=["--model", "scripted/a", "--model", "scripted/a"]),
    Case("missing-api-key", "OPENAI_API_KEY", base(model="openai/gpt-4o-mini",
                                                   tokenizer="tiktoken:cl100k_base"),
         command="run", args=["--out", "out/run"], env={"OPENAI_API_KEY": None}),
    Case("unknown-tokenizer", "tokenizer: unknown tokenizer", base(tokenizer="spm:x.model")),
    Case("missing-tokenizer-file", "tokenizer: file not found",
         base(tokenizer="hf:missing/tokenizer.json")),
    Case("broken-tokenizer-file", "tokenizer: ", base(tokenizer="hf:tok.json"),
         setup=broken_tokenizer),
    # the YAML itself
    Case("invalid-yaml", "exp.yaml: line 2: expected ',' or ']'", "name: [unclosed\n"),
    Case("tab-indented-yaml", "exp.yaml: line", "name: bad\n\tgrid: {}\n"),
    Case("python-tag", "exp.yaml: line 1: could not determine a constructor",
         "!!python/object/apply:os.system ['touch PWNED']\n"),
    Case("python-tag-nested", "exp.yaml", "name: bad\nseed: !!python/object/apply:os.getpid []\n"),
    Case("yaml-list", "exp.yaml: must be a YAML mapping", "- name: bad\n"),
    Case("empty-yaml", "exp.yaml: must be a YAML mapping", ""),
    Case("non-utf8-yaml", "exp.yaml: is not UTF-8 (byte 9)", "name: caf\u00e9\n".encode("latin-1")),
    Case("missing-config", "nope.yaml: file not found", None),
    # overrides and options
    Case("set-bad-path", "--set grid.nope: unknown key; expected one of: context_lengths,",
         base(), args=["--set", "grid.nope=3"]),
    Case("set-misspelt-path", "--set grid.repeat: unknown key; did you mean 'repeats'?", base(),
         args=["--set", "grid.repeat=3"]),
    Case("set-empty-part", "grid..repeats: override path has an empty part", base(),
         args=["--set", "grid..repeats=3"]),
    Case("set-no-equals", "--set: expected KEY=VALUE", base(), args=["--set", "grid.repeats"]),
    Case("set-bad-yaml", "--set grid.repeats: value is not valid YAML", base(),
         args=["--set", "grid.repeats=[3"]),
    Case("set-python-tag", "--set seed:", base(),
         args=["--set", "seed=!!python/object/apply:os.getpid []"]),
    Case("set-through-scalar", "grid.repeats.x: repeats is not a mapping", grid(repeats=2),
         args=["--set", "grid.repeats.x=1"]),
    Case("set-wrong-type", "grid.repeats:", base(), args=["--set", "grid.repeats=lots"]),
    Case("lengths-abc", "--lengths: expected a token count like 4000, 4K, 1.5K, 1M or 32Ki",
         base(), args=["--lengths", "1K,abc"]),
    Case("lengths-fraction", "--lengths: '1.0005K' is 1000.5 tokens, not a whole number",
         base(), args=["--lengths", "1.0005K"]),
    Case("lengths-in-yaml", "grid.context_lengths[1]: expected a token count like",
         grid(context_lengths=["1K", "1KB"])),
    Case("lengths-empty", "--lengths: no values given", base(), args=["--lengths", ","]),
    Case("lengths-negative", "--lengths: expected a token count", base(),
         args=["--lengths", "1000,-1"]),
    Case("lengths-too-short", "grid.context_lengths: context length 10 is below", base(),
         args=["--lengths", "10"]),
    Case("depths-abc", "--depths: expected comma-separated numbers", base(),
         args=["--depths", "50,abc"]),
    Case("depths-150", "grid.depth_percents: depth 150", base(), args=["--depths", "150"]),
    Case("unknown-option", "unrecognized arguments: --bogus", base(), args=["--bogus"]),
    Case("build-without-out", "--out", base(), command="build"),
    Case("build-out-missing-folder", "--out: folder", base(), command="build",
         args=["--out", "out/missing/p.jsonl"]),
    Case("build-out-is-a-folder", "--out: ", base(), command="build", args=["--out", "out"]),
]


def test_the_table_is_large_and_distinct() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse rejects unknown or missing options itself
        return int(exc.code or 0)


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg_dir, work = tmp_path / "cfg", tmp_path / "work"
    cfg_dir.mkdir()
    (work / "out").mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv("NIAH_DEBUG", raising=False)
    for name, value in case.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    path = cfg_dir / ("nope.yaml" if case.config is None else "exp.yaml")
    if isinstance(case.config, dict):
        path.write_text(yaml.safe_dump(case.config))
    elif isinstance(case.config, str):
        path.write_text(case.config, encoding="utf-8")
    elif isinstance(case.config, bytes):
        path.write_bytes(case.config)
    if case.setup is not None:
        case.setup(cfg_dir)
    args = list(case.args)
    if case.command == "build" and "--out" not in args and case.id != "build-without-out":
        args += ["--out", "out/prompts.jsonl"]
    before = tree(cfg_dir)

    code = run_cli([case.command, str(path), *args])
    out, err = capsys.readouterr()

    assert code == 2, err
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    assert lines[0].startswith("niah: error: ")
    assert case.expect in lines[0]
    assert out == ""
    assert tree(work) == ["out"], "bad input wrote files"
    assert tree(cfg_dir) == before


def test_debug_variable_shows_the_traceback(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(json.dumps(base(colour="red")))  # JSON is YAML too
    monkeypatch.setenv("NIAH_DEBUG", "1")
    with pytest.raises(ConfigError, match="colour: unknown key"):
        main(["plan", str(path)])


def test_a_real_process_prints_one_line_too(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(grid(depth_percents=[150])))
    env = {k: v for k, v in os.environ.items() if k != "NIAH_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "niah", "plan", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "niah: error: grid.depth_percents: depth 150.0 is outside 0..100\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]
