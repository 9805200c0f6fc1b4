"""Needle values: seeded per trial, distinct within a trial, absent from the haystack."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from niah.config import Experiment, KeySpec, NeedleSpec, ValueSpec
from niah.errors import HaystackError

# Concrete, uncommon nouns for ``random_word``; none occurs in niah's generated prose.
WORDS = (
    "abacus", "albatross", "alembic", "amethyst", "anemone", "armadillo", "astrolabe",
    "avalanche", "axolotl", "bagpipe", "balalaika", "barnacle", "basilisk", "bassoon",
    "bergamot", "biscotti", "bobsled", "boomerang", "buttercup", "cactus", "calliope",
    "caramel", "cardamom", "cassowary", "catapult", "cauldron", "chameleon", "chandelier",
    "chinchilla", "cinnamon", "clarinet", "cobblestone", "coconut", "condor", "coriander",
    "cormorant", "croissant", "crocodile", "cuttlefish", "dandelion", "didgeridoo",
    "dirigible", "dolphin", "dragonfly", "dulcimer", "dumpling", "eggplant", "emerald",
    "escalator", "eucalyptus", "falcon", "ferret", "flamingo", "fountain", "gazebo",
    "gazelle", "geyser", "gingerbread", "giraffe", "glacier", "gondola", "gooseberry",
    "gramophone", "granite", "harmonica", "harpoon", "hedgehog", "hibiscus", "hummingbird",
    "hyacinth", "iceberg", "iguana", "jackal", "jasmine", "jellyfish", "juniper",
    "kaleidoscope", "kangaroo", "kayak", "kiwi", "koala", "labyrinth", "lavender",
    "lemonade", "leopard", "licorice", "lobster", "locomotive", "lollipop", "macaroon",
    "magnolia", "mandolin", "mango", "marmalade", "marzipan", "meteorite", "mongoose",
    "mosaic", "narwhal", "nectarine", "nightingale", "nutmeg", "obelisk", "octopus",
    "origami", "ostrich", "otter", "pagoda", "pangolin", "papaya", "parachute",
    "peacock", "pelican", "penguin", "peppermint", "periscope", "pistachio", "platypus",
    "pomegranate", "porcupine", "pretzel", "puffin", "pumpkin", "quartz", "quince",
    "raccoon", "raspberry", "rhubarb", "saffron", "salamander", "sapphire", "saxophone",
    "scorpion", "seahorse", "sequoia", "snorkel", "sombrero", "sparrow", "squirrel",
    "starfish", "submarine", "sunflower", "tambourine", "tangerine", "telescope",
    "thimble", "toboggan", "tortoise", "toucan", "trampoline", "trombone", "tulip",
    "turquoise", "ukulele", "umbrella", "unicycle", "vanilla", "volcano", "vulture",
    "waffle", "walrus", "wasabi", "watermelon", "wombat", "xylophone", "yak", "zeppelin",
    "zucchini",
)


class Haystack(Protocol):
    def contains(self, answer: str) -> bool: ...


@dataclass(frozen=True)
class Needle:
    """A concrete needle of one trial."""

    text: str
    answer: str
    key: str | None
    question: str
    distractor: bool = False


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _digits(rng: random.Random, digits: int) -> str:
    first = str(rng.randint(1, 9))
    return first + "".join(str(rng.randint(0, 9)) for _ in range(digits - 1))


_KEYS: dict[str, Callable[[random.Random, KeySpec], str]] = {
    "word_pair": lambda rng, spec: f"{rng.choice(WORDS)}-{rng.choice(WORDS)}",
    "uuid": lambda rng, spec: _uuid(rng),
    "number": lambda rng, spec: _digits(rng, spec.digits),
    "names": lambda rng, spec: rng.choice(spec.names or [""]),
}
KEY_CAPACITY = {"word_pair": len(WORDS) ** 2 // 2, "uuid": 10**9}
"""Distinct keys a kind can give (well within reach of 1,000 redraws); ``number`` and
``names`` are counted from the spec (``key_capacity``)."""


def value_capacity(spec: ValueSpec) -> int:
    """Distinct values a kind can give (``fixed``: one)."""
    if spec.kind == "random_word":
        return len(WORDS)
    if spec.kind == "choice":
        return len(spec.values or ())
    if spec.kind == "random_number":
        return int(9 * 10 ** (spec.digits - 1)) // 2
    return 1 if spec.kind == "fixed" else KEY_CAPACITY["uuid"]


def key_capacity(spec: KeySpec) -> int:
    """Distinct keys a ``KeySpec`` can give."""
    if spec.kind == "names":
        return len(spec.names or ())
    if spec.kind == "number":
        return int(9 * 10 ** (spec.digits - 1)) // 2
    return int(KEY_CAPACITY[spec.kind])


_GENERATORS: dict[str, Callable[[random.Random, ValueSpec], str]] = {
    "random_number": lambda rng, spec: _digits(rng, spec.digits),
    "random_word": lambda rng, spec: rng.choice(WORDS),
    "choice": lambda rng, spec: rng.choice(spec.values or [""]),
    "uuid": lambda rng, spec: _uuid(rng),
    "fixed": lambda rng, spec: spec.value or "",
}


def occurs_in(answer: str, haystack_lower: bytes) -> bool:
    """Whether ``answer`` appears as a whole word in a lower-cased haystack.

    ``bytes.find`` scans tens of MB in milliseconds; the word-boundary check runs only
    at the rare hits.
    """
    needle = answer.encode().lower()  # ASCII-only lowering, as ``bytes.lower`` of the haystack
    if not needle:
        return False
    start = haystack_lower.find(needle)
    while start != -1:
        end = start + len(needle)
        before = haystack_lower[start - 1 : start] if start else b""
        after = haystack_lower[end : end + 1]
        if not _WORDISH.match(before) and not _WORDISH.match(after):
            return True
        start = haystack_lower.find(needle, start + 1)
    return False


_WORDISH = re.compile(rb"[a-z0-9]")


def _render(template: str, value: str, key: str | None) -> str:
    out = template.replace("{value}", value)
    return out.replace("{key}", key) if key is not None else out


class _Bytes:
    """Adapter: a lower-cased byte string as a ``Haystack``."""

    def __init__(self, lower: bytes) -> None:
        self.lower = lower

    def contains(self, answer: str) -> bool:
        return occurs_in(answer, self.lower)


def draw_needles(
    experiment: Experiment, seed: int, haystack: Haystack | bytes
) -> list[Needle]:
    """The needles of one trial, in config order, each with a distinct fresh value.

    Random values that occur in the haystack (or repeat within the trial) are redrawn;
    a fixed answer that occurs in the haystack is a config error, since the model could
    find it without reading the needle.
    """
    if isinstance(haystack, bytes):
        haystack = _Bytes(haystack.lower())
    rng = random.Random(seed)
    used: set[str] = set()
    out: list[Needle] = []
    for index, spec in enumerate(experiment.needles):
        for _ in range(spec.count):
            key = spec.key
            if isinstance(key, KeySpec):  # drawn first, so values avoid the keys too
                key = _draw_key(key, rng, used, haystack, index)
                used.add(key.lower())
            value = _draw_value(spec, rng, used, haystack, index)
            answer = value if spec.value is not None else (spec.answer or "")
            if spec.value is None and haystack.contains(answer):
                raise HaystackError(
                    f"needles[{index}].answer: {answer!r} occurs in the haystack, "
                    "so finding it proves nothing; choose another answer or haystack"
                )
            used.add(answer.lower())
            out.append(
                Needle(
                    text=_render(spec.text, value, key),
                    answer=answer,
                    key=key,
                    question=_render(spec.question, value, key),
                    distractor=spec.distractor,
                )
            )
    return out


def _draw_value(
    spec: NeedleSpec, rng: random.Random, used: set[str], haystack: Haystack, index: int
) -> str:
    if spec.value is None:
        return ""
    generate = _GENERATORS[spec.value.kind]
    for _ in range(1000):
        value = generate(rng, spec.value)
        if value.lower() in used and spec.value.kind != "fixed":
            continue
        if haystack.contains(value):
            if spec.value.kind == "fixed":
                raise HaystackError(
                    f"needles[{index}].value.value: {value!r} occurs in the haystack, "
                    "so finding it proves nothing; choose another value or haystack"
                )
            continue
        return value
    raise HaystackError(
        f"needles[{index}].value: cannot draw {spec.count} distinct values absent from the "
        f"haystack (kind {spec.value.kind}); use more digits or another kind"
    )


def _draw_key(
    spec: KeySpec, rng: random.Random, used: set[str], haystack: Haystack, index: int
) -> str:
    """A key no other needle of the trial has and the haystack does not hold."""
    generate = _KEYS[spec.kind]
    pool = [n for n in spec.names or () if n.lower() not in used]
    for _ in range(1000):
        key = rng.choice(pool) if spec.kind == "names" and pool else generate(rng, spec)
        if key.lower() in used:
            continue
        if haystack.contains(key):
            if spec.kind == "names":
                pool.remove(key)
            continue
        return key
    raise HaystackError(
        f"needles[{index}].key: cannot draw distinct keys absent from the haystack "
        f"(kind {spec.kind}); give more names or another kind"
    )


def question_for(experiment: Experiment, needles: list[Needle]) -> str:
    """The question asked: the prompt's override, else the needles' distinct questions."""
    if experiment.prompt.question:
        asked = [n for n in needles if not n.distractor]
        keys = ", ".join(dict.fromkeys(n.key for n in asked if n.key))
        return experiment.prompt.question.replace("{keys}", keys).replace(
            "{count}", str(len(asked)))
    seen: list[str] = []
    for n in needles:
        if n.question and not n.distractor and n.question not in seen:
            seen.append(n.question)
    return " ".join(seen) or "What is the hidden fact in the document?"
