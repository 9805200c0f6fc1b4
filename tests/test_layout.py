"""``niah.layout``: results/<name>/<time>/, the ``latest`` link, no run inside a run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from niah.config import Experiment, load_experiment
from niah.errors import UserError
from niah.layout import LATEST, find_run, resolve_run_dir
from niah.results import MANIFEST_FILE, RESULTS_FILE
from niah.store import RunStore

MODELS = [{"id": "scripted/a", "backend": {"id": "scripted/a"}, "tokenizer": "tiktoken:x"}]


def experiment(**changes: Any) -> Experiment:
    data: dict[str, Any] = {
        "name": "store-test",
        "model": "scripted/a",
        "needles": [{"text": "The special magic number is {value}.", "question": "What?"}],
        "grid": {"context_lengths": [100], "depth_percents": [50]},
    }
    data.update(changes)
    return load_experiment(data)


def test_resolve_run_dir_resumes_the_latest_matching_run(tmp_path: Path) -> None:
    exp = experiment()
    explicit = resolve_run_dir(exp, tmp_path / "mine", fresh=False, root=tmp_path)
    assert explicit == tmp_path / "mine"
    first = resolve_run_dir(exp, None, fresh=False, root=tmp_path)
    assert first.parent == tmp_path / "store-test" and first.name.endswith("Z")
    RunStore.open(first, exp, MODELS).close()
    assert resolve_run_dir(exp, None, fresh=False, root=tmp_path) == first
    fresh = resolve_run_dir(exp, None, fresh=True, root=tmp_path)
    assert fresh != first and fresh.parent == first.parent
    other = resolve_run_dir(experiment(seed=9), None, fresh=False, root=tmp_path)
    assert other != first


def test_each_run_moves_the_latest_pointer(tmp_path: Path) -> None:
    exp = experiment()
    first = resolve_run_dir(exp, None, fresh=False, root=tmp_path)
    RunStore.open(first, exp, MODELS).close()
    folder = first.parent
    assert (folder / LATEST).is_symlink() and (folder / LATEST).resolve() == first.resolve()
    assert os.readlink(folder / LATEST) == first.name  # relative: the folder can move
    second = resolve_run_dir(exp, None, fresh=True, root=tmp_path)
    RunStore.open(second, exp, MODELS).close()
    assert (folder / LATEST).resolve() == second.resolve()
    # the pointer is no run of its own: resuming picks the newest real run
    assert resolve_run_dir(exp, None, fresh=False, root=tmp_path) == second
    assert sorted(p.name for p in folder.iterdir()) == sorted([first.name, second.name, LATEST])


def test_an_explicit_out_gets_no_pointer_beside_it(tmp_path: Path) -> None:
    RunStore.open(tmp_path / "mine", experiment(), MODELS).close()
    assert not (tmp_path / LATEST).exists()


def test_a_run_made_with_out_at_the_default_place_is_resumed_not_nested(tmp_path: Path) -> None:
    """The old README ran ``--out results/quickstart``; a plain run afterwards used to
    nest ``results/quickstart/<time>/`` inside that run."""
    exp = experiment()
    legacy = tmp_path / "store-test"
    RunStore.open(legacy, exp, MODELS).close()
    assert resolve_run_dir(exp, None, fresh=False, root=tmp_path) == legacy
    with pytest.raises(UserError, match=r"store-test: is itself a run \(made with --out\), and "
                                        r"a new run cannot go inside a run; pass --out DIR"):
        resolve_run_dir(exp, None, fresh=True, root=tmp_path)
    with pytest.raises(UserError, match="of another version of this experiment"):
        resolve_run_dir(experiment(seed=9), None, fresh=False, root=tmp_path)
    assert sorted(p.name for p in legacy.iterdir()) == [MANIFEST_FILE, RESULTS_FILE]


def test_out_never_goes_inside_a_run_or_over_runs(tmp_path: Path) -> None:
    exp = experiment()
    run = resolve_run_dir(exp, None, fresh=False, root=tmp_path)
    RunStore.open(run, exp, MODELS).close()
    with pytest.raises(UserError, match=r"^--out .*/nested: is inside the run directory "):
        resolve_run_dir(exp, run / "deeper" / "nested", fresh=False, root=tmp_path)
    with pytest.raises(UserError, match=rf"^--out .*store-test: holds runs \({run.name} is "):
        resolve_run_dir(exp, run.parent, fresh=False, root=tmp_path)
    assert resolve_run_dir(exp, run, fresh=False, root=tmp_path) == run  # resume it by name


def test_find_run_resolves_an_experiment_folder_to_its_newest_run(tmp_path: Path) -> None:
    exp = experiment()
    older = tmp_path / "store-test" / "20250101T000000Z"
    newer = tmp_path / "store-test" / "20250101T000000Z-1"
    for run in (newer, older):  # opened out of order: the name, not the time, decides
        RunStore.open(run, exp, MODELS).close()
    assert find_run(tmp_path / "store-test") == newer
    assert (tmp_path / "store-test" / LATEST).resolve() == newer.resolve()  # they agree
    assert find_run(older) == older
    assert find_run(tmp_path / "nothing") == tmp_path / "nothing"  # the reader says why
