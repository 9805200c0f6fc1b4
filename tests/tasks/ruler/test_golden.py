"""Golden tests: the structure of each RULER task's prompt (the message around the
context and how the context opens), every random draw masked. A change here changes
what models are asked: update the golden only on purpose."""
# ruff: noqa: E501

from __future__ import annotations

import re

import pytest

from niah.haystack.sources import NOISE_FILLER
from niah.prompt import BuiltPrompt
from tests.tasks.ruler.helpers import ALL_TASKS, built, experiment

_MASKS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "⟨uuid⟩"),
    (re.compile(r"\b\d+\. [a-z]+\b"), "⟨n. word⟩"),
    (re.compile(r"\b(?!VAR\b)[A-Z]{3,5}\b"), "⟨var⟩"),
    (re.compile(r"\b[a-z]+-[a-z]+\b"), "⟨pair⟩"),
    (re.compile(r"\b\d{5,7}\b"), "⟨num⟩"),
]


def mask(text: str) -> str:
    text = text.replace(NOISE_FILLER, "⟨noise⟩")
    for pattern, tag in _MASKS:
        text = pattern.sub(tag, text)
    return text


def shape(bp: BuiltPrompt) -> tuple[str, str]:
    """The message around the context and the context's first 160 characters, every
    random draw masked."""
    start, end = bp.context_span
    text = bp.messages[-1]["content"]
    around = text[:start] + "⟨context⟩" + text[end:]
    for n in bp.needles:
        if n.key and not n.distractor:
            around = around.replace(n.key, "⟨key⟩")
    return mask(around), mask(bp.context[:160])


@pytest.mark.parametrize("task", ALL_TASKS)
def test_prompt_structure_is_the_golden_one(task: str) -> None:
    bp = built(experiment(task))[0]
    assert [m["role"] for m in bp.messages] == ["user"]  # RULER sends no system message
    assert shape(bp) == GOLDEN[task]


