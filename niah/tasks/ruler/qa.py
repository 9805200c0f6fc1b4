"""RULER's QA tasks: a question over numbered documents, its gold documents among
distractors, read from a local JSON file in SQuAD (``qa_1``) or HotpotQA (``qa_2``)
layout (``task.options.path``; ``niah`` never downloads it).

SQuAD: ``{"data": [{"paragraphs": [{"context", "qas": [{"question", "answers":
[{"text"}], "is_impossible"?}]}]}]}``; the distractors are first the other paragraphs of
the same article, then any. HotpotQA: ``[{"question", "answer", "context": [[title,
[sentence, ...]], ...]}]``; every listed paragraph is given. Each trial asks one
question drawn by its seed; documents are added whole until the next would pass the
length, then shuffled (RULER).
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from niah.config import Experiment, ModelSpec
from niah.errors import ConfigError
from niah.plan import Trial
from niah.prompt import BuiltPrompt
from niah.tasks.ruler.common import (
    ItemPrompt,
    Metric,
    RulerGrading,
    RulerOptions,
    check_common,
    fit_count,
    output_budget,
    parse_options,
)
from niah.tokenizers import tokenizer_for

INSTRUCTION = ("Answer the question based on the given documents. Only give me the answer and "
               "do not output any other words.")
TEMPLATE = (INSTRUCTION + "\n\nThe following are given documents.\n\n{context}\n\n"
            + INSTRUCTION + "\n\n{question}")
QUESTION = "Question: {question}"
ANSWER_PREFIX = " Answer:"
DOCUMENT = "Document {i}:\n{text}"
PATH = "task.options.path"


class QaOptions(RulerOptions):
    """RULER's QA settings."""

    path: str
    """The dataset: a JSON file in SQuAD or HotpotQA layout (relative to the config)."""
    layout: Literal["squad", "hotpotqa"] | None = None
    """Default: ``squad`` for ``qa_1``, ``hotpotqa`` for ``qa_2``."""
    answer_prefix: bool = True


@dataclass(frozen=True)
class Question:
    question: str
    answers: tuple[str, ...]
    gold: tuple[int, ...]
    """Indices of the documents that answer it."""
    nearby: tuple[int, ...] = ()
    """SQuAD: the other paragraphs of its article, the first distractors."""


@dataclass
class Dataset:
    docs: list[str]
    questions: list[Question] = field(default_factory=list)


