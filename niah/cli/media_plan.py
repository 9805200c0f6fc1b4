"""``niah plan`` for a video or audio haystack: durations, frames or seconds per trial,
estimated tokens and cost per model, and what a model cannot take refused up front."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from niah.config import Experiment
from niah.fmt import duration, money, tokens
from niah.media.builder import MediaBuilder
from niah.media.estimate import MediaEstimate, estimate_media
from niah.media.sources import open_media_source
from niah.plan import plan


def _tokens(n: int | None) -> str:
    return "unknown" if n is None else tokens(n, approx=True)


def media_plan(experiment: Experiment) -> int:
    media = experiment.media
    assert media is not None
    trials = plan(experiment)
    source = open_media_source(media, experiment)  # an unreadable file fails here, once
    # every model is checked before anything is printed: bad input gives one error line
    estimates: list[MediaEstimate] = []
    for model in experiment.model:
        builder = MediaBuilder(experiment, model, source)
        estimates.append(estimate_media(experiment, builder, trials))
    durations = experiment.grid.lengths()
    fps = getattr(media, "fps", None)
    per = (f"{fps:g} fps: {round(max(durations) * fps):,} frames in the longest trial"
           if fps else f"{max(durations):,} s of audio in the longest trial")
    article = "an" if media.kind == "audio" else "a"
    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 120)
    lines = [
        f"[bold]{experiment.name}[/bold]: {len(durations)} durations x "
        f"{len(experiment.grid.depths())} depths x {experiment.grid.repeats} repeats = "
        f"{len(trials)} trials per model, {article} {media.kind} haystack ({per})",
        f"durations: {', '.join(duration(d) for d in durations)}",
        f"depths:  {', '.join(f'{d:g}%' for d in experiment.grid.depths())}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True)
    table = Table("model", "sends", "trials", "input tokens", "largest prompt", "est. cost")
    for est in estimates:
        table.add_row(escape(est.model), est.form, str(est.trials), _tokens(est.prompt_tokens),
                      _tokens(est.largest_prompt), money(est.cost_usd))
    console.print(table)
    console.print("input tokens: the providers' documented media counts (Gemini 258 per frame "
                  "and 32 per second of audio; OpenAI and Anthropic images by size); a "
                  "cascade's transcript is counted when it is made", soft_wrap=True)
    return 0
