"""A tokenized corpus: text bytes, token ids, token byte offsets, sentence boundaries.

Each (source, tokenizer) corpus is tokenized once and cached on disk as numpy arrays
keyed by a content hash; building a prompt is then slicing and joining.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from niah.atomic import atomic_file
from niah.haystack.sentences import sentence_ends
from niah.haystack.sources import Source
from niah.tokenizers import Tokenizer

log = logging.getLogger("niah")

CORPUS_VERSION = 2
PARAGRAPH_SEP = "\n\n"
_CHUNK_CHARS = 1 << 16
_WS = np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)
_IS_WS = np.isin(np.arange(256), _WS)
_IS_LOWER = (np.arange(256) >= ord("a")) & (np.arange(256) <= ord("z"))


def cache_dir() -> Path:
    """Where corpora and responses are cached (``NIAH_CACHE_DIR`` overrides)."""
    env = os.environ.get("NIAH_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "niah"


@dataclass
class Corpus:
    """A token stream with the byte offset of every token and its sentence starts."""

    data: bytes
    """UTF-8 text of the whole (possibly repeated) corpus."""
    ids: np.ndarray
    offsets: np.ndarray
    """``offsets[i]`` is the byte where token ``i`` starts; ``offsets[-1] == len(data)``."""
    bounds: np.ndarray
    """Sorted token indices where a sentence starts (0 and ``len(ids)`` included)."""
    unique_tokens: int
    """Tokens before the source repeats (== ``len(ids)`` when it does not)."""
    lower: bytes
    """Lower-cased unique text, for checking that answers are absent."""

    @functools.cached_property
    def space_bounds(self) -> np.ndarray:
        """Sentence starts whose text begins with one space then a non-space (" Next")."""
        first = self.offsets[self.bounds[:-1]]
        raw = np.frombuffer(self.data, dtype=np.uint8)
        second = np.minimum(first + 1, len(raw) - 1)
        ok = (raw[first] == 0x20) & ~np.isin(raw[second], _WS)
        out: np.ndarray = self.bounds[:-1][ok]
        return out

    def word_start(self, a: int, z: int, last: bool = False) -> int | None:
        """The first (or last) token in ``[a, z)`` that is one space then a non-space.

        Scanned in growing steps from the near end: prose has one every few tokens.
        """
        raw = self.raw
        z = min(z, len(self.ids))
        size = 64
        while a < z:
            lo, hi = (max(z - size, a), z) if last else (a, min(a + size, z))
            at = self.offsets[lo:hi]
            ok = np.flatnonzero((raw[at] == 0x20) & ~_IS_WS[raw[np.minimum(at + 1, len(raw) - 1)]])
            if len(ok):
                return lo + int(ok[-1] if last else ok[0])
            a, z = (a, lo) if last else (hi, z)
            size *= 4
        return None

    @functools.cached_property
    def raw(self) -> np.ndarray:
        """The text as a uint8 array (a view, no copy)."""
        return np.frombuffer(self.data, dtype=np.uint8)

    @functools.cached_property
    def end_bounds(self) -> np.ndarray:
        """Sentence boundaries right after the punctuation (not after whitespace)."""
        raw = np.frombuffer(self.data, dtype=np.uint8)
        at = self.offsets[self.bounds[1:]] - 1
        ok = ~np.isin(raw[at], _WS)
        return np.concatenate(([0], self.bounds[1:][ok]))

    @functools.cached_property
    def para_bounds(self) -> np.ndarray:
        """Sentence starts with no whitespace before the text (paragraph starts)."""
        raw = np.frombuffer(self.data, dtype=np.uint8)
        at = np.minimum(self.offsets[self.bounds], len(raw) - 1)
        return self.bounds[~np.isin(raw[at], _WS)]

    @functools.cached_property
    def words(self) -> frozenset[bytes]:
        """Every alphanumeric run of the lower-cased text: O(1) absence checks."""
        return frozenset(re.findall(rb"[a-z0-9]+", self.lower))

    @functools.cached_property
    def numbers(self) -> frozenset[bytes]:
        """Every all-digit word: numeric answers are checked without building ``words``.

        Found with numpy (digits are rare in prose): ~30x faster than collecting every
        word, which took a third of a warm grid's build time on a 5 MB corpus.
        """
        raw = np.frombuffer(self.lower, dtype=np.uint8)
        at = np.flatnonzero((raw - 48) < 10)  # uint8 wraps below "0"
        if not len(at):
            return frozenset()
        cut = np.flatnonzero(np.diff(at) != 1)
        starts = np.concatenate(([at[0]], at[cut + 1]))
        ends = np.concatenate((at[cut] + 1, [at[-1] + 1]))
        padded = np.concatenate((raw, [0]))  # a run may end the text
        whole = ~_IS_LOWER[padded[starts - 1]] | (starts == 0)
        whole &= ~_IS_LOWER[padded[ends]]
        return frozenset(self.lower[a:z] for a, z in zip(starts[whole], ends[whole], strict=True))

    def contains(self, answer: str) -> bool:
        """Whether ``answer`` occurs in the haystack as a whole word, ignoring case."""
        key = answer.encode().lower()  # ASCII-only, exactly as ``occurs_in`` lowers
        if key.isdigit():
            return key in self.numbers
        if re.fullmatch(rb"[a-z0-9]+", key):
            return key in self.words
        if any(w not in self.words for w in re.findall(rb"[a-z0-9]+", key)):
            return False  # a phrase with a word the text lacks (1,000 drawn keys: no scans)
        from niah.needles import occurs_in

        return occurs_in(answer, self.lower)

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def repeats(self) -> float:
        return len(self.ids) / max(self.unique_tokens, 1)

    def text(self, start: int, end: int) -> str:
        """The text of tokens ``[start, end)``."""
        return self.decode(int(self.offsets[start]), int(self.offsets[end]))

    def decode(self, a: int, z: int) -> str:
        """The text of bytes ``[a, z)``, decoded in place (slicing ``data`` would copy it)."""
        return str(self.view[a:z], "utf-8", "replace")

    @functools.cached_property
    def view(self) -> memoryview:
        return memoryview(self.data)


_sizes: dict[str, np.ndarray] = {}
"""Per tokenizer name: the bytes of each token id looked up so far (0: not yet)."""


def _token_sizes(tokenizer: Tokenizer, ids: np.ndarray) -> np.ndarray:
    """The bytes of each token, looking up only ids not seen before.

    A corpus uses a fraction of a 100K vocabulary and a window a few dozen ids, so
    this beats building the tokenizer's whole table (0.2-0.4 s per process).
    """
    one = getattr(tokenizer, "decode_bytes", None)
    if one is None:
        table: np.ndarray = tokenizer.byte_lengths  # type: ignore[attr-defined]
        sizes: np.ndarray = table[ids]
        return sizes
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    known = _sizes.get(tokenizer.name, np.zeros(0, dtype=np.int64))
    top = int(ids.max()) + 1
    if len(known) < top:
        known = _sizes[tokenizer.name] = np.concatenate(
            (known, np.zeros(top - len(known), np.int64))
        )
    if len(ids) < 4096:  # a window: sorting a few ids beats counting the whole vocabulary
        distinct = np.unique(ids)
    else:
        distinct = np.flatnonzero(np.bincount(ids, minlength=top))
    missing = distinct[known[distinct] == 0]
    known[missing] = [len(one([i])) for i in missing.tolist()]
    out: np.ndarray = known[ids]
    return out


def _encode_chunks(tokenizer: Tokenizer, chunks: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and byte start offsets of the concatenated chunks."""
    ids_parts: list[np.ndarray] = []
    off_parts: list[np.ndarray] = []
    base = 0
    with_offsets = getattr(tokenizer, "encode_batch_offsets", None)
    if with_offsets is not None:
        for text, (ids, starts) in zip(chunks, with_offsets(chunks), strict=False):
            ids_parts.append(np.asarray(ids, dtype=np.int64))
            off_parts.append(np.asarray(starts, dtype=np.int64) + base)
            base += len(text.encode())
    else:
        batch = getattr(tokenizer, "encode_batch", None)
        if batch is None or len(chunks) == 1:
            encoded = [tokenizer.encode(c) for c in chunks]
        else:
            encoded = batch(chunks)
        ids_parts = [np.asarray(x, dtype=np.int64) for x in encoded]
        ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int64)
        sizes = _token_sizes(tokenizer, ids)  # one lookup for all chunks
        ends = np.cumsum(sizes)
        off_parts = [ends - sizes]
        chunk_ends = np.cumsum([len(x) for x in ids_parts], dtype=np.int64)
        nbytes = np.cumsum([len(t.encode()) for t in chunks], dtype=np.int64)
        if not np.array_equal(ends[chunk_ends - 1][chunk_ends > 0], nbytes[chunk_ends > 0]):
            raise AssertionError(f"{tokenizer.name}: token bytes do not add up")
        base = int(nbytes[-1]) if len(nbytes) else 0
    ids_all = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int64)
    offsets = np.concatenate([*off_parts, [base]]).astype(np.int64)
    return ids_all.astype(np.int32), offsets