def _field(obj: Any, name: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise ConfigError(PATH, f"{where}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind):
        raise ConfigError(PATH, f"{where}.{name}: expected {getattr(kind, '__name__', kind)}")
    return value


def read_squad(data: Any, file: str) -> Dataset:
    articles = _field(data, "data", file, list)
    texts: list[tuple[int, str]] = []
    for a, art in enumerate(articles):
        for p, para in enumerate(_field(art, "paragraphs", f"{file}: data[{a}]", list)):
            texts.append((a, _field(para, "context", f"{file}: data[{a}].paragraphs[{p}]", str)))
    docs = sorted({t for _, t in texts})
    index = {t: i for i, t in enumerate(docs)}
    ds = Dataset(docs)
    for a, art in enumerate(articles):
        mine = [index[t] for aa, t in texts if aa == a]
        for p, para in enumerate(art["paragraphs"]):
            where = f"{file}: data[{a}].paragraphs[{p}]"
            gold = index[para["context"]]
            for q, qa in enumerate(_field(para, "qas", where, list)):
                at = f"{where}.qas[{q}]"
                if isinstance(qa, dict) and qa.get("is_impossible"):
                    continue
                question = _field(qa, "question", at, str)
                answers = [_field(x, "text", f"{at}.answers[{i}]", str)
                           for i, x in enumerate(_field(qa, "answers", at, list))]
                if answers:
                    ds.questions.append(Question(question, tuple(dict.fromkeys(answers)), (gold,),
                                                 tuple(i for i in mine if i != gold)))
    return ds


def read_hotpotqa(data: Any, file: str) -> Dataset:
    if not isinstance(data, list):
        raise ConfigError(PATH, f"{file}: expected a list of questions (HotpotQA layout)")
    entries = []
    for n, item in enumerate(data):
        where = f"{file}: [{n}]"
        question = _field(item, "question", where, str)
        answer = _field(item, "answer", where, str)
        paras = []
        for c, pair in enumerate(_field(item, "context", where, list)):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                    and isinstance(pair[1], list)):
                raise ConfigError(PATH, f"{where}.context[{c}]: expected [title, [sentences]]")
            paras.append(f"{pair[0]}\n{''.join(str(s) for s in pair[1])}")
        entries.append((question, answer, paras))
    docs = sorted({p for _, _, ps in entries for p in ps})
    index = {t: i for i, t in enumerate(docs)}
    return Dataset(docs, [Question(q, (a,), tuple(index[p] for p in ps)) for q, a, ps in entries])


@functools.lru_cache(maxsize=4)
def load_dataset(path: Path, layout: str) -> Dataset:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(PATH, f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(PATH, f"{path} is not a readable JSON file ({exc})") from None
    ds = (read_squad if layout == "squad" else read_hotpotqa)(data, path.name)
    if not ds.questions:
        raise ConfigError(PATH, f"{path.name} holds no answerable question")
    return ds


def pick_docs(ds: Dataset, q: Question, n: int, rng: random.Random) -> list[int]:
    """Gold documents, then nearby ones, then any, ``n`` in all (repeating all documents
    when ``n`` passes their number, as RULER)."""
    if n >= len(ds.docs):
        return [i % len(ds.docs) for i in range(n)]
    gold = list(q.gold)
    if n - len(gold) <= len(q.nearby):
        return gold + rng.sample(list(q.nearby), max(n - len(gold), 0))
    rest = [i for i in range(len(ds.docs)) if i not in gold and i not in q.nearby]
    return gold + list(q.nearby) + rng.sample(rest, n - len(gold) - len(q.nearby))


class RulerQa(RulerGrading):
    """RULER's QA task (``qa_1``: SQuAD, ``qa_2``: HotpotQA)."""

    name: ClassVar[str] = "ruler/qa"
    options_model: ClassVar[type[QaOptions]] = QaOptions
    layout: ClassVar[str] = "squad"

    def dataset(self, experiment: Experiment, opts: QaOptions) -> Dataset:
        path = experiment.resolve_path(opts.path).resolve()
        return load_dataset(path, opts.layout or self.layout)

    def check(self, experiment: Experiment, options: Any) -> None:
        opts = parse_options(QaOptions, options)
        check_common(experiment, opts)
        self.dataset(experiment, opts)

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> QaBuilder:
        opts = parse_options(QaOptions, options)
        check_common(experiment, opts)
        return QaBuilder(experiment, model, opts, self.dataset(experiment, opts))

    default_metric: ClassVar[Metric] = "string_match_part"


class Qa1(RulerQa):
    name: ClassVar[str] = "ruler/qa_1"
    layout: ClassVar[str] = "squad"


class Qa2(RulerQa):
    name: ClassVar[str] = "ruler/qa_2"
    layout: ClassVar[str] = "hotpotqa"


class QaBuilder:
    def __init__(self, experiment: Experiment, model: ModelSpec, opts: QaOptions,
                 ds: Dataset) -> None:
        self.experiment = experiment
        self.opts = opts
        self.ds = ds
        self.tokenizer = tokenizer_for(experiment, model)
        self.output = output_budget(experiment, opts)

    def build(self, trial: Trial) -> BuiltPrompt:
        rng = random.Random(trial.seed)
        q = self.ds.questions[rng.randrange(len(self.ds.questions))]
        question = QUESTION.format(question=q.question) + (
            ANSWER_PREFIX if self.opts.answer_prefix else "")
        pick_seed, order_seed = rng.random(), rng.random()

        def prompt(n: int) -> tuple[ItemPrompt, list[int], list[int]]:
            chosen = pick_docs(self.ds, q, n, random.Random(pick_seed))
            random.Random(order_seed).shuffle(chosen)
            texts = [DOCUMENT.format(i=i + 1, text=self.ds.docs[d]) for i, d in enumerate(chosen)]
            starts, at = [], 0
            for t in texts:
                starts.append(at)
                at += len(t) + 2
            return (ItemPrompt(self.tokenizer, TEMPLATE, "\n\n".join(texts), question),
                    chosen, starts)

        budget = trial.context_length - self.output
        includes = self.experiment.grid.length_includes_prompt
        n = fit_count(lambda k: prompt(k)[0].tokens(includes), budget, len(q.gold),
                      max(budget // 8, len(q.gold)), "set of gold documents", trial.context_length)
        ip, chosen, starts = prompt(n)
        first_gold = min(starts[i] for i, d in enumerate(chosen) if d in q.gold)
        items = [(q.question, a, None, first_gold, False) for a in q.answers]
        return ip.built(trial, items)
