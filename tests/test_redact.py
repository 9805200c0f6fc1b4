"""Secrets out of text (server messages) and out of mappings (manifests)."""

from __future__ import annotations

from niah.redact import REDACTED_VALUE, redact_keys, redact_text

KEY = "sk-test-0123456789abcdef"


def test_redact_text_removes_keys_bearer_tokens_and_url_keys() -> None:
    text = f"auth: Bearer abc.def-ghi, key {KEY}, url https://x/y?key=AIzaSECRET&alt=json"
    clean = redact_text(text, [KEY])
    assert "abc.def" not in clean and KEY not in clean and "AIzaSECRET" not in clean
    assert "Bearer ***" in clean and "?key=***&alt=json" in clean
    assert redact_text("nothing secret here", ["", KEY]) == "nothing secret here"


def test_redact_keys_replaces_values_under_secret_looking_keys_only() -> None:
    manifest = {"headers": {"Authorization": "Bearer x", "X-API-Key": "y"},
                "models": [{"api_key_env": "OPENAI_KEY", "token": "t", "max_tokens": 5}]}
    assert redact_keys(manifest) == {
        "headers": {"Authorization": REDACTED_VALUE, "X-API-Key": REDACTED_VALUE},
        "models": [{"api_key_env": "OPENAI_KEY", "token": REDACTED_VALUE, "max_tokens": 5}],
    }
    assert manifest["models"][0]["token"] == "t"  # a copy: the input is untouched
