"""The long-context-versus-RAG part of a report, from a real (scripted) run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from niah.analysis import load_results, summarize
from niah.config import load_experiment
from niah.report.build import build_report
from niah.report.rag import pair_table, rag_pairs
from niah.runner import run


def test_report_pairs_a_model_with_its_twin(tmp_path: Path) -> None:
    exp = load_experiment({
        "name": "pair", "model": ["scripted/perfect",
                                  {"id": "rag/scripted/perfect",
                                   "rag": {"top_k": 1, "chunk_tokens": 32}}],
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "Which number is special and magic?"}],
        "grid": {"context_lengths": [500, 1500], "depth_percents": [0, 50, 100]},
    })
    out = run(exp, tmp_path / "run", cache_dir=tmp_path)
    df = load_results(out)
    assert rag_pairs(df) == [("scripted/perfect", "rag/scripted/perfect")]
    table = pair_table(df, "scripted/perfect", "rag/scripted/perfect")
    assert list(table["context_length"]) == [500, 1500]
    assert (table["recall_full"] == 1.0).all()
    # the scripted reader is perfect: every RAG miss is the retriever's
    assert (table["reader_misses"] == 0).all()
    assert (table["recall_rag"] == table["retrieval_recall"]).all()
    assert (table["prompt_tokens_rag"] < table["prompt_tokens_full"] / 3).all()
    summary = summarize(df).set_index("model")
    assert pd.isna(summary.loc["scripted/perfect", "retrieval_recall"])
    assert summary.loc["rag/scripted/perfect", "retrieval_recall"] == table[
        "retrieval_recall"].mean()
    report = build_report([out])
    names = {p.name for p in report.files}
    assert {"rag_recall_by_length_rag_scripted_perfect.png",
            "rag_retrieval_rag_scripted_perfect.png", "rag_rag_scripted_perfect.csv",
            "comparison.png"} <= names
    html = (out / "report" / "report.html").read_text()
    assert "Long context versus RAG" in html and "Retrieval recall (RAG)" in html
