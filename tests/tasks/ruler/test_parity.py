"""Built prompts against RULER's own templates (scripts/data/synthetic/constants.py of
NVIDIA/RULER, transcribed below as the reference): the user message is RULER's input
with its answer prefix, formatted from the prompt's own ground truth, and the token
counts follow RULER's length rule.

Differences deliberately kept (and documented in the README's table):
* niah reserves 7 tokens of each length for chat markup (RULER's ``base`` template has
  none), so a prompt is up to 7 tokens shorter than RULER's at the same length;
* text haystacks come from niah's exact builder: noise filler in paragraphs of four
  (RULER: one per line), items at sentence starts, the main item at the grid's depth
  (RULER: every item at a random one of 40 depths);
* vt's chain lines inside a haystack end with "." (as RULER's essay variant);
* the distractor-needle haystack of multikey_2/3 is drawn once per experiment seed;
* cwe's example words never overlap the trial's; ``{num_cw}`` fills the "10".
"""

from __future__ import annotations

import collections
import itertools
import re

import pytest

from niah.prompt import BuiltPrompt
from niah.tasks.ruler.words import zeta
from niah.tokenizers import load_tokenizer
from tests.tasks.ruler.helpers import (
    ALL_TASKS,
    NEEDLE_TASKS,
    OUTPUT,
    TEXT_TASKS,
    built,
    experiment,
)

CL100K = load_tokenizer("tiktoken:cl100k_base")
CHAT_MARKUP = 7

RULER = {
    "niah": (
        "Some special magic {type_needle_v} are hidden within the following text. Make sure "
        "to memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\n"
        "What are all the special magic {type_needle_v} for {query} mentioned in the "
        "provided text?",
        " The special magic {type_needle_v} for {query} mentioned in the provided text are"),
    "vt": (
        "Memorize and track the chain(s) of variable assignment hidden in the following "
        "text.\n\n{context}\nQuestion: Find all variables that are assigned the value {query} "
        "in the text above.",
        " Answer: According to the chain(s) of variable assignment in the text above, {num_v} "
        "variables are assigned the value {query}, they are: "),
    "cwe": (
        "Below is a numbered list of words. In these words, some appear more often than "
        "others. Memorize the ones that appear most often.\n{context}\nQuestion: What are the "
        "10 most common words in the above list?",
        " Answer: The top 10 words that appear most often in the list are:"),
    "fwe": (
        "Read the following coded text and track the frequency of each coded word. Find the "
        "three most frequently appeared coded words. {context}\nQuestion: Do not provide any "
        "explanation. Please ignore the dots '....'. What are the three most frequently "
        "appeared words in the above coded text?",
        " Answer: According to the coded text above, the three most frequently appeared words "
        "are:"),
    "qa": (
        "Answer the question based on the given documents. Only give me the answer and do "
        "not output any other words.\n\nThe following are given documents.\n\n{context}\n\n"
        "Answer the question based on the given documents. Only give me the answer and do "
        "not output any other words.\n\nQuestion: {query}",
        " Answer:"),
}
NEEDLE = re.compile(r"One of the special magic (numbers|uuids|words) for (\S+) is: (\S+)\.")


def ruler_niah(bp: BuiltPrompt, kind: str, n_values: int) -> str:
    """RULER's niah input (its singular rewrite included) for this prompt's keys."""
    keys = list(dict.fromkeys(n.key for n in bp.needles if not n.distractor))
    template = "".join(RULER["niah"])
    if len(keys) * n_values == 1:  # RULER's own rewrite rules, in its order
        for a, b in (("Some", "A"), ("are all", "is"), ("are", "is"), ("answers", "answer")):
            template = template.replace(a, b)
        kind = kind[:-1]
    query = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + ", and " + keys[-1]
    return template.format(type_needle_v=kind, context=bp.context, query=query)


@pytest.mark.parametrize("task", NEEDLE_TASKS)
def test_needle_tasks_are_rulers_input(task: str) -> None:
    exp = experiment(task, lengths=[1500, 3000], depths=[0, 70])
    kind = "uuids" if task in ("niah_single_3", "niah_multikey_3") else "numbers"
    values = 4 if task == "niah_multivalue" else 1
    for bp in built(exp):
        assert bp.messages == [{"role": "user", "content": ruler_niah(bp, kind, values)}]
        needles = NEEDLE.findall(bp.context)
        placed = {(n.key, n.answer) for n in bp.needles}
        assert placed <= {(k, v) for _, k, v in needles}
        assert needles and all(m[0] == kind for m in needles)
        if task in ("niah_multikey_2", "niah_multikey_3"):  # the haystack is needles
            assert len(needles) > 20
            keys = [k for _, k, _ in needles]
            assert keys.count(bp.needles[0].key) == 1, "the asked key is unique"
        else:
            assert len(needles) == len(bp.needles)


