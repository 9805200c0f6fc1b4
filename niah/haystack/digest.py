"""``prompt_sha256``: the digest of a prompt's messages, without re-hashing shared text.

A 1M-token grid hashes ~200 MB of prompts, and every prompt of an experiment opens
with the same corpus prefix up to its first needle. ``PromptHasher`` hashes exactly
the bytes ``prompt_digest`` hashes (role NUL content NUL ...), but continues the
leading corpus stretch from a hash state saved at every MiB of the corpus, and takes
the rest of the corpus text straight from its bytes instead of encoding the prompt
string again. Literals (needles, the template) are encoded as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

MARK = 1 << 20
"""Corpus bytes between saved hash states."""

Segment = tuple[str, tuple[int, int] | None]
"""A piece of the context: its text, and the corpus byte range it was decoded from."""


HASH_CHUNK = 1 << 20
"""Characters encoded at a time, so a 10M-token message is never copied whole as bytes."""


def prompt_digest(messages: list[dict[str, str]]) -> str:
    """sha256 over the messages (role NUL content NUL ...): the definition of the digest."""
    h = hashlib.sha256()
    for m in messages:
        h.update(m["role"].encode() + b"\0")
        content = m["content"]
        for i in range(0, len(content), HASH_CHUNK):
            h.update(content[i : i + HASH_CHUNK].encode())
        h.update(b"\0")
    return h.hexdigest()


class PromptHasher:
    """Digests of prompts built from one corpus; hash states of its prefix are kept."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._view = memoryview(data)
        self._marks: dict[bytes, list[Any]] = {}
        """Per message head: the hash state after head + data[: k * MARK], k = 0, 1, ..."""

    def _exact(self, a: int, z: int) -> bool:
        """Whether ``data[a:z]`` is whole characters, so it decodes and re-encodes to itself.

        Byte-level tokens may split a character; such a cut decodes to U+FFFD.
        """
        data = self._data
        return (a == len(data) or data[a] & 0xC0 != 0x80) and (
            z == len(data) or data[z] & 0xC0 != 0x80
        )

    def _state(self, head: bytes, upto: int) -> Any:
        """A fresh hash of ``head + data[:upto]``, resumed from the last mark before ``upto``."""
        marks = self._marks.setdefault(head, [])
        if not marks:
            marks.append(hashlib.sha256(head))
        k = upto // MARK
        while len(marks) <= k:
            nxt = marks[-1].copy()
            start = (len(marks) - 1) * MARK
            nxt.update(self._view[start : start + MARK])
            marks.append(nxt)
        h = marks[k].copy()
        h.update(self._view[k * MARK : upto])
        return h

    def digest(self, head: bytes, segments: Sequence[Segment], tail: bytes) -> str:
        """sha256 of ``head``, then each segment's UTF-8 bytes, then ``tail``."""
        upto = 0  # the leading run of segments that is exactly data[:upto]
        i = 0
        while i < len(segments):
            where = segments[i][1]
            if where is None or where[0] != upto or not self._exact(*where):
                break
            upto = where[1]
            i += 1
        h = self._state(head, upto)
        for text, where in segments[i:]:
            if where is not None and self._exact(*where):
                h.update(self._view[where[0] : where[1]])
            else:
                h.update(text.encode())
        h.update(tail)
        out: str = h.hexdigest()
        return out

    def messages_digest(
        self, messages: list[dict[str, str]], segments: Sequence[Segment], before: str, after: str
    ) -> str:
        """``prompt_digest(messages)`` for a last message ``before + context + after``."""
        n_context = sum(len(t) for t, _ in segments)
        if len(messages[-1]["content"]) != len(before) + n_context + len(after):
            return prompt_digest(messages)  # not made that way after all: the slow, sure way
        head = b"".join(
            m["role"].encode() + b"\0" + m["content"].encode() + b"\0" for m in messages[:-1]
        )
        head += messages[-1]["role"].encode() + b"\0" + before.encode()
        return self.digest(head, segments, after.encode() + b"\0")
