"""Bad RAG input: one line, exit 2, at plan time where it can be known then."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from niah.cli.main import main
from niah.config import load_experiment
from niah.errors import ConfigError
from niah.rag.builder import check_rag

NEEDLE = {"text": "The special magic number is {value}.",
          "question": "What is the special magic number?"}


def _config(model: Any) -> dict[str, Any]:
    return {"name": "bad", "model": model, "needles": [NEEDLE],
            "grid": {"context_lengths": [1000], "depth_percents": [50]}}


@pytest.mark.parametrize("model,message", [
    ({"id": "rag/scripted/perfect", "rag": {"top_k": 0}},
     "model[0].rag.top_k: Input should be greater than or equal to 1"),
    ({"id": "rag/scripted/perfect", "context_window": 600, "rag": {"chunk_tokens": 256}},
     "model.rag.chunk_tokens: rag/scripted/perfect: top_k 4 x chunk_tokens 256"),
    ({"id": "rag/scripted/perfect", "rag": {"chunk_tokens": 64, "overlap": 64}},
     "overlap must be smaller than chunk_tokens"),
    ({"id": "rag/scripted/perfect", "rag": {"retriever": "dense"}},
     "retriever dense needs embeddings"),
    ({"id": "scripted/perfect", "rag": {}}, "rag settings need a rag/ id"),
    ("rag/perfect", "expected rag/provider/model"),
])
def test_plan_refuses_in_one_line_with_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], model: Any, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_config(model)))
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_media_haystack_is_refused_for_a_twin_until_transcripts_exist() -> None:
    exp = load_experiment(_config(["scripted/perfect", "rag/scripted/perfect"]))
    check_rag(exp, exp.model[0])  # the full-context model is not concerned
    media = exp.model_copy(update={"haystack": SimpleNamespace(kind="video")})
    with pytest.raises(ConfigError, match=r"model\[1\].id: .*RAG over a video haystack"):
        check_rag(media, media.model[1])
