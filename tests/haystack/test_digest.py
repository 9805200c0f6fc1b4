"""prompt_sha256: the fast digest hashes exactly what ``prompt_digest`` defines.

The recorded digests were computed by the builder before the fast path existed
(commit 4de864e, which hashed every prompt's full text). They change, legitimately,
when the corpus, its sentence ends or the needles change; the fast path alone never
changes them.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from niah import load_experiment, plan
from niah.haystack import digest
from niah.haystack.builder import PromptBuilder
from niah.haystack.digest import PromptHasher, prompt_digest

NEEDLE = {
    "text": "The special magic number is {value}.",
    "question": "What is the special magic number?",
}
CASES: dict[str, dict[str, Any]] = {
    "default": {"grid": {"context_lengths": [100, 5000, 20000], "depth_percents": [0, 33.3, 100]}},
    "multi-needle": {
        "needles": [
            {
                "text": "The secret word is {value}.",
                "question": "q",
                "value": {"kind": "random_word"},
                "count": 3,
            }
        ],
        "grid": {"context_lengths": [3000, 12000], "depth_percents": [25, 75]},
    },
    "system-and-question-first": {
        "prompt": {
            "system": "You are {brace} helpful.",
            "template": "Q: {question}\nDoc:\n{context}\nQ again: {question}",
        },
        "grid": {"context_lengths": [2000, 9000], "depth_percents": [40]},
    },
    "context-twice": {
        "prompt": {"template": "{context}\n---\n{context}\n{question}"},
        "grid": {"context_lengths": [1500], "depth_percents": [60]},
    },
    "unicode": {
        "haystack": {
            "kind": "noise",
            "filler": "Le café № 一二 était fermé 🙂🎉. Ñandú — «Ça va?» dit-elle. 東京は晴れ。",
        },
        "grid": {"context_lengths": [500, 30000], "depth_percents": [0, 50, 100]},
    },
}
RECORDED: dict[str, list[str]] = {
    "context-twice": [
        "0442c6b8fc1f2051",
    ],
    "default": [
        "67a8604bf3067df9",
        "da8f913a66db0213",
        "840a0f161786c897",
        "d013a37bc1e4f366",
        "8d177f5c40ea3a2b",
        "65fffe00eff17965",
        "20f360b931f8e151",
        "c2d3b28df81c96fb",
        "c3e03412992d2f0c",
    ],
    "multi-needle": [
        "4012e07af3bc6c10",
        "d6c0e016276c9b8a",
        "c019a31bbc70a2b9",
        "7d6f80d39873ed87",
    ],
    "system-and-question-first": [
        "166ebdfc8a5ea10e",
        "afcb6f77d93c46ef",
    ],
    "unicode": [
        "260383fb24f68e26",
        "fbfc8fee745a7422",
        "4056cf155b2ead81",
        "1b984680d6fdfa2d",
        "bfe2b4584b771887",
        "de28aa316bac4d5c",
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_digests_equal_those_of_the_full_text_hash(case: str) -> None:
    experiment = load_experiment(
        {
            "name": "d",
            "model": "openai/gpt-4",
            "tokenizer": "tiktoken:cl100k_base",
            "needles": [NEEDLE],
            **CASES[case],
        }
    )
    builder = PromptBuilder(experiment)
    digests = []
    for trial in plan(experiment):
        bp = builder.build(trial)
        assert bp.prompt_sha256 == prompt_digest(bp.messages)
        digests.append(bp.prompt_sha256[:16])
    assert digests == RECORDED[case]


@pytest.mark.parametrize("seed", range(20))
def test_hasher_equals_hashing_the_concatenated_prompt(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random layouts over multibyte text, cut anywhere (even inside a character)."""
    monkeypatch.setattr(digest, "MARK", 16)  # many saved states, reused across prompts
    data = ("Ça va? 東京は晴れ。🙂 " * 40).encode()
    hasher = PromptHasher(data)
    rng = random.Random(seed)
    for _ in range(10):
        head = rng.choice([b"user\0", b"system\0Be brief.\0user\0<doc>\n"])
        segments: list[tuple[str, tuple[int, int] | None]] = []
        at = 0 if rng.random() < 0.7 else rng.randrange(50)
        while at < len(data) and len(segments) < 6:
            end = min(len(data), at + rng.randrange(1, 200))
            segments.append((data[at:end].decode("utf-8", "replace"), (at, end)))
            if rng.random() < 0.5:
                segments.append((rng.choice(["The code is 42.", " ¿Qué? "]), None))
            at = end + (0 if rng.random() < 0.6 else rng.randrange(30))
        tail = "\n¿Qué es?".encode() + b"\0"
        whole = head + "".join(t for t, _ in segments).encode() + tail
        assert hasher.digest(head, segments, tail) == hashlib.sha256(whole).hexdigest()
