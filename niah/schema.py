"""The experiment config's JSON Schema, for editors (``niah schema``).

Generated from the pydantic models, so it cannot drift from what ``load_experiment``
accepts: shorthand inputs (a model id string, one needle mapping, ``128K`` lengths)
are in it, and internal keys (``base_dir``, set from the config file's folder) are not.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

from pydantic import BaseModel

from niah import config
from niah.config import Experiment
from niah.media import config as media_config

_MODULES = (config, media_config)
"""Modules whose config classes' field docstrings become schema descriptions."""

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
INTERNAL_KEYS = ("base_dir",)


def experiment_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment YAML file (draft 2020-12)."""
    schema = Experiment.model_json_schema(mode="validation")
    for key in INTERNAL_KEYS:
        schema["properties"].pop(key, None)
        if key in schema.get("required", []):
            schema["required"].remove(key)
    _describe(schema, "Experiment")
    for name in schema.get("$defs", {}):
        _describe(schema["$defs"][name], name)
    _task_names(schema)
    return {"$schema": SCHEMA_URI, "title": "niah experiment",
            **{k: v for k, v in schema.items() if k != "title"}}


def _describe(node: dict[str, Any], name: str) -> None:
    """Each field's docstring as its schema description (editor hovers). Read here, not
    by pydantic's ``use_attribute_docstrings``, which would parse the models' source at
    every start of every command."""
    cls = next((getattr(m, name) for m in _MODULES if hasattr(m, name)), None)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        return
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if issubclass(base, BaseModel) and base.__module__ in {m.__name__ for m in _MODULES}:
            docs.update(_attribute_docs(base))
    for field, prop in node.get("properties", {}).items():
        if field in docs and "description" not in prop:
            prop["description"] = docs[field]


def _attribute_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` of the string literals right after annotated fields."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(body, ast.ClassDef)
    out: dict[str, str] = {}
    for stmt, after in zip(body.body, body.body[1:], strict=False):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            out[stmt.target.id] = inspect.cleandoc(after.value.value)
    return out


def _task_names(schema: dict[str, Any]) -> None:
    """The registered task names (built-in and ``niah.tasks`` entry points) as the task
    name's examples: not an enum, since a plugin installed later adds names."""
    from niah.tasks.registry import task_names

    names = task_names()
    node = schema.get("$defs", {}).get("TaskSpec", {}).get("properties", {}).get("name")
    if node is not None:
        node["examples"] = names
        node["description"] = f"{node.get('description', '')} Known: {', '.join(names)}.".strip()