GOLDEN = {
    "niah_single_1": (
        'A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\n'
        '⟨context⟩\n'
        'What is the special magic number for ⟨key⟩ mentioned in the provided text? The special magic number for ⟨key⟩ mentioned in the provided text is'
        ,
        '⟨noise⟩ The grass is green. The sky is blue. The sun is yellow. Here we go. Th'
    ),
    "niah_single_2": (
        'A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\n'
        '⟨context⟩\n'
        'What is the special magic number for ⟨key⟩ mentioned in the provided text? The special magic number for ⟨key⟩ mentioned in the provided text is'
        ,
        "The miller's daughter whistled with some reluctance by the abbey garden. A curious child asked the gardener about a sack of flour, but the answer was unexpected"
    ),
    "niah_single_3": (
        'A special magic uuid is hidden within the following text. Make sure to memorize it. I will quiz you about the uuid afterwards.\n'
        '⟨context⟩\n'
        'What is the special magic uuid for ⟨key⟩ mentioned in the provided text? The special magic uuid for ⟨key⟩ mentioned in the provided text is'
        ,
        "The miller's daughter whistled with some reluctance by the abbey garden. A curious child asked the gardener about a sack of flour, but the answer was unexpected"
    ),
    "niah_multikey_1": (
        'A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\n'
        '⟨context⟩\n'
        'What is the special magic number for ⟨key⟩ mentioned in the provided text? The special magic number for ⟨key⟩ mentioned in the provided text is'
        ,
        "One of the special magic numbers for ⟨pair⟩ is: ⟨num⟩. The miller's daughter whistled with some reluctance by the abbey garden. A curious child ask"
    ),
    "niah_multikey_2": (
        'A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\n'
        '⟨context⟩\n'
        'What is the special magic number for ⟨key⟩ mentioned in the provided text? The special magic number for ⟨key⟩ mentioned in the provided text is'
        ,
        'One of the special magic numbers for ⟨pair⟩ is: ⟨num⟩.\n'
        'One of the special magic numbers for ⟨pair⟩ is: ⟨num⟩.\n'
        'One of the special magic numbers'
    ),
    "niah_multikey_3": (
        'A special magic uuid is hidden within the following text. Make sure to memorize it. I will quiz you about the uuid afterwards.\n'
        '⟨context⟩\n'
        'What is the special magic uuid for ⟨key⟩ mentioned in the provided text? The special magic uuid for ⟨key⟩ mentioned in the provided text is'
        ,
        'One of the special magic uuids for ⟨uuid⟩ is: ⟨uuid⟩.\n'
        'One of the special magic uuids for 4eda19e8-ac'
    ),
    "niah_multivalue": (
        'Some special magic numbers are hidden within the following text. Make sure to memorize it. I will quiz you about the numbers afterwards.\n'
        '⟨context⟩\n'
        'What are all the special magic numbers for ⟨key⟩ mentioned in the provided text? The special magic numbers for ⟨key⟩ mentioned in the provided text are'
        ,
        "The miller's daughter whistled with some reluctance by the abbey garden. A curious child asked the gardener about a sack of flour, but the answer was unexpected"
    ),
    "niah_multiquery": (
        'Some special magic numbers are hidden within the following text. Make sure to memorize it. I will quiz you about the numbers afterwards.\n'
        '⟨context⟩\n'
        'What are all the special magic numbers for ⟨key⟩, ⟨key⟩, ⟨key⟩, and ⟨key⟩ mentioned in the provided text? The special magic numbers for ⟨key⟩, ⟨key⟩, ⟨key⟩, and ⟨key⟩ mentioned in the provided text are'
        ,
        "The miller's daughter whistled with some reluctance by the abbey garden. A curious child asked the gardener about a sack of flour, but the answer was unexpected"
    ),
    "vt": (
        'Memorize and track the chain(s) of variable assignment hidden in the following text.\n'
        '\n'
        '⟨noise⟩\n'
        'VAR ⟨var⟩ = ⟨num⟩\n'
        '⟨noise⟩\n'
        'VAR ⟨var⟩ = VAR ⟨var⟩ \n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        'VAR ⟨var⟩ = VAR ⟨var⟩ \n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        'VAR ⟨var⟩ = VAR ⟨var⟩ \n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        'VAR ⟨var⟩ = VAR ⟨var⟩ \n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        '⟨noise⟩\n'
        'Question: Find all variables that are assigned the value ⟨num⟩ in the text above. Answer: According to the chain(s) of variable assignment in the text above, 5 variables are assigned the value ⟨num⟩, they are:  ⟨var⟩ ⟨var⟩ ⟨var⟩ ⟨var⟩ ⟨var⟩\n'
        '\n'
        'Memorize and track the chain(s) of variable assignment hidden in the following text.\n'
        '\n'
        '⟨context⟩\n'
        'Question: Find all variables that are assigned the value ⟨key⟩ in the text above. Answer: According to the chain(s) of variable assignment in the text above, 5 variables are assigned the value ⟨key⟩, they are: '
        ,
        '⟨noise⟩ The grass is green. The sky is blue. The sun is yellow. Here we go. Th'
    ),
    "cwe": (
        'Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n'
        '⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩\n'
        'Question: What are the 10 most common words in the above list? Answer: The top 10 words that appear most often in the list are: ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩\n'
        'Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n'
        '⟨context⟩\n'
        'Question: What are the 10 most common words in the above list? Answer: The top 10 words that appear most often in the list are:'
        ,
        '⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩ ⟨n. word⟩'
    ),
    "fwe": (
        'Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. ⟨context⟩\n'
        "Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text? Answer: According to the coded text above, the three most frequently appeared words are:"
        ,
        '... buiffy ... ... buiffy fxhlax jcqded ... fxhlax ... dzydri buiffy vysnjm fxhlax ... ... ... ... fxhlax fxhlax ... buiffy ... fxhlax fxhlax ... fxhlax ... fxh'
    ),
    "qa_1": (
        'Answer the question based on the given documents. Only give me the answer and do not output any other words.\n'
        '\n'
        'The following are given documents.\n'
        '\n'
        '⟨context⟩\n'
        '\n'
        'Answer the question based on the given documents. Only give me the answer and do not output any other words.\n'
        '\n'
        'Question: What russet apple grows in the Quillan orchard? Answer:'
        ,
        'Document 1:\n'
        'By 1960 most lamps on the coast were electric, and the last resident keeper left Varn Point in the spring of 1971.\n'
        '\n'
        'Document 2:\n'
        'The lighthouse at Va'
    ),
    "qa_2": (
        'Answer the question based on the given documents. Only give me the answer and do not output any other words.\n'
        '\n'
        'The following are given documents.\n'
        '\n'
        '⟨context⟩\n'
        '\n'
        'Answer the question based on the given documents. Only give me the answer and do not output any other words.\n'
        '\n'
        'Question: Are the Tollan Bridge and the Merrow Viaduct made of the same stone? Answer:'
        ,
        'Document 1:\n'
        'Holt Academy\n'
        'Holt Academy was founded by Margery Holt in 1888.\n'
        '\n'
        'Document 2:\n'
        'Edwin Sarle\n'
        'Edwin Sarle, a poet, attended Holt Academy until 1930.\n'
        '\n'
        'Docu'
    ),
}
