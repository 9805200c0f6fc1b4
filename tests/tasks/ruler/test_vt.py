"""Variable tracking: chains per trial, several chains, the essay haystack, no example."""

from __future__ import annotations

from tests.tasks.ruler.helpers import built, experiment


def test_several_chains_keep_their_order_and_only_the_first_is_asked() -> None:
    bp = built(experiment("vt", lengths=[2500], options={"num_chains": 3, "num_hops": 6}))[0]
    assert len(bp.needles) == 3 * 7
    asked = [n for n in bp.needles if not n.distractor]
    assert len(asked) == 7 and len({n.answer for n in bp.needles}) == 21
    for c in range(3):
        chain = bp.needles[c * 7:(c + 1) * 7]
        assert [n.token_offset for n in chain] == sorted(n.token_offset for n in chain)
        assert len({n.key for n in chain}) == 1  # the chain's value
    assert "7 variables are assigned the value" in bp.question


def test_the_example_can_be_left_out_and_the_haystack_be_an_essay() -> None:
    bp = built(experiment("vt", options={"few_shot": False, "haystack": "essay"}))[0]
    message = bp.messages[-1]["content"]
    assert message.startswith("Memorize and track") and message.count("Memorize") == 1
    assert "The grass is green." not in bp.context


def test_values_and_names_change_with_each_trial() -> None:
    prompts = built(experiment("vt", lengths=[1000], depths=[0, 50], repeats=3))
    assert len({bp.needles[0].key for bp in prompts}) == 6
    assert len({bp.needles[0].answer for bp in prompts}) == 6
