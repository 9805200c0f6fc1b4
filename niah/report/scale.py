"""What a score means and what a model is called, wherever a report shows them.

Scores. niah scores are the fraction of needles found (0..1). Results imported from
gkamradt's harness carry an LLM judge's score instead (1..10, ``extra["judge_score"]``),
stored as ``(judge - 1) / 9`` so that a score-1 miss sits at 0, at the bottom of the
colour scale. Such a model is drawn against a 1-10 judge colour bar and its cells,
titles and tables give judge scores (``JUDGE``), never "fraction of needles found".
Rows imported before that mapping (``judge / 10``) are mapped again from the judge
score each row keeps (``normalize_judge``), so old imports draw the same way.

Names. A ``scripted/`` model is niah's deterministic fake: every figure and table
names it ``scripted/x (scripted fake, not a model)`` (``display_name``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from niah.importers import JUDGE_KEY, judge_to_score

SCRIPTED_NOTE = "scripted fake, not a model"


@dataclass(frozen=True)
class ScoreScale:
    """How a model's scores are shown: as recall (0..1) or as judge scores (1..10)."""

    judge: bool

    @property
    def colorbar_label(self) -> str:
        return ("Judge score (1-10, as imported; 1 = miss)" if self.judge
                else "Score (fraction of needles found)")

    def ticks(self) -> tuple[list[float], list[str]]:
        """Colour-bar ticks: positions on the 0..1 colour scale and their labels."""
        if self.judge:
            return [(k - 1) / 9 for k in range(1, 11)], [str(k) for k in range(1, 11)]
        return [0.0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.5", "0.75", "1"]

    def value(self, score: float) -> float:
        """A stored score as shown: itself, or the judge score it maps back to."""
        return 1.0 + 9.0 * score if self.judge else score

    def cell(self, score: float) -> str:
        """Text written in a heatmap cell."""
        return f"{self.value(score):.2g}"

    def mean(self, score: float) -> str:
        """A model's overall score, e.g. ``recall 62.5%`` or ``mean judge score 7.3/10``."""
        if math.isnan(score):
            return "nothing scored"
        if self.judge:
            return f"mean judge score {self.value(score):.1f}/10"
        return f"recall {score:.1%}"

    def table(self, score: Any) -> str:
        """A score in a table cell: ``62.5%`` or ``7.3/10``; ``–`` when unknown."""
        if score is None or score is pd.NA or (isinstance(score, float) and math.isnan(score)):
            return "–"
        return f"{self.value(float(score)):.1f}/10" if self.judge else f"{float(score):.1%}"


RECALL = ScoreScale(judge=False)
JUDGE = ScoreScale(judge=True)


def judge_score(extra: Any) -> float | None:
    """The judge score a row's ``extra`` keeps (imports of either age), or None."""
    if not isinstance(extra, Mapping):
        return None
    value = extra.get(JUDGE_KEY)
    if value is None and isinstance(extra.get("gkamradt"), Mapping):
        value = extra["gkamradt"].get("score")
    return float(value) if isinstance(value, int | float) else None


def _is_judged(extras: pd.Series, scored: pd.Series) -> bool:
    judged = [judge_score(e) is not None for e, s in zip(extras, scored, strict=True) if s]
    return bool(judged) and all(judged)


def normalize_judge(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every judge-scored row's score set to ``(judge - 1) / 9`` (a copy if
    any row changes; the same frame otherwise)."""
    if "extra" not in df.columns or not len(df):
        return df
    judged = [judge_score(e) for e in df["extra"]]
    scored = df["score"].notna().to_numpy()
    new = [judge_to_score(j) if j is not None and s else old
           for j, s, old in zip(judged, scored, df["score"], strict=True)]
    if all((a == b) or (a != a and b != b) for a, b in zip(new, df["score"], strict=True)):
        return df
    out = df.copy()
    out["score"] = pd.Series(new, index=df.index, dtype=float)
    return out


def scale_of(sub: pd.DataFrame) -> ScoreScale:
    """``JUDGE`` when every scored row of ``sub`` (one model) holds a judge score."""
    if "extra" not in sub.columns:
        return RECALL
    return JUDGE if _is_judged(sub["extra"], sub["score"].notna()) else RECALL


def is_scripted(model_id: str) -> bool:
    return model_id.partition("/")[0] == "scripted"


def display_name(label: str, model_id: str | None = None) -> str:
    """A series label as figures and tables show it; scripted fakes say what they are."""
    return f"{label} ({SCRIPTED_NOTE})" if is_scripted(model_id or label) else label


def display_name_of(df: pd.DataFrame, label: str) -> str:
    """``display_name`` of a series of a results frame (its model id decides)."""
    column = df["series"] if "series" in df.columns else df["model"]
    ids = df.loc[column == label, "model"]
    return display_name(label, str(ids.iloc[0]) if len(ids) else None)
