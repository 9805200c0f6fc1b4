"""Long context versus RAG: a model and its ``rag/`` twin, drawn and tabled together.

The twin's rows carry ``extra.rag`` (``niah.rag.builder``): which chunks came back and
whether each needle's did (``retrieval_recall``). A miss whose needle was retrieved
is the reader's failure; one whose needle was not is the retriever's. The figure
puts recall by length of both beside the twin's retrieval-recall heatmap (drawn by
``plot_heatmap`` on a frame whose score is the retrieval recall, so its axes, colours
and gray error cells are those of every other heatmap).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from niah.analysis import recall_by, select, series_labels
from niah.rag.config import PREFIX
from niah.report.heatmap import LABEL_PT, TITLE_PT, finish, new_figure, plot_heatmap
from niah.report.tables import esc, num, pct, wide
from niah.report.ticks import column_labels, unit_of, x_axis_label


def rag_facts(extra: Any) -> dict[str, Any]:
    """A row's ``extra.rag`` (empty for a full-context row)."""
    facts = extra.get("rag") if isinstance(extra, dict) else None
    return facts if isinstance(facts, dict) else {}


def retrieval_recall(df: pd.DataFrame) -> pd.Series:
    """Per row: the fraction of asked needles whose chunk was retrieved (NaN: not RAG, or
    retrieval failed)."""
    values = [rag_facts(e).get("retrieval_recall") for e in df["extra"]]
    return pd.Series([math.nan if v is None else float(v) for v in values], index=df.index,
                     dtype=float)


def rag_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(model, its rag/ twin) for every twin whose model is in ``df`` too."""
    labels = series_labels(df)
    return [(label[len(PREFIX):], label) for label in labels
            if label.startswith(PREFIX) and label[len(PREFIX):] in labels]


def retrieval_frame(df: pd.DataFrame, twin: str) -> tuple[str, pd.DataFrame]:
    """The twin's rows with retrieval recall as their score, under their own label."""
    _, sub = select(df, twin)
    out = sub.copy()
    out["score"] = retrieval_recall(sub)
    label = f"{twin} (retrieval)"
    out["model"] = out["series"] = label
    return label, out


def plot_rag_pair(df: pd.DataFrame, model: str, twin: str) -> tuple[Figure, Figure]:
    """Recall by length of both (and the twin's retrieval recall), and the twin's
    retrieval-recall heatmap."""
    label, frame = retrieval_frame(df, twin)
    heat = plot_heatmap(frame, label, title="Retrieval recall: was the needle's chunk given?")
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    lengths = sorted(int(x) for x in df["context_length"].unique())
    xs = np.arange(len(lengths))
    series = [(model, recall_by(df, model, "context_length"), "-", "o"),
              (twin, recall_by(df, twin, "context_length"), "-", "s"),
              (f"{twin}: retrieval", frame.groupby("context_length")["score"].mean(), "--", "^")]
    for name, values, style, marker in series:
        ys = [float(values.get(n, math.nan)) for n in lengths]
        ax.plot(xs, ys, style, marker=marker, label=name)
    unit = unit_of(df)  # seconds for a video or audio haystack
    ax.set_xticks(xs, column_labels(lengths, unit))
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(x_axis_label(lengths, unit), fontsize=LABEL_PT)
    ax.set_ylabel("Recall", fontsize=LABEL_PT)
    ax.set_title("Long context versus RAG: recall by "
                 + ("duration" if unit == "seconds" else "length"), fontsize=TITLE_PT)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return finish(fig, [ax]), heat


def pair_table(df: pd.DataFrame, model: str, twin: str) -> pd.DataFrame:
    """Per length: recall of both, the twin's retrieval recall, its misses split into
    retriever (needle not retrieved) and reader (retrieved, still missed), and the
    mean prompt tokens each approach spent."""
    _, full = select(df, model)
    _, rag = select(df, twin)
    rag = rag.assign(retrieval=retrieval_recall(rag))
    scored = rag[rag["score"].notna()]
    rows = []
    for length in sorted(int(x) for x in df["context_length"].unique()):
        f, r = full[full["context_length"] == length], rag[rag["context_length"] == length]
        s = scored[scored["context_length"] == length]
        missed = s[s["score"] < 1]
        rows.append({
            "context_length": length,
            "recall_full": float(f["score"].mean()),
            "recall_rag": float(r["score"].mean()),
            "retrieval_recall": float(r["retrieval"].mean()),
            "retriever_misses": int((missed["retrieval"] < 1).sum()),
            "reader_misses": int((missed["retrieval"] >= 1).sum()),
            "prompt_tokens_full": float(f["prompt_tokens"].mean()),
            "prompt_tokens_rag": float(r["prompt_tokens"].mean()),
        })
    return pd.DataFrame(rows)


def rag_section(df: pd.DataFrame, images: dict[str, tuple[bytes, bytes]],
                img: Any) -> str:
    """The report's "Long context versus RAG" section (HTML), one part per pair."""
    parts = ["<h2>Long context versus RAG</h2>",
             '<p class="note">The RAG twin answers the same trials (byte-identical contexts) '
             "from the retrieved chunks only. A retriever miss: the needle's chunk was not "
             "retrieved; a reader miss: it was, and the answer still missed.</p>"]
    for model, twin in rag_pairs(df):
        table = pair_table(df, model, twin)
        head = ("<tr><th>Length</th><th>Recall, full context</th><th>Recall, RAG</th>"
                "<th>Retrieval recall</th><th>Retriever misses</th><th>Reader misses</th>"
                "<th>Prompt tokens, full</th><th>Prompt tokens, RAG</th></tr>")
        body = "".join(
            f'<tr><td class="num">{num(int(r["context_length"]))}</td>'
            f'<td class="num">{pct(r["recall_full"])}</td>'
            f'<td class="num">{pct(r["recall_rag"])}</td>'
            f'<td class="num">{pct(r["retrieval_recall"])}</td>'
            f'<td class="num">{num(int(r["retriever_misses"]))}</td>'
            f'<td class="num">{num(int(r["reader_misses"]))}</td>'
            f'<td class="num">{num(round(r["prompt_tokens_full"]))}</td>'
            f'<td class="num">{num(round(r["prompt_tokens_rag"]))}</td></tr>'
            for r in table.to_dict("records"))
        parts.append(f"<h3>{esc(model)} and {esc(twin)}</h3>")
        if twin in images:
            lines, heat = images[twin]
            parts.append(img(lines, f"Recall by length, {model} and {twin}"))
            parts.append(img(heat, f"Retrieval recall of {twin}"))
        parts.append(wide(f"<table>{head}{body}</table>"))
    return "".join(parts)
