"""What every RULER task does alike: scripted answers score 100% and wrong ones 0, lengths
are exact (re-encoded), items sit at their recorded offsets, options are checked."""

from __future__ import annotations

import pytest

from niah.config import ScoringSpec
from niah.errors import ConfigError
from niah.tasks.registry import get_task
from niah.tasks.ruler.common import string_match_all, string_match_part
from niah.tokenizers import load_tokenizer
from tests.tasks.ruler.helpers import (
    ALL_TASKS,
    ITEM_TASKS,
    OUTPUT,
    TEXT_TASKS,
    answers,
    built,
    experiment,
)

CL100K = load_tokenizer("tiktoken:cl100k_base")
SCORING = ScoringSpec()


def test_ruler_metrics_match_their_definitions() -> None:
    refs = ["Alpha", "beta", "gamma"]
    assert string_match_all(refs, "alpha and BETA") == pytest.approx(2 / 3)
    assert string_match_part(refs, "only gamma here") == 1.0
    assert string_match_part(refs, "none") == 0.0
    assert string_match_all(["12"], "x 123 y") == 1.0  # RULER matches substrings


@pytest.mark.parametrize("task", ALL_TASKS)
def test_scripted_answers_score_all_and_wrong_answers_none(task: str) -> None:
    exp = experiment(task, lengths=[900, 1500], depths=[0, 60], repeats=2)
    prompts = built(exp)
    t = get_task(exp.task.name)
    keys = {tuple(answers(bp)) for bp in prompts}
    assert len(keys) == len(prompts) or task.startswith("qa"), "a random key per trial"
    for bp in prompts:
        right = "The answer: " + ", ".join(answers(bp)) + "."
        g = t.grade(bp, right, "stop", SCORING, exp.task.options)
        assert g.score == 1.0 and g.error is None
        assert all(h for h, n in zip(g.hits, bp.needles, strict=True) if not n.distractor)
        wrong = t.grade(bp, "I could not find it in the text.", "stop", SCORING,
                        exp.task.options)
        assert wrong.score == 0.0 and not any(wrong.hits)
        empty = t.grade(bp, "  ", "stop", SCORING, exp.task.options)
        assert empty.score is None and empty.error is not None and empty.error.kind == "empty"
        # RULER scores a reply cut at its output limit as it stands
        cut = t.grade(bp, "The answer: " + answers(bp)[0], "length", SCORING, exp.task.options)
        assert cut.error is None and cut.score == (1 / len(answers(bp))
                                                   if not task.startswith("qa") else 1.0)
        thinking = t.grade(bp, "", "length", SCORING, exp.task.options)
        assert thinking.score is None and thinking.error is not None
        assert thinking.error.kind == "truncated"


