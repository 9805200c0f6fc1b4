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

Tests re-encode hundreds of built contexts to prove the count for tiktoken and
Hugging Face tokenizers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from niah.config import Experiment, ModelSpec
from niah.errors import HaystackError
from niah.haystack.corpus import Corpus, _encode_chunks, load_corpus
from niah.haystack.cuts import LONG_PROMPT_TOKENS, CutTable, tame_heap
from niah.haystack.sources import Source, open_source
from niah.needles import Needle, draw_needles, question_for
from niah.plan import Trial
from niah.prompt import BuiltPrompt, PlacedNeedle
from niah.tokenizers import Tokenizer, tokenizer_for

MARGIN = 8
"""Tokens of stable text kept on each side of a junction in its re-encoded window."""
FILL_RESERVE = 4096
"""Extra corpus tokens beyond the longest context, for the sentences that fill the gap."""
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


HASH_CHUNK = 1 << 20
"""Characters encoded at a time when hashing, so a 10M-token prompt is never copied whole."""


def prompt_digest(messages: list[dict[str, str]]) -> str:
    """sha256 over the messages (role NUL content NUL ...): cheap for 10M-token prompts."""
    h = hashlib.sha256()
    for m in messages:
        h.update(m["role"].encode() + b"\0")
        content = m["content"]
        for i in range(0, len(content), HASH_CHUNK):
            h.update(content[i : i + HASH_CHUNK].encode())
        h.update(b"\0")
    return h.hexdigest()


_PLACEHOLDER = re.compile(r"(\{context\}|\{question\})")


def render_user(template: str, context: str, question: str) -> str:
    """Fill the template in one pass (a context may itself contain braces)."""
    return "".join(_render_parts(template, [context], question)[0])


def _render_parts(template: str, context: list[str], question: str) -> tuple[list[str], int]:
    """The template's pieces with the context's parts spliced in (joined once by the
    caller, so a long context is never held twice), and where the context starts."""
    out: list[str] = []
    start = -1
    for i, piece in enumerate(_PLACEHOLDER.split(template)):
        if i % 2 == 0:
            out.append(piece)
        elif piece == "{question}":
            out.append(question)
        else:
            if start < 0:
                start = sum(len(p) for p in out)
            out.extend(context)
    return out, start


