"""The builder of video and audio trials: a ``niah.prompt.Builder`` whose context is media.

A trial's length is a duration in seconds. The needle's text and value are drawn as
for text (seeded per trial, the value absent from the haystack's own text), the
source writes the trial's files in the form the model takes (``Backend.media_form``),
and the prompt is the template with nothing at ``{context}``: the media goes there
(``BuiltPrompt.media_at``). ``prompt_sha256`` covers the files' sha256s, so the
response cache never mistakes one trial's media for another's; ``prompt_tokens`` is
the text's tokens plus the provider's documented media count (``Backend.media_tokens``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from niah.backends.base import Backend
from niah.backends.registry import backend_class
from niah.config import Experiment, MediaHaystackSpec, ModelSpec
from niah.errors import ConfigError, HaystackError
from niah.haystack.template import render_parts
from niah.media.base import MediaSource, MediaSummary, MediaTrial
from niah.media.sources import media_cache_dir, open_media_source
from niah.needles import draw_needles, question_for
from niah.plan import Trial
from niah.prompt import BuiltPrompt, KeepsLast, PlacedNeedle
from niah.tokenizers import Tokenizer, tokenizer_for

CHAT_OVERHEAD_PER_MESSAGE = 4
CHAT_OVERHEAD_REPLY = 3
DEFAULT_FRAME_SIZE = (1280, 720)


def media_form_of(spec: ModelSpec, media: MediaHaystackSpec) -> str:
    """How ``spec`` takes ``media``, or the one-line refusal ``plan`` prints (a RAG twin
    takes it as its answering cascade does)."""
    if spec.is_rag:
        if spec.inner.cascade_stage is None:
            from niah.rag.config import media_refusal

            raise ConfigError("model.id", media_refusal(spec.id, media.kind))
        spec = spec.inner
    cls = backend_class(spec)
    form = cls.media_form(spec, media.kind) if cls is not None else None
    if form is None:
        hint = "ocr+" if media.kind == "video" else "asr+"
        raise ConfigError("model.id", f"{spec.id} takes no {media.kind} input; use a model "
                                      f"that does, or the cascade {hint}{spec.id}")
    return form


def check_durations(experiment: Experiment, source: MediaSource) -> None:
    """Refuse a duration longer than the media when ``too_short: refuse``."""
    media = experiment.media
    longest_s = source.max_duration_s()
    if media is None or longest_s is None or media.too_short != "refuse":
        return
    longest = max(experiment.grid.lengths())
    if longest > longest_s:
        raise ConfigError("grid.durations", f"{longest} s is longer than the {media.kind} "
                          f"({longest_s:g} s); use shorter durations or haystack.too_short: "
                          "loop")


class MediaBuilder(KeepsLast):
    """Builds the media trials of one experiment for one model."""

    def __init__(self, experiment: Experiment, model: ModelSpec | None = None,
                 source: MediaSource | None = None, out_dir: Path | None = None) -> None:
        media = experiment.media
        if media is None:
            raise HaystackError("haystack: MediaBuilder takes video or audio haystacks")
        self.experiment = experiment
        self.media: MediaHaystackSpec = media
        self.model = model or experiment.model[0]
        self.form = media_form_of(self.model, media)
        self.tokenizer: Tokenizer = tokenizer_for(experiment, self.model)
        self.source = source if source is not None else open_media_source(media, experiment)
        check_durations(experiment, self.source)
        self.out_dir = out_dir or media_cache_dir() / "trials"
        self._haystack_text: bytes | None = None
        self._overhead: dict[str, int] = {}

    @property
    def backend(self) -> type[Backend] | None:
        return backend_class(self.model.inner)  # a RAG twin: its answering cascade

    def haystack_text(self) -> bytes:
        """The source's own text, lower-cased, read once: needle values must avoid it."""
        if self._haystack_text is None:
            self._haystack_text = self.source.text_sample().lower().encode()
        return self._haystack_text

    def summary(self, trial: Trial, media_trial: MediaTrial | None = None) -> MediaSummary:
        """What ``trial``'s media amounts to (from its built parts when given)."""
        fps = getattr(self.media, "fps", 0.0)
        size = (getattr(self.media, "width", 0), getattr(self.media, "height", 0))
        parts = media_trial.parts if media_trial is not None else ()
        seconds = media_trial.duration_s if media_trial is not None else trial.context_length
        return MediaSummary.of(self.media.kind, self.form, parts, seconds, fps, size)

    def media_tokens(self, summary: MediaSummary) -> int | None:
        cls = self.backend
        return cls.media_tokens(self.model.inner, summary) if cls is not None else None

    def overhead_tokens(self, question: str) -> int:
        """Prompt tokens outside the media: system, template, question, chat markup."""
        if question not in self._overhead:
            p = self.experiment.prompt
            n = self.tokenizer.count("".join(render_parts(p.template, [], question)[0]))
            n += CHAT_OVERHEAD_PER_MESSAGE + CHAT_OVERHEAD_REPLY
            if p.system:
                n += self.tokenizer.count(p.system) + CHAT_OVERHEAD_PER_MESSAGE
            self._overhead[question] = n
        return self._overhead[question]

    def estimate_tokens(self, trial: Trial) -> tuple[int, int | None]:
        """(text tokens, media tokens or None) of ``trial`` without building its media."""
        needles = draw_needles(self.experiment, trial.seed, self.haystack_text())
        question = question_for(self.experiment, needles)
        return self.overhead_tokens(question), self.media_tokens(self.summary(trial))

    def _build(self, trial: Trial) -> BuiltPrompt:
        needles = draw_needles(self.experiment, trial.seed, self.haystack_text())
        needle = needles[0]
        question = question_for(self.experiment, needles)
        built = self.source.build(float(trial.context_length), trial.requested_depth,
                                  needle.text, needle.answer, trial.seed, self.form,
                                  self.out_dir, depths=self.experiment.grid.depths())
        p = self.experiment.prompt
        pieces, at = render_parts(p.template, [], question)
        messages = [{"role": "system", "content": p.system}] if p.system else []
        messages.append({"role": "user", "content": "".join(pieces)})
        media_tokens = self.media_tokens(self.summary(trial, built)) or 0
        where = built.needle
        placed = PlacedNeedle(text=needle.text, answer=needle.answer, key=needle.key,
                              token_offset=0, actual_depth=round(where.actual_depth, 4),
                              time_s=where.time_s, index=where.index)
        return BuiltPrompt(
            trial=trial, context_span=(at, at), context_tokens=media_tokens,
            messages=messages, prompt_tokens=self.overhead_tokens(question) + media_tokens,
            needles=[placed], actual_depth=placed.actual_depth,
            prompt_sha256=media_digest(messages, built, at), question=question,
            haystack_tokens=media_tokens, media=built.parts, media_at=at,
            media_form=self.form, length_unit="seconds",
        )


def media_digest(messages: list[dict[str, str]], built: MediaTrial, at: int) -> str:
    """sha256 of the messages and, in order, each part's content hash and placement."""
    parts = [[p.kind, p.mime, p.sha256, p.start_s, p.duration_s, p.label] for p in built.parts]
    blob = json.dumps({"messages": messages, "media": parts, "at": at}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
