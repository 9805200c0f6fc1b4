"""The builder: (experiment, trial) -> a context of exactly N tokens, needles at depths.

How exactness is kept without re-tokenizing the corpus or the context:

* The haystack is whole sentences from the start of the corpus (so every prompt
  shares its prefix up to the first needle, which prompt caches reuse), topped up
  by a run of whole sentences from further on whose token count fills the gap
  exactly. Only when no such run exists does the context end mid-sentence.
* Token counts of corpus stretches are differences of token indices. Only short
  windows around each junction (a needle, a splice, the two ends) are re-encoded,
  each after a few tokens of real preceding text as an anchor, so merges across a
  junction and tokenizers that add a prefix space are both counted right.
* If the total is off (a needle merged with its neighbour), the haystack budget is
  corrected and the context rebuilt; this converges in one or two rounds.
* The fitted context is a layout of segments (text, or corpus spans decoded once at
  the end). The user message is joined once from the template and those segments
  (``BuiltPrompt.context`` is a span of it, not a copy), ``prompt_sha256`` hashes the
  corpus bytes behind them (``digest``), and the corpus prefix before the first
  needle gives the prompt-cache cuts (``cuts``).

Tests re-encode hundreds of built contexts to prove the count for tiktoken and
Hugging Face tokenizers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from niah.config import Experiment, ModelSpec
from niah.errors import HaystackError
from niah.haystack.corpus import Corpus, _encode_chunks, load_corpus, unique_ints
from niah.haystack.cuts import LONG_PROMPT_TOKENS, CutTable, tame_heap
from niah.haystack.digest import PromptHasher, Segment, prompt_digest
from niah.haystack.sources import Source, open_source
from niah.haystack.template import render_parts, render_user
from niah.needles import Needle, draw_needles, question_for
from niah.plan import Trial
from niah.prompt import BuiltPrompt, KeepsLast, PlacedNeedle
from niah.tokenizers import Tokenizer, tokenizer_for

_Layout = list[tuple[str | None, tuple[int, int] | None]]
"""The context as pieces: text (None: not decoded yet) and the corpus byte range."""

MARGIN = 8
"""Tokens of stable text kept on each side of a junction in its re-encoded window."""
FILL_RESERVE = 4096
"""Extra corpus tokens beyond the longest context, for the sentences that fill the gap."""
BATCH_NEEDLES = 16
"""From this many needles, the windows around them are encoded in one batch."""
CHAT_OVERHEAD_PER_MESSAGE = 4
CHAT_OVERHEAD_REPLY = 3


@dataclass
class _Window:
    """Text around junctions, re-encoded; stable corpus stretches lie between windows."""

    parts: list[str] = field(default_factory=list)
    marks: list[tuple[int, int]] = field(default_factory=list)
    """(needle index, character offset in the window text)."""
    clean_after: int = 0
    """Tokens of the stable corpus stretch that follows the window."""

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _holds(sorted_arr: np.ndarray, value: int) -> bool:
    i = int(np.searchsorted(sorted_arr, value))
    return i < len(sorted_arr) and int(sorted_arr[i]) == value


class PromptBuilder(KeepsLast):
    """Builds the prompts of one experiment for one model (its tokenizer)."""

    def __init__(
        self,
        experiment: Experiment,
        model: ModelSpec | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self.experiment = experiment
        self.model = model or experiment.model[0]
        self.tokenizer = tokenizer or tokenizer_for(experiment, self.model)
        self.source: Source = open_source(experiment.text_haystack, experiment)
        self._corpus: Corpus | None = None
        self._overhead: dict[str, int] = {}

    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            need = max(self.experiment.grid.lengths()) + FILL_RESERVE
            self._corpus = load_corpus(self.source, self.tokenizer, need)
        return self._corpus

    @functools.cached_property
    def hasher(self) -> PromptHasher:
        return PromptHasher(self.corpus.data)

    @functools.cached_property
    def cut_table(self) -> CutTable:
        return CutTable(self.corpus)

    def overhead_tokens(self, question: str) -> int:
        """Prompt tokens outside the context: system, template, question, chat markup."""
        if question not in self._overhead:  # one question per experiment, as a rule
            self._overhead[question] = self._count_overhead(question)
        return self._overhead[question]

    def _count_overhead(self, question: str) -> int:
        p = self.experiment.prompt
        count = self.tokenizer.count
        n = count(render_user(p.template, "", question)) + CHAT_OVERHEAD_PER_MESSAGE
        if p.system:
            n += count(p.system) + CHAT_OVERHEAD_PER_MESSAGE
        return n + CHAT_OVERHEAD_REPLY

    def _build(self, trial: Trial) -> BuiltPrompt:
        corpus = self.corpus
        needles = draw_needles(self.experiment, trial.seed, corpus)
        question = question_for(self.experiment, needles)
        overhead = self.overhead_tokens(question)
        target = trial.context_length
        if self.experiment.grid.length_includes_prompt:
            target -= overhead
        needle_tokens = sum(self.tokenizer.count(" " + n.text) for n in needles)
        if target - needle_tokens < 1:
            what = "needles, template and question" if target < trial.context_length else "needles"
            raise HaystackError(
                f"grid.context_lengths: {trial.context_length} tokens cannot hold the {what} "
                f"({needle_tokens + trial.context_length - target} tokens); use longer contexts"
            )
        if target > LONG_PROMPT_TOKENS:
            tame_heap()
        haystack, total, layout, placed, stable = self._fit(
            target, target - needle_tokens, needles, trial
        )
        segments: list[Segment] = []
        for text, where in layout:  # decode the stable middles now, once
            if text is None and where is not None:
                text = corpus.decode(*where)
            segments.append((text or "", where))
        del layout
        system = self.experiment.prompt.system
        messages = [{"role": "system", "content": system}] if system else []
        # the user message is joined once, straight from the context's segments
        texts = [t for t, _ in segments]
        pieces, start = render_parts(self.experiment.prompt.template, texts, question)
        context_chars = sum(len(t) for t in texts)
        del texts
        messages.append({"role": "user", "content": "".join(pieces)})
        del pieces
        digest = self._digest(messages, segments, question)
        del segments
        main = next(
            (
                p
                for p, d in zip(placed, trial.needle_depths, strict=False)
                if d == trial.requested_depth
            ),
            placed[0],
        )
        return BuiltPrompt(
            trial=trial,
            context_span=(start, start + context_chars),
            context_tokens=total,
            messages=messages,
            prompt_tokens=total + overhead,
            needles=placed,
            actual_depth=main.actual_depth,
            prompt_sha256=digest,
            question=question,
            haystack_tokens=haystack,
            cache_cuts=self.cut_table.cuts(stable, start),
        )

    def _digest(
        self, messages: list[dict[str, str]], segments: list[Segment], question: str
    ) -> str:
        """``prompt_sha256``, hashing the corpus bytes of the context's segments."""
        pieces = self.experiment.prompt.template.split("{context}")
        if len(pieces) != 2:  # not before + context + after: hash the message itself
            return prompt_digest(messages)
        before, after = (render_user(p, "", question) for p in pieces)
        return self.hasher.messages_digest(messages, segments, before, after)

    def _fit(
        self, target: int, haystack: int, needles: list[Needle], trial: Trial
    ) -> tuple[int, int, _Layout, list[PlacedNeedle], int]:
        """Find the haystack budget whose context has exactly ``target`` tokens: the
        budget, the count, the context's layout, the needles, and how many tokens the
        context shares with the corpus prefix before its first needle."""
        tried: set[tuple[bool, int, int]] = set()
        total = -1
        # rare junction merges can make a count skip the target: then try the partial
        # filler, then needles one sentence earlier
        for whole_sentences, earlier in ((True, 0), (False, 0), (True, 1), (False, 1), (False, 2)):
            h = haystack
            pinned: list[int] | None = None
            for _ in range(10):
                if h < 1 or (whole_sentences, earlier, h) in tried:
                    break
                tried.add((whole_sentences, earlier, h))
                spans = self._spans(h, whole_sentences)
                layout, total, placed, positions, stable = self._assemble(
                    spans, needles, trial.needle_depths, h, pinned, earlier
                )
                if total == target:
                    return h, total, layout, placed, stable
                layout = []  # one round's text at a time (all of it where no word starts)
                # keep the needles where they are while the haystack end is adjusted,
                # so the count moves smoothly instead of jumping with a needle
                pinned = positions
                h += target - total
        for h in sorted(
            range(max(haystack - 24, 1), haystack + 25), key=lambda x: abs(x - haystack)
        ):
            for whole_sentences in (True, False):  # last resort: scan nearby budgets
                spans = self._spans(h, whole_sentences)
                layout, total, placed, _, stable = self._assemble(
                    spans, needles, trial.needle_depths, h
                )
                if total == target:
                    return h, total, layout, placed, stable
                layout = []
        raise HaystackError(
            f"cannot build exactly {target} tokens for trial {trial.trial_id} "
            f"(closest {total}); please report this with the config"
        )

    # -- haystack selection -------------------------------------------------------

    def _spans(self, h: int, whole: bool = True) -> list[tuple[int, int]]:
        """Corpus token spans totalling ``h`` tokens: the corpus prefix plus a filler.

        The prefix ends right after a sentence's punctuation; the filler is a run of
        whole sentences from further on with exactly the missing tokens (``whole``),
        or the start of one cut to length. It begins " Next" after the prefix's ".",
        or at a paragraph start when the prefix is empty, so the splice reads and
        tokenizes naturally.
        """
        c = self.corpus
        ends, spaced, paras = c.end_bounds, c.space_bounds, c.para_bounds
        k = int(np.searchsorted(ends, h, side="right")) - 1
        for kk in range(k, max(k - 8, -1), -1):
            stop = int(ends[kk]) if kk >= 0 else 0
            gap = h - stop
            if gap == 0:
                return [(0, stop)]
            heads = paras if stop == 0 else spaced
            first = int(np.searchsorted(heads, stop, side="right"))
            cand = heads[first : first + 4000]
            if len(cand) == 0:
                break
            if not whole:
                return [s for s in [(0, stop), (int(cand[0]), int(cand[0]) + gap)] if s[1] > s[0]]
            targets = cand + gap
            pos = np.searchsorted(ends, targets)
            ok = np.flatnonzero(
                (pos < len(ends)) & (ends[np.minimum(pos, len(ends) - 1)] == targets)
            )
            if len(ok):
                start = int(cand[ok[0]])
                return [s for s in [(0, stop), (start, start + gap)] if s[1] > s[0]]
        return [(0, h)]

    def _stable(self, first: int, last: int) -> tuple[int, int]:
        """The widest span between two word-start tokens (" word") within ``[first, last]``.

        A token that is one space then a non-space starts a pre-token for byte-level
        BPE and for tokenizers that add a prefix space alike, so a stretch from one to
        another tokenizes alone exactly as inside the corpus and its token count is a
        difference of indices. Everything else (the windows) is re-encoded. Any word
        start will do, not only a sentence start: the windows stay a few tokens long.
        """
        lo = self.corpus.word_start(first, last + 1)
        hi = self.corpus.word_start(first, last + 1, last=True)
        if lo is not None and hi is not None and lo < hi:
            return lo, hi
        return 0, 0

    def _space_at(self, byte_at: int) -> bool:
        return self.corpus.data[byte_at : byte_at + 1].isspace()

    # -- assembly and exact counting ------------------------------------------------

    def _assemble(
        self,
        spans: list[tuple[int, int]],
        needles: list[Needle],
        depths: tuple[float, ...],
        h: int,
        pinned: list[int] | None = None,
        earlier: int = 0,
    ) -> tuple[_Layout, int, list[PlacedNeedle], list[int], int]:
        corpus = self.corpus
        b = corpus.bounds
        # haystack positions (tokens of haystack before each needle) at sentence starts
        parts_b: list[np.ndarray] = []  # haystack coordinates of usable boundaries
        base = 0
        for ts, te in spans:
            lo = int(np.searchsorted(b, ts, side="left"))
            hi = int(np.searchsorted(b, te, side="right"))
            parts_b.append(b[lo:hi] - ts + base)
            base += te - ts
        parts_b.append(np.array([h]))
        starts_arr = unique_ints(np.concatenate(parts_b))
        positions = []
        for n, d in enumerate(depths):
            if d >= 100:
                positions.append(h)
                continue
            if pinned is not None and pinned[n] <= d / 100.0 * h and _holds(starts_arr, pinned[n]):
                positions.append(pinned[n])
                continue
            i = int(np.searchsorted(starts_arr, d / 100.0 * h, side="right")) - 1 - earlier
            positions.append(int(starts_arr[max(i, 0)]))
        order = sorted(range(len(needles)), key=lambda i: (positions[i], i))

        # split spans at needle positions: pieces are (ts, te) or needle index
        pieces: list[tuple[int, int] | int] = []
        base = 0
        queue = list(order)
        for ts, te in spans:
            cur = ts
            while queue and positions[queue[0]] - base <= te - ts:
                cut = ts + positions[queue[0]] - base
                if cut > cur:
                    pieces.append((cur, cut))
                    cur = cut
                pieces.append(queue.pop(0))
            if te > cur:
                pieces.append((cur, te))
            base += te - ts
        pieces.extend(queue)
        # the corpus prefix before the first needle is the same text in every prompt
        stable = min(min(positions, default=h), spans[0][1]) if spans and spans[0][0] == 0 else 0
        return (*self._count(pieces, needles, positions, h), positions, stable)

    def _count(
        self,
        pieces: list[tuple[int, int] | int],
        needles: list[Needle],
        positions: list[int],
        h: int,
    ) -> tuple[_Layout, int, list[PlacedNeedle]]:
        """The context's layout, its exact token count and where the needles landed."""
        corpus = self.corpus
        off = corpus.offsets

        def text(a: int, z: int) -> str:
            return corpus.decode(int(off[a]), int(off[z]))

        windows: list[_Window] = []
        cur = _Window()
        parts: _Layout = []
        prev_space = True  # the context start needs no separator
        for idx, piece in enumerate(pieces):
            if isinstance(piece, int):
                lit = needles[piece].text if prev_space else " " + needles[piece].text
                nxt = pieces[idx + 1] if idx + 1 < len(pieces) else None
                if isinstance(nxt, tuple) and not self._space_at(int(off[nxt[0]])):
                    lit += " "
                cur.marks.append((piece, sum(len(p) for p in cur.parts)))
                cur.parts.append(lit)
                parts.append((lit, None))
                prev_space = lit[-1].isspace()
                continue
            ts, te = piece
            prev_space = self._space_at(int(off[te]) - 1)
            lo, hi = self._stable(ts + MARGIN, te - MARGIN)
            if lo < hi:  # the stable middle is decoded only for the final context
                head, tail = text(ts, lo), text(hi, te)
                cur.parts.append(head)
                cur.clean_after = hi - lo
                windows.append(cur)
                cur = _Window(parts=[tail])
                parts.append((head, (int(off[ts]), int(off[lo]))))
                parts.append((None, (int(off[lo]), int(off[hi]))))
                parts.append((tail, (int(off[hi]), int(off[te]))))
            else:
                seg = text(ts, te)
                cur.parts.append(seg)
                parts.append((seg, (int(off[ts]), int(off[te]))))
        windows.append(cur)

        total = 0
        offsets: dict[int, int] = {}
        texts = [w.text for w in windows]
        batched = self._encode_marked(windows, texts) if len(needles) >= BATCH_NEEDLES else {}
        for i, w in enumerate(windows):
            wtext = texts[i]
            if wtext and not w.marks:
                total += len(self.tokenizer.encode(wtext))
            elif wtext:
                n_ids, starts = batched.get(i) or _window_starts(self.tokenizer, wtext)
                for needle_idx, at in w.marks:
                    byte_at = len(wtext[:at].encode())
                    offsets[needle_idx] = total + int(np.searchsorted(starts, byte_at, "right")) - 1
                total += n_ids
            total += w.clean_after
        placed = [
            PlacedNeedle(
                text=n.text,
                answer=n.answer,
                key=n.key,
                token_offset=offsets[i],
                actual_depth=round(100.0 * positions[i] / h, 4) if h else 0.0,
                distractor=n.distractor,
            )
            for i, n in enumerate(needles)
        ]
        return parts, total, placed

    def _encode_marked(
        self, windows: list[_Window], texts: list[str]
    ) -> dict[int, tuple[int, np.ndarray]]:
        """Token counts and byte starts of every window holding a needle, from one
        batched encode (a thousand needles: one call, not a thousand)."""
        marked = [i for i, w in enumerate(windows) if w.marks and texts[i]]
        if not marked:
            return {}
        chunks = [texts[i] for i in marked]
        _, starts = _encode_chunks(self.tokenizer, chunks)
        byte_base = np.concatenate(([0], np.cumsum([len(c.encode()) for c in chunks])))
        first = np.searchsorted(starts, byte_base, "left")  # each chunk starts a token
        return {
            i: (int(first[k + 1] - first[k]), starts[first[k] : first[k + 1] + 1] - byte_base[k])
            for k, i in enumerate(marked)
        }


def _window_starts(tokenizer: Tokenizer, text: str) -> tuple[int, np.ndarray]:
    ids, starts = _encode_chunks(tokenizer, [text])
    return len(ids), starts


_KEEP_BUILDERS = 4
_builders: dict[tuple[int, str], PromptBuilder] = {}


def build(experiment: Experiment, trial: Trial, model: ModelSpec | None = None) -> BuiltPrompt:
    """Build one trial's prompt (builders and corpora are reused across calls)."""
    spec = model or experiment.model[0]
    key = (id(experiment), spec.id)
    builder = _builders.get(key)
    if builder is None or builder.experiment is not experiment:
        while len(_builders) >= _KEEP_BUILDERS:  # each holds a corpus: keep only the latest
            del _builders[next(iter(_builders))]
        builder = _builders[key] = PromptBuilder(experiment, spec)
    return builder.build(trial)