@pytest.mark.parametrize("task", ["niah_multivalue", "niah_multiquery", "vt", "cwe"])
def test_string_match_all_gives_partial_credit(task: str) -> None:
    exp = experiment(task)
    bp = built(exp)[0]
    half = answers(bp)[: len(answers(bp)) // 2]
    g = get_task(exp.task.name).grade(bp, " ".join(half), "stop", SCORING, exp.task.options)
    assert g.score == pytest.approx(len(half) / len(answers(bp)))


def test_the_scoring_metric_defers_to_niahs_scoring_block() -> None:
    exp = experiment("niah_single_1", options={"metric": "scoring"})
    bp = built(exp)[0]
    value = answers(bp)[0]
    t = get_task(exp.task.name)
    # RULER's substring match would count 1234567 inside 91234567; niah's contains does not
    assert t.grade(bp, "9" + value, "stop", SCORING, exp.task.options).score == 0.0
    assert t.grade(bp, value, "stop", SCORING, exp.task.options).score == 1.0


@pytest.mark.parametrize("task", ALL_TASKS)
def test_lengths_hold_prompt_and_answer_and_contexts_reencode_exactly(task: str) -> None:
    lengths = [1000, 1500, 2600]
    exp = experiment(task, lengths=lengths, depths=[0, 33, 100])
    out = OUTPUT.get(task, 128)
    for bp in built(exp):
        budget = bp.trial.context_length - out
        assert CL100K.count(bp.context) == bp.context_tokens
        assert bp.trial.context_length in lengths
        if task in TEXT_TASKS:
            assert bp.prompt_tokens == budget  # exact: niah's builder
        else:
            # whole items: the next one would not fit (a word, or a document here; fwe's
            # reshuffled text merges its "..." runs differently as it grows)
            slack = {"cwe": 12, "fwe": 40}.get(task, 90)
            assert budget - slack <= bp.prompt_tokens <= budget


@pytest.mark.parametrize("task", TEXT_TASKS)
def test_length_without_the_output_convention_is_the_prompt(task: str) -> None:
    exp = experiment(task, options={"length_includes_output": False})
    assert built(exp)[0].prompt_tokens == 1200


@pytest.mark.parametrize("task", ALL_TASKS)
def test_items_sit_at_their_recorded_token_offsets(task: str) -> None:
    exp = experiment(task, lengths=[1500], depths=[10, 90])
    for bp in built(exp):
        ids = CL100K.encode(bp.context)
        for n in bp.needles:
            window = CL100K.decode(ids[n.token_offset: n.token_offset + 120])
            if task.startswith("qa"):  # the first gold document (a yes/no answer is in none)
                assert window.startswith("Document ")
            else:
                assert n.answer in window, (n, window[:80])
            assert 0 <= n.actual_depth <= 100


@pytest.mark.parametrize("task", TEXT_TASKS)
def test_the_main_item_is_at_the_requested_depth(task: str) -> None:
    exp = experiment(task, lengths=[2000], depths=[0, 50, 100])
    for bp in built(exp):
        assert abs(bp.actual_depth - bp.trial.requested_depth) < 8
        assert bp.needles[0].actual_depth == bp.actual_depth


@pytest.mark.parametrize("task", ALL_TASKS)
def test_builds_are_deterministic(task: str) -> None:
    exp = experiment(task, lengths=[900], depths=[20], repeats=2)
    first = [bp.prompt_sha256 for bp in built(exp)]
    assert first == [bp.prompt_sha256 for bp in built(exp)]


@pytest.mark.parametrize(("task", "options", "path"), [
    ("vt", {"num_hops": 0}, "task.options.num_hops"),
    ("vt", {"hops": 3}, "task.options.hops"),
    ("niah_single_1", {"key_kind": "letters"}, "task.options.key_kind"),
    ("cwe", {"metric": "f1"}, "task.options.metric"),
    ("fwe", {"alpha": 1.0}, "task.options.alpha"),
    ("cwe", {"freq_cw": 3, "freq_ucw": 3}, "task.options.freq_ucw"),
    ("qa_1", {"path": None}, "task.options.path"),
])
def test_a_bad_option_is_a_config_error_naming_it(task: str, options: dict[str, object],
                                                  path: str) -> None:
    exp = experiment(task, options=options)
    t = get_task(exp.task.name)
    with pytest.raises(ConfigError) as info:
        t.check(exp, exp.task.options)
    assert info.value.path == path
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        t.builder(exp, exp.model[0], exp.task.options)


def test_the_output_convention_needs_lengths_that_include_the_prompt() -> None:
    exp = experiment("vt", grid={"context_lengths": [1000], "length_includes_prompt": False})
    with pytest.raises(ConfigError) as info:
        get_task("ruler/vt").check(exp, exp.task.options)
    assert info.value.path == "task.options.length_includes_output"
    ok = experiment("vt", grid={"context_lengths": [1000]},
                    options={"length_includes_output": False})
    get_task("ruler/vt").check(ok, ok.task.options)
    assert built(ok)[0].context_tokens == 1000  # the context alone, as niah's default


@pytest.mark.parametrize("task", [*ITEM_TASKS, "niah_single_1", "vt"])
def test_too_short_a_length_says_so(task: str) -> None:
    from niah.errors import UserError

    exp = experiment(task, lengths=[100])
    with pytest.raises(UserError, match=r"grid\.context_lengths"):
        built(exp)