def test_vt_is_rulers_input_after_its_one_shot_example() -> None:
    exp = experiment("vt", lengths=[1500, 3000], depths=[10, 80])
    for bp in built(exp):
        value = bp.needles[0].key
        main = "".join(RULER["vt"]).format(context=bp.context, query=value, num_v=5)
        message = bp.messages[-1]["content"]
        example, rest = message.split("\n\n" + RULER["vt"][0][:40])
        assert RULER["vt"][0][:40] + rest == main
        # the example: RULER's template on noise lines, 3-letter names, and its answer
        assert example.startswith(RULER["vt"][0][:40])
        shot_names = example.rsplit("they are: ", 1)[1].split()
        assert len(shot_names) == 5 and all(re.fullmatch("[A-Z]{3}", n) for n in shot_names)
        assert CL100K.count(example.rsplit(" " + " ".join(shot_names), 1)[0]) <= 500
        # the chain: in order, each hop naming the one before
        chain = [n for n in bp.needles if not n.distractor]
        assert chain[0].text == f"VAR {chain[0].answer} = {value}."
        for a, b in itertools.pairwise(chain):
            assert b.text == f"VAR {b.answer} = VAR {a.answer}."
            assert b.token_offset > a.token_offset


def test_cwe_is_rulers_input_with_its_frequencies() -> None:
    for length, (f_cw, f_ucw) in ((2000, (6, 1)), (5000, (30, 3))):
        exp = experiment("cwe", lengths=[length])
        bp = built(exp)[0]
        main = "".join(RULER["cwe"]).format(context=bp.context)
        message = bp.messages[-1]["content"]
        example, _, rest = message.partition("\n" + RULER["cwe"][0][:40])
        assert RULER["cwe"][0][:40] + rest == main
        assert example.startswith(RULER["cwe"][0][:40])
        entries = re.findall(r"(\d+)\. (\S+)", bp.context)
        assert [int(i) for i, _ in entries] == list(range(1, len(entries) + 1))
        counts = collections.Counter(w for _, w in entries)
        common = [n.answer for n in bp.needles]
        assert len(common) == 10 and all(counts[w] == f_cw for w in common)
        assert {c for w, c in counts.items() if w not in common} == {f_ucw}


def test_fwe_is_rulers_input_with_zipf_counts() -> None:
    bp = built(experiment("fwe", lengths=[3000]))[0]
    assert bp.messages[-1]["content"] == "".join(RULER["fwe"]).format(context=bp.context)
    counts = collections.Counter(bp.context.split(" "))
    ranked = [w for w, _ in counts.most_common()]
    assert ranked[0] == "..."
    assert set(ranked[1:4]) == {n.answer for n in bp.needles}
    n = counts["..."] * zeta(2.0)  # RULER: the k-th word int(n k^-2 / zeta(2)) times
    for k, w in enumerate(ranked[1:4], 2):
        assert abs(counts[w] - n / k**2 / zeta(2.0)) < 2 + n / k**2 / zeta(2.0) * 0.01


@pytest.mark.parametrize("task", ["qa_1", "qa_2"])
def test_qa_is_rulers_input(task: str) -> None:
    for bp in built(experiment(task, lengths=[1000, 2000], repeats=2)):
        q = bp.needles[0].text
        assert bp.messages[-1]["content"] == "".join(RULER["qa"]).format(
            context=bp.context, query=q)
        heads = re.findall(r"(?:^|\n\n)Document (\d+):\n", bp.context)
        assert [int(h) for h in heads] == list(range(1, len(heads) + 1))


@pytest.mark.parametrize("task", ALL_TASKS)
def test_token_counts_follow_rulers_length_rule(task: str) -> None:
    """RULER: tokens(input + answer prefix) + tokens_to_generate <= length, as many
    haystack units as fit. Here the same, less the chat markup niah reserves."""
    out = OUTPUT.get(task, 128)
    for length in (1500, 4000):
        bp = built(experiment(task, lengths=[length]))[0]
        used = CL100K.count(bp.messages[-1]["content"]) + out
        slack = 2 if task in TEXT_TASKS else {"cwe": 14, "fwe": 42}.get(task, 92)
        assert length - CHAT_MARKUP - slack <= used <= length - CHAT_MARKUP + 1