def _sentence_bounds(data: bytes, offsets: np.ndarray) -> np.ndarray:
    """Token indices where a token starts exactly at a sentence boundary.

    Both the end of the punctuation and the end of the whitespace after it are
    candidates; whichever a token starts at (" Next" vs ".\\n\\n" + "Next") counts.
    """
    stops, starts = sentence_ends(data)
    cand = unique_ints(np.concatenate(([0], stops, starts, [len(data)])))
    idx = np.searchsorted(offsets, cand)
    ok = (idx < len(offsets)) & (offsets[np.minimum(idx, len(offsets) - 1)] == cand)
    return unique_ints(idx[ok])


def unique_ints(arr: np.ndarray) -> np.ndarray:
    """``np.unique`` for the sorted runs passed here, several times faster.

    numpy 2's ``unique`` hashes first (~0.1 s for 90K sentence starts); a stable sort
    (timsort) of a few concatenated sorted runs is close to linear.
    """
    arr = np.sort(arr, kind="stable")
    return arr[np.concatenate(([True], arr[1:] != arr[:-1]))] if len(arr) else arr


def _chunks(paragraphs: list[str]) -> list[str]:
    """Paragraph groups of ~64 KB, each ending with the separator (stable junctions)."""
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for p in paragraphs:
        cur.append(p + PARAGRAPH_SEP)
        size += len(p) + 2
        if size >= _CHUNK_CHARS:
            out.append("".join(cur))
            cur, size = [], 0
    if cur:
        out.append("".join(cur))
    return out