class PromptBuilder:
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
        self.source: Source = open_source(experiment.haystack, experiment)
        self._corpus: Corpus | None = None
        self._overhead: dict[str, int] = {}
        self._last: BuiltPrompt | None = None
        self._cut_table: CutTable | None = None

    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            need = max(self.experiment.grid.lengths()) + FILL_RESERVE
            self._corpus = load_corpus(self.source, self.tokenizer, need)
        return self._corpus

    @property
    def cut_table(self) -> CutTable:
        if self._cut_table is None:
            self._cut_table = CutTable(self.corpus)
        return self._cut_table

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

    def build(self, trial: Trial) -> BuiltPrompt:
        """The trial's prompt. The last one built is handed out once more without being
        built again (``run`` measures the longest prompt first, then sends it first)."""
        last, self._last = self._last, None
        if last is not None and last.trial == trial:
            return last
        del last
        built = self._last = self._build(trial)
        return built

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
        haystack, total, parts, placed, stable = self._fit(
            target, target - needle_tokens, needles, trial
        )
        system = self.experiment.prompt.system
        messages = [{"role": "system", "content": system}] if system else []
        pieces, start = _render_parts(self.experiment.prompt.template, parts, question)
        context_chars = sum(len(p) for p in parts)
        del parts
        messages.append({"role": "user", "content": "".join(pieces)})
        del pieces
        digest = prompt_digest(messages)
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

    def _fit(
        self, target: int, haystack: int, needles: list[Needle], trial: Trial
    ) -> tuple[int, int, list[str], list[PlacedNeedle], int]:
        """Find the haystack budget whose context has exactly ``target`` tokens: the
        budget, the count, the context's text in parts, the needles, and how many
        tokens the context shares with the corpus prefix before its first needle."""
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
                parts, total, placed, positions, stable = self._assemble(
                    spans, needles, trial.needle_depths, h, pinned, earlier
                )
                if total == target:
                    return h, total, parts, placed, stable
                parts = []  # a long context's text is held once at a time
                # keep the needles where they are while the haystack end is adjusted,
                # so the count moves smoothly instead of jumping with a needle
                pinned = positions
                h += target - total
        for h in sorted(
            range(max(haystack - 24, 1), haystack + 25), key=lambda x: abs(x - haystack)
        ):
            for whole_sentences in (True, False):  # last resort: scan nearby budgets
                spans = self._spans(h, whole_sentences)
                parts, total, placed, _, stable = self._assemble(
                    spans, needles, trial.needle_depths, h
                )
                if total == target:
                    return h, total, parts, placed, stable
                parts = []
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
        """The widest span of space-led sentence starts within ``[first, last]``.

        A stretch from one " Next" to another tokenizes alone exactly as inside the
        corpus, for byte-level BPE and for tokenizers that add a prefix space alike,
        so its token count is a difference of indices. Everything else is re-encoded.
        """
        s = self.corpus.space_bounds
        i = int(np.searchsorted(s, first))
        j = int(np.searchsorted(s, last, side="right")) - 1
        if i < len(s) and j >= 0 and s[i] < s[j]:
            return int(s[i]), int(s[j])
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
    ) -> tuple[list[str], int, list[PlacedNeedle], list[int], int]:
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
        starts_arr = np.unique(np.concatenate(parts_b))
        positions = []
        for n, d in enumerate(depths):
            if d >= 100:
                positions.append(h)
                continue
            if pinned is not None and pinned[n] <= d / 100.0 * h and pinned[n] in starts_arr:
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
    ) -> tuple[list[str], int, list[PlacedNeedle]]:
        corpus = self.corpus
        off, data = corpus.offsets, corpus.data

        def text(a: int, z: int) -> str:
            return data[off[a] : off[z]].decode("utf-8", "replace")

        windows: list[_Window] = []
        cur = _Window()
        parts: list[str] = []
        prev_space = True  # the context start needs no separator
        for idx, piece in enumerate(pieces):
            if isinstance(piece, int):
                lit = needles[piece].text if prev_space else " " + needles[piece].text
                nxt = pieces[idx + 1] if idx + 1 < len(pieces) else None
                if isinstance(nxt, tuple) and not self._space_at(int(off[nxt[0]])):
                    lit += " "
                cur.marks.append((piece, sum(len(p) for p in cur.parts)))
                cur.parts.append(lit)
                parts.append(lit)
                prev_space = lit[-1].isspace()
                continue
            ts, te = piece
            prev_space = self._space_at(int(off[te]) - 1)
            lo, hi = self._stable(ts + MARGIN, te - MARGIN)
            if lo < hi:
                head, mid, tail = text(ts, lo), text(lo, hi), text(hi, te)
                cur.parts.append(head)
                cur.clean_after = hi - lo
                windows.append(cur)
                cur = _Window(parts=[tail])
                parts.extend((head, mid, tail))
            else:
                seg = text(ts, te)
                cur.parts.append(seg)
                parts.append(seg)
        windows.append(cur)

        total = 0
        offsets: dict[int, int] = {}
        for w in windows:
            wtext = w.text
            if wtext and not w.marks:
                total += len(self.tokenizer.encode(wtext))
            elif wtext:
                ids, starts = _encode_chunks(self.tokenizer, [wtext])
                for needle_idx, at in w.marks:
                    byte_at = len(wtext[:at].encode())
                    offsets[needle_idx] = total + int(np.searchsorted(starts, byte_at, "right")) - 1
                total += len(ids)
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
