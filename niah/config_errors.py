"""Pydantic validation errors as one ``path: message`` line (``ConfigError``).

The first error is chosen to be the telling one (a union's "not a list" hides the
real problem inside a range mapping; an unknown key explains a missing one), and an
unknown key is given the closest key the model where it was found accepts:
``needle: unknown key; did you mean 'needles'?``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from niah.errors import ConfigError

_HAYSTACK_TAGS = {"text": "HaystackSpec", "video": "VideoHaystackSpec",
                  "audio": "AudioHaystackSpec"}
"""Branch labels of ``Experiment.haystack`` (a union told apart by ``kind``)."""


def _error_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("list[int]", "RangeSpec", "LengthRange", "DurationRange", "list[float]",
                      "KeySpec"):
            continue
        elif item in _HAYSTACK_TAGS and i and loc[i - 1] == "haystack":
            continue  # the haystack union's branch label
        elif "[" in str(item) and "(" in str(item):
            continue  # pydantic union branch labels
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "config"


_BRANCH_MISMATCH = ("list_type", "model_type", "dict_type", "model_attributes_type")
"""Error types that only say a union branch did not apply (e.g. list vs range)."""


def _first_error(exc: ValidationError) -> tuple[ErrorDetails, str]:
    """The most telling error and its message.

    A union field (``[1000, 2000]`` or ``{min, max, num}``) reports one error per
    branch; "should be a valid list" hides the real problem inside a range mapping.
    An unknown key beats a missing one: ``needle:`` is why ``needles`` is missing.
    """
    errors = list(exc.errors())
    first = errors[0]
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if first["type"] == "missing" and unknown:
        return unknown[0], unknown[0]["msg"]
    path = _error_path(tuple(first["loc"]))
    same = [e for e in errors if _error_path(tuple(e["loc"])).startswith(path)]
    telling = [e for e in same if e["type"] not in _BRANCH_MISMATCH]
    if len(same) > 1 and first["type"] in _BRANCH_MISMATCH:
        if telling:
            return telling[0], telling[0]["msg"]
        return first, "expected a list of numbers or a range {min, max, num, spacing}"
    return first, first["msg"]


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field holds: ``list[NeedleSpec] | None`` -> [NeedleSpec]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in models_in(arg)]


def _model_named(title: str) -> type[BaseModel] | None:
    """The one model class called ``title`` (a ValidationError names its model so)."""
    found: list[type[BaseModel]] = []
    todo = list(BaseModel.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__name__ == title and cls not in found:
            found.append(cls)
    return found[0] if len(found) == 1 else None


def keys_at(root: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys the mapping at ``loc`` accepts; ``loc`` as in a pydantic error.

    List indexes, dict keys (``pricing``'s model ids) and union branch labels are
    stepped over: only a field name leads into the model it holds.
    """
    models = [root]
    for part in loc:
        if not isinstance(part, str):
            continue
        inner = [m for model in models if part in model.model_fields
                 for m in models_in(model.model_fields[part].annotation)]
        named = [m for m in models if m.__name__ in (part, _HAYSTACK_TAGS.get(part))]
        models = inner or named or models
    keys: list[str] = []
    for model in models:
        keys += [k for k in model.model_fields if k != "base_dir" and k not in keys]
    return keys


def _likeness(wanted: str, key: str) -> float:
    """How alike, against the whole key or any word of it (``lenghts`` ~ context_lengths)."""
    words = [key, *(w for w in key.split("_") if len(w) >= 3)]
    return max(difflib.SequenceMatcher(None, wanted, w).ratio() for w in words)


def unknown_key_message(key: str, known: Sequence[str]) -> str:
    """``unknown key; did you mean 'needles'?``, or the keys to choose from."""
    wanted = key.lower()
    stem = wanted.removesuffix("s")  # "depths" -> depth_percents, "repeat" -> repeats
    close = [k for k in known if (len(stem) >= 3 and stem in k) or (len(k) >= 3 and k in wanted)]
    if len(close) > 1:  # "lengths": context_lengths, not length_includes_prompt
        close = [k for k in close if wanted in k]
    if len(close) != 1:
        scored = sorted(((_likeness(wanted, k), k) for k in known), reverse=True)
        close = [k for score, k in scored[:1] if score >= 0.75]
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; expected one of: {', '.join(known)}"


def config_error(exc: ValidationError, prefix: str = "",
                 model: type[BaseModel] | None = None) -> ConfigError:
    """The first validation error as one ``path: message`` line.

    An unknown key gets the closest known key of the model it was found in
    (``model``, else the model the error names).
    """
    err, msg = _first_error(exc)
    path = _error_path(tuple(err["loc"]))
    msg = msg.removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        root = model or _model_named(exc.title)
        loc = tuple(err["loc"])
        msg = "unknown key"
        if root is not None and loc:
            msg = unknown_key_message(str(loc[-1]), keys_at(root, loc[:-1]))
    if prefix:
        path = f"{prefix}{path}" if path != "config" else prefix.rstrip(".: ")
    return ConfigError(path, msg)