def _bucket(n_tokens: int) -> int:
    """Round up so nearby sizes share one cached corpus."""
    size = 1 << 14
    while size < n_tokens:
        size <<= 1
    return size


def _cache_path(key: str) -> Path:
    return cache_dir() / "corpus" / f"{key}.npz"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
    except OSError as exc:  # a cache is an optimisation: never fail a build over it
        log.warning("corpus cache not written (%s): %s", path, exc)


_PROBE_ENDS = ("It ends.\n\n", 'He said, "No!"\n\n', "a list\n\n", "Done?\n\n")
_PROBE_STARTS = ("The next one", '"Quoted," she said', "A b c", "Émile went", "- item")


_stable: dict[str, bool] = {}


def _probe(tokenizer: Tokenizer) -> bool:
    return all(
        tokenizer.encode(a + b) == tokenizer.encode(a) + tokenizer.encode(b)
        for a in _PROBE_ENDS
        for b in _PROBE_STARTS
    )


def junctions_stable(tokenizer: Tokenizer) -> bool:
    """Whether text splits at blank-line paragraph junctions without changing tokens.

    True for tiktoken and byte-level BPE; false for tokenizers that add a prefix
    space to every text they start (SentencePiece style), whose corpora are then
    tokenized in one piece and repeated as text.
    """
    if tokenizer.name not in _stable:
        _stable[tokenizer.name] = _probe(tokenizer)
    return _stable[tokenizer.name]


def _tokenize_unique(source: Source, tokenizer: Tokenizer, min_tokens: int) -> dict[str, Any]:
    """Tokenize enough of the source (all of a finite one), cached on disk."""
    want = _bucket(min_tokens)
    key_parts = [str(CORPUS_VERSION), source.key, tokenizer.name]
    if not source.finite:
        key_parts.append(str(want))
    key = hashlib.sha256("|".join(key_parts).encode()).hexdigest()[:32]
    path = _cache_path(key)
    cached = _load(path)
    if cached is not None:
        return cached
    paragraphs: list[str] = []
    if source.finite:
        paragraphs = list(source.paragraphs())
    else:
        chars = 0
        target_chars = want * 5  # prose runs about 4.5 chars a token; checked below
        for p in source.paragraphs():
            paragraphs.append(p)
            chars += len(p) + 2
            if chars >= target_chars:
                break
    chunks = _chunks(paragraphs)
    if not junctions_stable(tokenizer):
        chunks = ["".join(chunks)]
    ids, offsets = _encode_chunks(tokenizer, chunks)
    data = "".join(chunks).encode()
    bounds = _sentence_bounds(data, offsets)
    arrays = {
        "data": np.frombuffer(data, dtype=np.uint8),
        "ids": ids,
        "offsets": offsets,
        "bounds": bounds,
    }
    _save(path, arrays)
    return arrays


def load_corpus(source: Source, tokenizer: Tokenizer, min_tokens: int) -> Corpus:
    """A corpus of at least ``min_tokens`` tokens, repeating a finite source if needed."""
    arrays = _tokenize_unique(source, tokenizer, min_tokens)
    data = arrays["data"].tobytes()
    ids, offsets, bounds = arrays["ids"], arrays["offsets"], arrays["bounds"]
    n = len(ids)
    if n == 0:
        from niah.errors import HaystackError

        raise HaystackError(f"haystack: {source.description} holds no tokens")
    lower = data.lower()
    if n >= min_tokens:
        return Corpus(data, ids, offsets, bounds, n, lower)
    reps = -(-min_tokens // n)
    if not source.finite:  # generation under-shot the estimate: ask for more
        return load_corpus(source, tokenizer, min_tokens * 2)
    log.info(
        "haystack %s repeated %d times to reach %d tokens", source.description, reps, min_tokens
    )
    if not junctions_stable(tokenizer):  # repeat the text, then tokenize it whole
        tiled = (data * reps).decode("utf-8")
        t_ids, t_offsets = _encode_chunks(tokenizer, [tiled])
        t_data = tiled.encode()
        return Corpus(t_data, t_ids, t_offsets, _sentence_bounds(t_data, t_offsets), n, lower)
    nbytes = len(data)
    tiled_offsets = np.concatenate(
        [offsets[:-1] + r * nbytes for r in range(reps)] + [np.array([reps * nbytes])]
    )
    tiled_bounds = unique_ints(np.concatenate([bounds + r * n for r in range(reps)]))
    return Corpus(data * reps, np.tile(ids, reps), tiled_offsets, tiled_bounds, n, lower)
