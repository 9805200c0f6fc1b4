"""The experiment config: bounds, one-line error paths, model forms, ranges, YAML, overrides."""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from niah.cli.main import make_parser
from niah.config import (
    MAX_CONTEXT_LENGTH,
    Experiment,
    RangeSpec,
    apply_override,
    load_experiment,
    parse_override,
)
from niah.errors import ConfigError

NEEDLE = {"text": "The special magic number is {value}.", "question": "What is the number?"}
BASE: dict[str, Any] = {"name": "t", "model": "scripted/perfect", "needles": [NEEDLE]}


def cfg(**changes: Any) -> dict[str, Any]:
    """BASE with ``changes`` set at paths like ``needles[0].value.digits``."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        put(data, path, value)
    return data


def put(data: dict[str, Any], path: str, value: Any) -> None:
    keys: list[str | int] = [
        int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)
    ]
    node: Any = data
    for key in keys[:-1]:
        if isinstance(key, str) and key not in node:
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value


def error_of(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_experiment(data)
    err = info.value
    text = str(err)
    assert "\n" not in text
    assert text == f"{err.path}: {err.message}"
    return err


# -- the defaults ---------------------------------------------------------------------


def test_minimal_config_gets_documented_defaults() -> None:
    exp = load_experiment(cfg())
    assert [m.id for m in exp.model] == ["scripted/perfect"]
    assert exp.tokenizer == "auto"
    assert exp.haystack.kind == "generated" and exp.haystack.seed == 0
    assert exp.grid.lengths() == [1000, 2000, 4000]
    assert exp.grid.depths() == [0, 25, 50, 75, 100]
    assert exp.grid.repeats == 1 and not exp.grid.length_includes_prompt
    # a {value} needle without a value spec gets a 7-digit random number
    assert exp.needles[0].value is not None
    assert exp.needles[0].value.kind == "random_number" and exp.needles[0].value.digits == 7
    assert exp.total_needles == 1
    assert exp.base_dir == "."
    assert exp.run.temperature == "auto"  # 0 where the model takes one, else none


@pytest.mark.parametrize(("given", "kept"), [("auto", "auto"), (None, None), (0, 0.0),
                                             (1, 1.0), (0.7, 0.7)])
def test_temperature_forms(given: Any, kept: Any) -> None:
    assert load_experiment(cfg(**{"run.temperature": given})).run.temperature == kept


@pytest.mark.parametrize("bad", ["hot", "AUTO", True, 2.5, -1, [0]])
def test_a_bad_temperature_is_one_message(bad: Any) -> None:
    err = error_of(cfg(**{"run.temperature": bad}))
    assert err.path == "run.temperature"
    assert err.message == f"expected a number from 0 to 2, auto or null, got {bad!r}"


def test_total_needles_counts_counts() -> None:
    exp = load_experiment(cfg(needles=[NEEDLE, {**NEEDLE, "count": 4}]))
    assert exp.total_needles == 5


def test_a_single_needle_mapping_is_a_list_of_one() -> None:
    assert len(load_experiment(cfg(needles=NEEDLE)).needles) == 1


# -- unknown keys anywhere -------------------------------------------------------------

UNKNOWN_KEYS = [
    ("colour", "red", "colour", "expected one of: name, description, model, tokenizer, "
     "haystack, needles, grid, prompt, scoring, task, run, pricing, seed"),
    ("grid.depth", [50], "grid.depth", "did you mean 'depth_percents'?"),
    ("haystack.folder", "x", "haystack.folder", "expected one of: kind, seed, path, filler"),
    ("needles[0].vaule", 3, "needles[0].vaule", "did you mean 'value'?"),
    ("needles[0].value", {"kind": "random_number", "digit": 3}, "needles[0].value.digit",
     "did you mean 'digits'?"),
    ("model", {"id": "scripted/x", "idd": 1}, "model[0].idd", "did you mean 'id'?"),
    ("model", ["scripted/a", {"id": "scripted/b", "nope": 1}], "model[1].nope",
     "expected one of: id, base_url, api_key_env, options, context_window, endpoints, rag"),
    ("prompt.templat", "x", "prompt.templat", "did you mean 'template'?"),
    ("scoring.kindd", "x", "scoring.kindd", "did you mean 'kind'?"),
    ("run.max_token", 3, "run.max_token", "did you mean 'max_tokens'?"),
    ("pricing", {"scripted/perfect": {"input": 1, "output": 2, "cached": 1}},
     "pricing.scripted/perfect.cached", "did you mean 'cached_input'?"),
    ("pricing", {"scripted/perfect": {"input": 1, "output": 2, "cache_writes": 1}},
     "pricing.scripted/perfect.cache_writes", "did you mean 'cache_write'?"),
    ("grid.context_lengths", {"min": 100, "max": 200, "num": 2, "step": 1},
     "grid.context_lengths.step", "expected one of: min, max, num, spacing"),
    ("grid.context_lengths", {"min": "1K", "max": "2K", "num": 2, "spacin": "log"},
     "grid.context_lengths.spacin", "did you mean 'spacing'?"),
]


@pytest.mark.parametrize(("where", "value", "path", "hint"), UNKNOWN_KEYS)
def test_unknown_keys_are_errors_naming_their_path(
    where: str, value: Any, path: str, hint: str
) -> None:
    """The hint comes from the fields of the model the key was found in."""
    err = error_of(cfg(**{where: value}))
    assert str(err) == f"{path}: unknown key; {hint}"


@pytest.mark.parametrize(("dotted", "meant"), [
    ("needle", "needles"), ("grid.repeat", "repeats"), ("grid.depths", "depth_percents"),
    ("grid.lenghts", "context_lengths"), ("run.temprature", "temperature"),
    ("run.timeout", "timeout_s"), ("model.url", "base_url"), ("tokeniser", "tokenizer"),
    ("pricing.openai/gpt-4o.inpt", "input"), ("needles.anwser", "answer"),
])
def test_set_paths_are_checked_before_loading(dotted: str, meant: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_override(f"{dotted}=1")
    assert str(info.value) == f"--set {dotted}: unknown key; did you mean {meant!r}?"


@pytest.mark.parametrize("dotted", [
    "grid.repeats", "pricing.openai/gpt-4o.input", "model.options.n_threads",
    "grid.context_lengths.min", "run.cache",
])
def test_good_set_paths_pass(dotted: str) -> None:
    assert parse_override(f"{dotted}=1") == (dotted, 1)


def test_base_dir_cannot_be_set() -> None:
    with pytest.raises(ConfigError, match=r"^--set base_dir: unknown key; expected one of: name,"):
        parse_override("base_dir=/")


def test_a_misspelt_key_beats_the_missing_field_it_stands_for() -> None:
    data = cfg()
    data["needle"] = data.pop("needles")
    assert str(error_of(data)) == "needle: unknown key; did you mean 'needles'?"


def test_unknown_keys_of_other_models_get_hints_from_their_own_fields() -> None:
    from pydantic import ValidationError

    from niah.config import ScoringSpec, config_error

    with pytest.raises(ValidationError) as info:
        ScoringSpec.model_validate({"kind": "regex", "patern": "x"})
    err = config_error(info.value, prefix="scoring.")
    assert str(err) == "scoring.patern: unknown key; did you mean 'pattern'?"


# -- token counts: 128K in YAML, --lengths and --split-at read alike (niah.fmt) --------

def test_lengths_take_token_counts_with_suffixes(tmp_path: Path) -> None:
    text = yaml.safe_dump(cfg()) + "grid: {context_lengths: [1K, 1.5K, 32Ki, 128k, 1M, 4096]}\n"
    exp = load_experiment(write(tmp_path, text))
    assert exp.grid.lengths() == [1000, 1500, 4096, 32768, 128_000, 1_000_000]


def test_length_ranges_take_token_counts() -> None:
    exp = load_experiment(cfg(**{"grid.context_lengths": {"min": "1K", "max": "128K",
                                                          "num": 3, "spacing": "log"}}))
    assert exp.grid.lengths()[0] == 1000 and exp.grid.lengths()[-1] == 128_000


@pytest.mark.parametrize(("lengths", "path"), [
    (["1K", "lots"], "grid.context_lengths[1]"),
    ({"min": "1K", "max": "1.0005K", "num": 2}, "grid.context_lengths.max"),
])
def test_a_bad_token_count_names_its_item(lengths: Any, path: str) -> None:
    err = error_of(cfg(**{"grid.context_lengths": lengths}))
    assert err.path == path
    assert "token count like 4000, 4K" in err.message or "not a whole number" in err.message


def test_depths_are_not_token_counts() -> None:
    err = error_of(cfg(**{"grid.depth_percents": {"min": 0, "max": "1K", "num": 2}}))
    assert err.path == "grid.depth_percents.max"


def test_base_dir_is_not_a_config_key(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(cfg(base_dir="/")))
    with pytest.raises(ConfigError, match=r"^base_dir: unknown key$"):
        load_experiment(path)


# -- every bound: the value just inside passes, the one just outside fails -------------

BOUNDS: list[tuple[str, Any, Any, str]] = [
    # (path, accepted, rejected, error path)
    ("name", "a" * 100, "a" * 101, "name"),
    ("name", "run_1.b-c", "bad name", "name"),
    ("model", {"id": "scripted/x", "context_window": 1}, {"id": "scripted/x", "context_window": 0},
     "model[0].context_window"),
    ("model", {"id": "openai/x", "api_key_env": "MY_KEY"}, {"id": "openai/x", "api_key_env": "1X"},
     "model[0].api_key_env"),
    ("haystack.kind", "noise", "pdf", "haystack.kind"),
    ("haystack", {"kind": "files", "path": "x"}, {"kind": "files"}, "haystack"),
    ("needles[0].text", "{value}", "", "needles[0].text"),
    ("needles[0].value", {"digits": 1}, {"digits": 0}, "needles[0].value.digits"),
    ("needles[0].value", {"digits": 30}, {"digits": 31}, "needles[0].value.digits"),
    ("needles[0].value", {"kind": "uuid"}, {"kind": "random_numbr"}, "needles[0].value.kind"),
    ("needles[0].value", {"kind": "fixed", "value": "x"}, {"kind": "fixed"}, "needles[0].value"),
    ("needles[0].count", 10_000, 10_001, "needles[0].count"),
    ("needles[0].count", 1, 0, "needles[0].count"),
    ("needles[0].depth_percent", 100, 100.5, "needles[0].depth_percent"),
    ("needles[0].depth_percent", 0, -0.5, "needles[0].depth_percent"),
    ("grid.context_lengths", [16], [15], "grid.context_lengths"),
    ("grid.context_lengths", [MAX_CONTEXT_LENGTH], [MAX_CONTEXT_LENGTH + 1],
     "grid.context_lengths"),
    ("grid.context_lengths", [1000], [], "grid.context_lengths"),
    ("grid.context_lengths", [1000], [-5], "grid.context_lengths"),
    ("grid.context_lengths", [1000], "big", "grid.context_lengths"),
    ("grid.context_lengths", {"min": 100, "max": 100, "num": 1},
     {"min": 200, "max": 100, "num": 2}, "grid.context_lengths"),
    ("grid.context_lengths", {"min": 16, "max": 100, "num": 2, "spacing": "log"},
     {"min": 0, "max": 100, "num": 2, "spacing": "log"}, "grid.context_lengths"),
    ("grid.context_lengths", {"min": 100, "max": 2000, "num": 1000},
     {"min": 100, "max": 2000, "num": 1001}, "grid.context_lengths.num"),
    ("grid.context_lengths", {"min": 100, "max": 2000, "num": 2},
     {"min": 100, "max": 2000, "num": 2, "spacing": "cubic"}, "grid.context_lengths.spacing"),
    ("grid.depth_percents", [0, 100], [150], "grid.depth_percents"),
    ("grid.depth_percents", [0], [-1], "grid.depth_percents"),
    ("grid.depth_percents", [50], [], "grid.depth_percents"),
    ("grid.depth_percents", {"min": 0, "max": 100, "num": 3},
     {"min": 0, "max": 101, "num": 3}, "grid.depth_percents"),
    ("grid.depth_percents", {"min": 0, "max": 100, "num": 1},
     {"min": 0, "max": 100, "num": 0}, "grid.depth_percents.num"),
    ("grid.repeats", 1000, 1001, "grid.repeats"),
    ("grid.repeats", 1, 0, "grid.repeats"),
    ("grid.repeats", 2, "many", "grid.repeats"),
    ("tokenizer", "tiktoken:cl100k_base", "sentencepiece:x", "tokenizer"),
    ("prompt.template", "{context} {question}", "{context} only", "prompt.template"),
    ("prompt.template", "{question} {context}", "{question} only", "prompt.template"),
    ("scoring.kind", "regex", "fuzzy", "scoring.kind"),
    ("run.max_tokens", 1, 0, "run.max_tokens"),
    ("run.max_tokens", 100_000, 100_001, "run.max_tokens"),
    ("run.temperature", 2, 2.01, "run.temperature"),
    ("run.temperature", 0, -0.1, "run.temperature"),
    ("run.concurrency", 1024, 1025, "run.concurrency"),
    ("run.concurrency", 1, 0, "run.concurrency"),
    ("run.requests_per_minute", 0.5, 0, "run.requests_per_minute"),
    ("run.tokens_per_minute", 1, 0, "run.tokens_per_minute"),
    ("run.max_retries", 100, 101, "run.max_retries"),
    ("run.max_retries", 0, -1, "run.max_retries"),
    ("run.timeout_s", 0.1, 0, "run.timeout_s"),
    ("run.max_error_rate", 1, 1.5, "run.max_error_rate"),
    ("run.max_error_rate", 0, -0.5, "run.max_error_rate"),
    ("run.min_trials_before_abort", 1, 0, "run.min_trials_before_abort"),
    ("pricing", {"a/b": {"input": 0, "output": 0}}, {"a/b": {"input": -1, "output": 0}},
     "pricing.a/b.input"),
    ("pricing", {"a/b": {"input": 0, "output": 0, "cached_input": 0}},
     {"a/b": {"input": 0, "output": 0, "cached_input": -1}}, "pricing.a/b.cached_input"),
]


@pytest.mark.parametrize(("path", "good", "bad", "error_path"), BOUNDS)
def test_bounds(path: str, good: Any, bad: Any, error_path: str) -> None:
    load_experiment(cfg(**{path: good}))
    assert error_of(cfg(**{path: bad})).path == error_path


def test_grid_of_absurd_size_is_refused() -> None:
    err = error_of(cfg(**{
        "grid.context_lengths": {"min": 1000, "max": 1_000_000, "num": 1000},
        "grid.depth_percents": {"min": 0, "max": 100, "num": 1000},
        "grid.repeats": 1000,
    }))
    assert err.path == "grid" and "trials" in err.message


def test_needle_rules() -> None:
    no_answer = error_of(cfg(needles=[{"text": "The cat is black."}]))
    assert no_answer.path == "needles[0]" and "answer" in no_answer.message
    no_slot = error_of(cfg(needles=[{"text": "Plain.", "value": {"kind": "uuid"}}]))
    assert no_slot.path == "needles[0]" and "{value}" in no_slot.message
    same = error_of(cfg(needles=[{"text": "X {value}.", "count": 2,
                                  "value": {"kind": "fixed", "value": "a"}}]))
    assert same.path == "needles[0]" and "count" in same.message
    second = error_of(cfg(needles=[NEEDLE, {"text": "Y {value}.", "value": {"digits": 99}}]))
    assert second.path == "needles[1].value.digits"
    assert error_of(cfg(needles=[])).path == "needles"
    # a needle without {value} but with an answer is fine (gkamradt's sandwich needle)
    exp = load_experiment(cfg(needles=[{"text": "Eat a sandwich.", "answer": "sandwich"}]))
    assert exp.needles[0].value is None


# -- models -------------------------------------------------------------------------------


def test_model_as_string_mapping_or_list() -> None:
    one = load_experiment(cfg(model="openai/gpt-4o-mini")).model
    assert [(m.provider, m.name) for m in one] == [("openai", "gpt-4o-mini")]
    mapping = load_experiment(cfg(model={"id": "openai-compatible/meta/llama-3",
                                         "base_url": "http://127.0.0.1:1/v1",
                                         "context_window": 8192})).model
    assert len(mapping) == 1
    assert mapping[0].provider == "openai-compatible" and mapping[0].name == "meta/llama-3"
    assert mapping[0].context_window == 8192
    several = load_experiment(cfg(model=["scripted/a", {"id": "scripted/b",
                                                        "options": {"recall": 0.5}}])).model
    assert [m.id for m in several] == ["scripted/a", "scripted/b"]
    assert several[1].options == {"recall": 0.5}


@pytest.mark.parametrize("bad", ["gpt4", "/x", "openai/", "open ai/x", ""])
def test_model_id_names_the_expected_form(bad: str) -> None:
    err = error_of(cfg(model=bad))
    assert err.path == "model[0].id" and "provider/model" in err.message


def test_duplicate_model_ids_are_refused() -> None:
    err = error_of(cfg(model=["scripted/a", "scripted/b", {"id": "scripted/a"}]))
    assert err.path == "model" and "scripted/a" in err.message
    assert error_of(cfg(model=[])).path == "model"


# -- ranges, dedup and order ----------------------------------------------------------------


def test_linear_range() -> None:
    assert RangeSpec(min=0, max=100, num=5).values() == [0, 25, 50, 75, 100]
    assert RangeSpec(min=7, max=9, num=1).values() == [7]


def test_log_range_is_geometric() -> None:
    values = RangeSpec(min=1000, max=128_000, num=8, spacing="log").values()
    assert values[0] == pytest.approx(1000) and values[-1] == pytest.approx(128_000)
    ratios = [b / a for a, b in itertools.pairwise(values)]
    assert all(r == pytest.approx(2.0) for r in ratios)


def test_sigmoid_range_is_denser_near_both_ends() -> None:
    values = RangeSpec(min=0, max=100, num=11, spacing="sigmoid").values()
    assert values[0] == pytest.approx(0, abs=1e-9) and values[-1] == pytest.approx(100)
    gaps = [b - a for a, b in itertools.pairwise(values)]
    assert all(g > 0 for g in gaps)
    middle = gaps[len(gaps) // 2]
    assert gaps[0] < middle / 3 and gaps[-1] < middle / 3
    assert gaps == pytest.approx(gaps[::-1])  # symmetric around 50
    linear = RangeSpec(min=0, max=100, num=11).values()
    assert sum(v < 20 or v > 80 for v in values) > sum(v < 20 or v > 80 for v in linear)


def test_lengths_and_depths_are_deduplicated_and_sorted() -> None:
    exp = load_experiment(cfg(**{
        "grid.context_lengths": [4000, 1000, 2000, 1000],
        "grid.depth_percents": [100, 0, 50, 50.00001, 25],
    }))
    assert exp.grid.lengths() == [1000, 2000, 4000]
    assert exp.grid.depths() == [0, 25, 50, 100]
    # a log range over a narrow span rounds to repeated integers: each kept once
    narrow = load_experiment(cfg(**{
        "grid.context_lengths": {"min": 16, "max": 20, "num": 30, "spacing": "log"},
    }))
    assert narrow.grid.lengths() == [16, 17, 18, 19, 20]
    ranged = load_experiment(cfg(**{
        "grid.context_lengths": {"min": 1000, "max": 8000, "num": 4, "spacing": "log"},
    }))
    assert ranged.grid.lengths() == [1000, 2000, 4000, 8000]
    assert all(isinstance(x, int) for x in ranged.grid.lengths())


# -- tokenizer settings ------------------------------------------------------------------


@pytest.mark.parametrize("form", [
    "auto", "tiktoken:cl100k_base", "tiktoken:o200k_base", "hf:models/tokenizer.json",
    "llamacpp:/models/x.gguf",
])
def test_tokenizer_forms_accepted(form: str) -> None:
    assert load_experiment(cfg(tokenizer=form)).tokenizer == form


@pytest.mark.parametrize("form", ["", "tiktoken", "tiktoken:", "hf:", "spm:x.model", "cl100k_base"])
def test_tokenizer_forms_rejected(form: str) -> None:
    assert error_of(cfg(tokenizer=form)).path == "tokenizer"


# -- YAML files ------------------------------------------------------------------------------


def write(tmp_path: Path, text: str | bytes, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_yaml_file_loads_and_sets_base_dir(tmp_path: Path) -> None:
    sub = tmp_path / "configs"
    sub.mkdir()
    data = cfg(haystack={"kind": "files", "path": "corpus"})
    path = write(sub, yaml.safe_dump(data))
    exp = load_experiment(path)
    assert Path(exp.base_dir) == sub
    assert exp.resolve_path("corpus") == sub / "corpus"
    assert exp.resolve_path(str(tmp_path / "abs")) == tmp_path / "abs"
    assert exp.resolve_path("~/x") == Path.home() / "x"
    # base_dir shapes no prompt and is not written back out
    assert "base_dir" not in exp.model_dump()


def test_dict_source_resolves_against_the_working_folder() -> None:
    exp = load_experiment(cfg())
    assert exp.resolve_path("corpus") == Path(".") / "corpus"


@pytest.mark.parametrize("text", [
    "name: [unclosed\n",
    "name: t\n  model: x\n bad: indent\n",
    "a: b\n\tc: d\n",
])
def test_invalid_yaml_is_one_line_naming_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.path == str(path)
    assert "\n" not in str(info.value) and "line " in str(info.value)


def test_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = write(tmp_path, f"!!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.path == str(path) and "\n" not in str(info.value)
    assert "python/object/apply" in info.value.message
    assert not marker.exists()
    nested = write(tmp_path, "name: !!python/name:os.getcwd ''\n", "n.yaml")
    with pytest.raises(ConfigError, match=re.escape(str(nested))):
        load_experiment(nested)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n", "", "# comment\n"])
def test_yaml_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.path == str(path) and "mapping" in info.value.message


def test_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_experiment(tmp_path / "missing.yaml")
    latin1 = write(tmp_path, "name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_experiment(latin1)
    assert info.value.path == str(latin1) and "not UTF-8 (byte 9)" in info.value.message
    with pytest.raises(ConfigError) as info:
        load_experiment(tmp_path)
    assert info.value.path == str(tmp_path)


# -- overrides ---------------------------------------------------------------------------------


def test_parse_override_reads_values_as_yaml() -> None:
    assert parse_override("grid.repeats=3") == ("grid.repeats", 3)
    assert parse_override("grid.context_lengths=[1000, 2000]") == (
        "grid.context_lengths", [1000, 2000]
    )
    assert parse_override("model=scripted/x") == ("model", "scripted/x")
    assert parse_override("prompt.question=a=b") == ("prompt.question", "a=b")
    assert parse_override("description=") == ("description", "")


@pytest.mark.parametrize(("text", "path"), [
    ("noequals", "--set"),
    ("grid.repeats=[1", "--set grid.repeats"),
    ("seed=!!python/object/apply:os.system ['true']", "--set seed"),
])
def test_parse_override_errors(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_override(text)
    assert info.value.path == path


def test_overrides_are_validated_like_the_file() -> None:
    exp = load_experiment(cfg(), **{"grid.repeats": 3, "run.max_tokens": 10})
    assert exp.grid.repeats == 3 and exp.run.max_tokens == 10
    assert load_experiment(cfg(), **{"haystack.seed": 5}).haystack.seed == 5
    with pytest.raises(ConfigError, match=r"^grid\.repeats: "):
        load_experiment(cfg(), **{"grid.repeats": 0})
    with pytest.raises(ConfigError, match=r"^grid\.nope: unknown key; expected one of: "):
        load_experiment(cfg(), **{"grid.nope": 1})
    with pytest.raises(ConfigError, match=r"^grid\.\.x: "):
        load_experiment(cfg(), **{"grid..x": 1})
    with pytest.raises(ConfigError, match=r"^grid\.repeats\.x: repeats is not a mapping$"):
        load_experiment(cfg(**{"grid.repeats": 2}), **{"grid.repeats.x": 1})


def test_apply_override_creates_mappings() -> None:
    data: dict[str, Any] = {"grid": None}
    apply_override(data, "grid.repeats", 2)
    apply_override(data, "run.cache", False)
    assert data == {"grid": {"repeats": 2}, "run": {"cache": False}}


def experiment_from_argv(argv: list[str]) -> Experiment:
    from niah.cli.common import experiment_from_args

    return experiment_from_args(make_parser().parse_args(argv))


def test_cli_overrides(tmp_path: Path) -> None:
    path = str(write(tmp_path, yaml.safe_dump(cfg())))
    exp = experiment_from_argv([
        "plan", path, "--lengths", "2K,1000,", "--depths", "0,50.5,100",
        "--model", "scripted/a", "--model", "scripted/b", "--set", "grid.repeats=3",
        "--set", "seed=7",
    ])
    assert exp.grid.lengths() == [1000, 2000]
    assert exp.grid.depths() == [0, 50.5, 100]
    assert [m.id for m in exp.model] == ["scripted/a", "scripted/b"]
    assert exp.grid.repeats == 3 and exp.seed == 7
    # the file's own values stay when nothing overrides them
    plain = experiment_from_argv(["plan", path])
    assert plain.grid.lengths() == [1000, 2000, 4000] and plain.seed == 0


@pytest.mark.parametrize(("extra", "path"), [
    (["--lengths", "abc"], "--lengths"),
    (["--lengths", "1000,2q"], "--lengths"),
    (["--lengths", ","], "--lengths"),
    (["--lengths", "1000.5"], "--lengths"),
    (["--depths", "50,abc"], "--depths"),
    (["--depths", "150"], "grid.depth_percents"),
    (["--lengths", "-100"], "--lengths"),
    (["--lengths", "10"], "grid.context_lengths"),
    (["--model", "scripted/a", "--model", "scripted/a"], "model"),
    (["--model", "nosuch/x"], "model[0].id"),
    (["--model", "nomodel"], "model[0].id"),
    (["--set", "grid.repeats=0"], "grid.repeats"),
    (["--set", "model=[{id: scripted/a}, {id: llamacpp/x.gguf, options: {n_threads: 0}}]"],
     "model[1].options.n_threads"),
    (["--set", "model={id: openai/gpt-4o, options: {body: {temperature: 1}}}"],
     "model[0].options.body"),
    (["--model", "openai/o3", "--set", "run.temperature=0"], "run.temperature"),
    (["--set", "model={id: anthropic/claude-sonnet-4-5, options: {thinking_budget: 2048}}",
      "--set", "run.temperature=null"], "model[0].options.thinking_budget"),
    (["--set", "grid.nope=1"], "--set grid.nope"),
    (["--set", "grid.repeat=1"], "--set grid.repeat"),
])
def test_cli_override_errors(tmp_path: Path, extra: list[str], path: str) -> None:
    cfg_path = str(write(tmp_path, yaml.safe_dump(cfg())))
    with pytest.raises(ConfigError) as info:
        experiment_from_argv(["plan", cfg_path, *extra])
    assert info.value.path == path and "\n" not in str(info.value)


def test_config_is_frozen() -> None:
    exp = load_experiment(cfg())
    with pytest.raises(Exception, match="frozen"):
        exp.seed = 3


MEDIA = {"name": "m", "model": "scripted/x", "haystack": {"kind": "video"},
         "grid": {"durations": ["30s", "1.2m", 60]}}


def test_media_haystacks_take_durations_and_default_needle_and_prompt() -> None:
    from niah.media.config import AudioHaystackSpec, VideoHaystackSpec

    video = load_experiment(MEDIA)
    assert isinstance(video.haystack, VideoHaystackSpec) and video.media is video.haystack
    assert video.grid.lengths() == [30, 60, 72]
    assert video.needles[0].text == 'The secret word is "{value}".'
    assert video.needles[0].value is not None and video.needles[0].value.kind == "random_word"
    assert video.prompt.template.startswith("{context}") and "video" in video.prompt.template
    audio = load_experiment({**MEDIA, "haystack": {"kind": "audio"}, "prompt": {"question": "Q?"},
                             "grid": {"durations": {"min": "1m", "max": "1h", "num": 3,
                                                    "spacing": "log"}}})
    assert isinstance(audio.haystack, AudioHaystackSpec)
    assert audio.needles[0].text == "The secret keyword is {value}."
    assert audio.prompt.question == "Q?" and "audio" in audio.prompt.template
    assert audio.grid.lengths() == [60, 465, 3600]
    text = load_experiment({"name": "t", "model": "scripted/x",
                            "needles": {"text": "The number is {value}."}})
    assert text.media is None and text.text_haystack.kind == "generated"


@pytest.mark.parametrize(("change", "message"), [
    ({"grid": {"durations": [0]}}, "grid.durations: duration 0 s is below the minimum"),
    ({"grid": {"durations": ["2x"]}}, "grid.durations[0]: expected a duration"),
    ({"grid": {"durations": []}}, "grid.durations: at least one duration"),
    ({"grid": {"durations": [30], "length_includes_prompt": True}},
     "grid.length_includes_prompt: only for text haystacks"),
    ({"needles": [{"text": "a {value}"}, {"text": "b {value}"}]},
     "needles: a video haystack holds one needle per trial, got 2"),
    ({"haystack": {"kind": "video", "fps": 0}}, "haystack.fps: Input should be greater than 0"),
    ({"haystack": {"kind": "audio", "sample_rat": 8000}},
     "haystack.sample_rat: unknown key; did you mean 'sample_rate'?"),
    ({"haystack": {"kind": "generated"}, "needles": {"text": "n {value}"}},
     "grid.durations: only for video or audio haystacks"),
    ({"model": "ocr+ocr+scripted/x"}, "model[0].id: expected provider/model"),
])
def test_bad_media_configs_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment({**MEDIA, **change})
    assert str(info.value).startswith(message), str(info.value)
