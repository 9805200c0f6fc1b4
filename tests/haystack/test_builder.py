"""The builder's promises, proven by re-encoding what it builds.

Exactness: every context has exactly the requested tokens in the target tokenizer.
Depth: each needle sits at a sentence start at or before the requested depth, and
its recorded token offset is where it really starts.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from niah import load_experiment, plan
from niah.haystack.builder import PromptBuilder, build
from niah.haystack.corpus import _encode_chunks
from niah.haystack.prose import paragraphs
from niah.tokenizers import HFTokenizer, Tokenizer, load_tokenizer
from tests.haystack.tricky import TrickyBook

NEEDLE = {
    "text": "The special magic number is {value}.",
    "question": "What is the special magic number?",
}


def _experiment(lengths: list[int], depths: list[float], **extra: Any) -> Any:
    cfg: dict[str, Any] = {
        "name": "t",
        "model": "scripted/perfect",
        "needles": [NEEDLE],
        "grid": {"context_lengths": lengths, "depth_percents": depths},
    }
    cfg.update(extra)
    return load_experiment(cfg)


def _random_grid(seed: int, n_lengths: int, lo: int, hi: int) -> tuple[list[int], list[float]]:
    rng = random.Random(seed)
    lengths = sorted({rng.randint(lo, hi) for _ in range(n_lengths)})
    depths = sorted({round(rng.uniform(0, 100), 1) for _ in range(6)} | {0.0, 100.0})
    return lengths, depths


def _hf_tokenizer(kind: str) -> Tokenizer:
    """A real Hugging Face tokenizer trained here (no download): byte-level or metaspace."""
    from tokenizers import Tokenizer as HF
    from tokenizers import decoders, models, pre_tokenizers, trainers

    texts = list(itertools.islice(paragraphs(5), 2000))
    if kind == "bytelevel":
        tok = HF(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=1500, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
    else:
        tok = HF(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<unk>"])
    tok.train_from_iterator(texts, trainer)
    return HFTokenizer.from_object(tok, f"hf:test-{kind}")


def _check_exact(experiment: Any, tokenizer: Tokenizer) -> int:
    builder = PromptBuilder(experiment, tokenizer=tokenizer)
    checked = 0
    for trial in plan(experiment):
        bp = builder.build(trial)
        assert tokenizer.count(bp.context) == trial.context_length == bp.context_tokens, trial
        ids, starts = _encode_chunks(tokenizer, [bp.context])
        assert len(ids) == trial.context_length
        for needle, depth in zip(bp.needles, trial.needle_depths, strict=False):
            # the recorded offset is the token holding the needle's first byte
            # (a separating space may share that token)
            at = len(bp.context[: bp.context.index(needle.text)].encode())
            k = needle.token_offset
            assert starts[k] <= at < (starts[k + 1] if k + 1 < len(starts) else 10**12), (
                trial,
                needle,
            )
            assert needle.actual_depth <= depth + 1e-9 or depth == 100
        checked += 1
    return checked


def test_exact_lengths_tiktoken_hundreds_of_contexts() -> None:
    lengths, depths = _random_grid(1, 30, 16, 3000)
    experiment = _experiment(lengths, depths)
    assert _check_exact(experiment, load_tokenizer("tiktoken:cl100k_base")) >= 200


@pytest.mark.parametrize("kind", ["bytelevel", "metaspace"])
def test_exact_lengths_hugging_face(kind: str) -> None:
    lengths, depths = _random_grid(2, 25, 16, 2500)
    experiment = _experiment(lengths, depths)
    assert _check_exact(experiment, _hf_tokenizer(kind)) >= 150


def test_exact_lengths_multi_needle_and_kinds() -> None:
    lengths, depths = _random_grid(3, 15, 200, 2500)
    needles = [
        {
            "text": "The secret word is {value}.",
            "question": "q",
            "value": {"kind": "random_word"},
            "count": 3,
        },
        {"text": "The code is {value}.", "question": "q", "value": {"kind": "uuid"}, "count": 2},
    ]
    for haystack in ({"kind": "generated", "seed": 4}, {"kind": "noise"}):
        experiment = _experiment(lengths, depths, needles=needles, haystack=haystack)
        assert _check_exact(experiment, load_tokenizer("tiktoken:cl100k_base")) > 50


def test_exact_lengths_on_a_files_haystack(tmp_path: Path) -> None:
    # hard-wrapped prose with quotes, dialogue and unicode, like real books
    text = "\n\n".join(
        f"“Chapter {chr(65 + i % 26)},” she said. The road was long;\nit wound past the "
        f"mill — and the café — before dusk. Was it far? No! It was not.  Then came rain."
        for i in range(400)
    )
    (tmp_path / "book.txt").write_text(text, encoding="utf-8")
    lengths, depths = _random_grid(5, 12, 100, 2500)
    experiment = _experiment(lengths, depths, haystack={"kind": "files", "path": str(tmp_path)})
    assert _check_exact(experiment, load_tokenizer("tiktoken:cl100k_base")) > 50


def test_exact_lengths_embedded_model_tokenizer(smollm2_path: Path) -> None:
    lengths, depths = _random_grid(6, 15, 16, 2000)
    experiment = _experiment(lengths, depths)
    assert _check_exact(experiment, load_tokenizer(f"llamacpp:{smollm2_path}")) > 80


MANY = [{"text": "The special magic number for {key} is {value}.", "question": "q",
         "count": 40, "key": {"kind": "word_pair"}, "value": {"kind": "random_number"}}]


@pytest.mark.parametrize("kind", ["tiktoken", "bytelevel", "metaspace", "llamacpp"])
def test_exact_lengths_many_needles_batched(kind: str, request: pytest.FixtureRequest) -> None:
    """40 needles: the windows around them are encoded in one batch (``BATCH_NEEDLES``)."""
    if kind == "tiktoken":
        tokenizer = load_tokenizer("tiktoken:cl100k_base")
    elif kind == "llamacpp":
        tokenizer = load_tokenizer(f"llamacpp:{request.getfixturevalue('smollm2_path')}")
    else:
        tokenizer = _hf_tokenizer(kind)
    lengths, depths = _random_grid(7, 6, 3000, 5000)  # trained vocabularies: long needles
    experiment = _experiment(lengths, depths, needles=MANY)
    assert _check_exact(experiment, tokenizer) >= 30


def test_depth_zero_and_hundred_are_the_ends() -> None:
    experiment = _experiment([1000], [0, 100])
    first, last = (build(experiment, t) for t in plan(experiment))
    assert first.context.startswith(first.needles[0].text)
    assert first.needles[0].token_offset == 0 and first.actual_depth == 0
    assert last.context.rstrip().endswith(last.needles[0].text)
    assert last.actual_depth == 100


def test_needle_sits_at_a_sentence_start_near_the_depth() -> None:
    experiment = _experiment([4000], [10, 25, 50, 75, 90])
    for trial in plan(experiment):
        bp = build(experiment, trial)
        needle = bp.needles[0]
        at = bp.context.index(needle.text)
        assert bp.context[:at].rstrip()[-1] in ".!?\"'"
        # at or before the requested depth, by less than a couple of sentences
        assert trial.requested_depth - 3 <= needle.actual_depth <= trial.requested_depth


def test_needles_never_land_inside_a_sentence(tricky_book: TrickyBook) -> None:
    """1,000 random (length, depth) pairs on prose full of "Mr.", "J. K.", "3.5", "etc. and"."""
    rng = random.Random(9)
    lengths: set[int] = set()
    while len(lengths) < 40:
        lengths.add(rng.randint(60, 6000))
    depths: set[float] = set()
    while len(depths) < 25:
        depths.add(round(rng.uniform(0, 100), 2))
    experiment = _experiment(
        sorted(lengths),
        sorted(depths),
        haystack={"kind": "files", "path": str(tricky_book.folder)},
    )
    builder = PromptBuilder(experiment, tokenizer=load_tokenizer("tiktoken:cl100k_base"))
    trials = plan(experiment)
    assert len(trials) == 1000
    for trial in trials:
        bp = builder.build(trial)
        assert bp.context_tokens == trial.context_length
        at = bp.context.index(bp.needles[0].text)
        before, after = bp.context[:at], bp.context[at + len(bp.needles[0].text) :]
        assert not tricky_book.follows_abbreviation(before), (trial, before[-60:])
        assert at == 0 or tricky_book.ends_with_sentence(before), (trial, before[-60:])
        assert not after.strip() or tricky_book.starts_with_sentence(after), (trial, after[:60])
        if trial.context_length >= 2000:  # true starts are dense enough to reach the depth
            assert trial.requested_depth - 2 <= bp.actual_depth <= trial.requested_depth


def test_contexts_share_their_prefix_up_to_the_first_needle() -> None:
    experiment = _experiment([1000, 2000, 4000], [50, 100])
    built = [build(experiment, t) for t in plan(experiment)]
    shortest = min(built, key=lambda b: b.needles[0].token_offset)
    prefix = shortest.context[: shortest.context.index(shortest.needles[0].text)].rstrip()
    assert len(prefix) > 1000
    for bp in built:
        assert bp.context.startswith(prefix)


def test_same_config_and_seed_give_byte_identical_prompts() -> None:
    a = _experiment([1500], [33])
    b = _experiment([1500], [33])
    (ta,), (tb,) = plan(a), plan(b)
    pa, pb = PromptBuilder(a).build(ta), PromptBuilder(b).build(tb)
    assert pa.messages == pb.messages and pa.prompt_sha256 == pb.prompt_sha256
    other = _experiment([1500], [33], seed=1)
    assert PromptBuilder(other).build(plan(other)[0]).prompt_sha256 != pa.prompt_sha256


def test_answer_never_in_the_haystack_and_template_filled() -> None:
    experiment = _experiment([2000], [50])
    bp = build(experiment, plan(experiment)[0])
    answer = bp.needles[0].answer
    assert bp.context.count(answer) == 1
    user = bp.messages[-1]["content"]
    assert bp.context in user and "What is the special magic number?" in user
    assert bp.messages[0]["role"] == "system"
    assert bp.prompt_tokens > bp.context_tokens


def test_length_includes_prompt_fits_the_whole_prompt() -> None:
    experiment = _experiment(
        [1000],
        [50],
        grid={
            "context_lengths": [1000],
            "depth_percents": [50],
            "length_includes_prompt": True,
        },
    )
    bp = build(experiment, plan(experiment)[0])
    tok = load_tokenizer("tiktoken:cl100k_base")
    assert bp.prompt_tokens == 1000
    assert tok.count(bp.context) == bp.context_tokens < 1000


def test_braces_in_haystack_do_not_break_the_template(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Use {context} and {question} literally. " * 300)
    experiment = _experiment([500], [50], haystack={"kind": "files", "path": str(tmp_path)})
    bp = build(experiment, plan(experiment)[0])
    assert bp.messages[-1]["content"].count("{context}") > 5


def test_distractors_are_inserted_but_not_asked_or_scored() -> None:
    from niah.scoring import score

    needles = [
        {
            "text": "The magic number for {key} is {value}.",
            "question": "What is the magic number for Oslo?",
            "key": "Oslo",
        },
        {
            "text": "The magic number for {key} is {value}.",
            "question": "What is the magic number for Rome?",
            "key": "Rome",
            "distractor": True,
            "count": 2,
        },
    ]
    experiment = _experiment([1500], [20], needles=needles)
    bp = build(experiment, plan(experiment)[0])
    target, *distractors = bp.needles
    assert [n.distractor for n in bp.needles] == [False, True, True]
    assert all(bp.context.count(n.text) == 1 for n in bp.needles)
    assert bp.question == "What is the magic number for Oslo?"
    right, hits = score(bp.needles, f"It is {target.answer}.", experiment.scoring)
    assert right == 1.0 and hits == [True, False, False]
    wrong, hits = score(bp.needles, f"It is {distractors[0].answer}.", experiment.scoring)
    assert wrong == 0.0 and hits == [False, True, False]
