"""The experiment config's JSON Schema, for editors (``niah schema``).

Generated from the pydantic models, so it cannot drift from what ``load_experiment``
accepts: shorthand inputs (a model id string, one needle mapping, ``128K`` lengths)
are in it, and internal keys (``base_dir``, set from the config file's folder) are not.
"""

from __future__ import annotations

from typing import Any

from niah.config import Experiment

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
INTERNAL_KEYS = ("base_dir",)


def experiment_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment YAML file (draft 2020-12)."""
    schema = Experiment.model_json_schema(mode="validation")
    for key in INTERNAL_KEYS:
        schema["properties"].pop(key, None)
        if key in schema.get("required", []):
            schema["required"].remove(key)
    return {"$schema": SCHEMA_URI, "title": "niah experiment",
            **{k: v for k, v in schema.items() if k != "title"}}
