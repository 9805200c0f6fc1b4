"""The user message from the prompt template: ``{context}`` and ``{question}`` filled in.

A 10M-token context is ~40 MB of text, so the message is joined once from the
template's pieces and the context's own parts (``render_parts``) instead of joining
the context first and copying it again into the template.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"(\{context\}|\{question\})")


def render_user(template: str, context: str, question: str) -> str:
    """Fill the template in one pass (a context may itself contain braces)."""
    return "".join(render_parts(template, [context], question)[0])


def render_parts(template: str, context: list[str], question: str) -> tuple[list[str], int]:
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
