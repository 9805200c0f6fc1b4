"""Speech recognition for the ``asr+<text model>`` cascade: audio parts to timestamped text.

Each part is decoded, cut into segments at pauses by content (``niah.media._segments``),
and each segment's transcript is cached on disk under the hash of its samples and the
recognizer; a sweep therefore recognizes each distinct stretch of haystack once, and
per trial only the needle's neighbourhood is new. Recognition runs in a worker thread so
the event loop keeps serving other trials. Recognizers (``niah.media._recognizers``):
embedded pocketsphinx, or any OpenAI-compatible ``/v1/audio/transcriptions`` endpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from niah.errors import ConfigError
from niah.media import _pcm, _recognizers, _segments, _store
from niah.media.base import MediaPart

ASR_VERSION = 1


class TranscriberOptions(BaseModel):
    """How the cascade recognizes speech (a cascade model's ``options.transcriber`` block)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["pocketsphinx", "openai"] = "pocketsphinx"
    """``pocketsphinx``: embedded, offline (its bundled US English model);
    ``openai``: an OpenAI-compatible ``/v1/audio/transcriptions`` endpoint."""
    base_url: str = "https://api.openai.com/v1"
    """Endpoint root (``openai`` engine): OpenAI, a faster-whisper server, vLLM..."""
    model: str = "whisper-1"
    """Transcription model name sent to the endpoint."""
    api_key_env: str | None = None
    """Environment variable holding the endpoint's API key (None: send no key)."""
    language: str | None = "en"
    """ISO-639-1 language hint sent to the endpoint."""
    timeout_s: float = Field(default=300.0, gt=0, le=3600)
    """Per request to the endpoint."""
    min_pause_s: float = Field(default=0.25, ge=0.05, le=5)
    """Near-silence at least this long is a pause where a segment may end."""
    silence: int = Field(default=160, ge=0, le=32767)
    """Samples at or under this magnitude count as silence (160: -46 dBFS)."""
    pauses_per_segment: int | None = Field(default=None, ge=1, le=1000)
    """Average number of pauses per segment (None: 1 for pocketsphinx, 8 for endpoints)."""
    max_segment_s: float = Field(default=60.0, ge=1, le=1200)
    """A segment without a chosen pause is cut here (endpoints take up to ~25 MB)."""
    keywords: list[str] | None = Field(default=None, min_length=1, max_length=5000)
    """pocketsphinx: candidate needle values; a segment whose first pass hears "secret" or
    "key" is decoded again with the grammar ``carrier <one keyword>`` (tells the
    recognizer the candidates, as a prompt would; off by default)."""
    carrier: str = "the secret key word is"
    """pocketsphinx keywords mode: the words spoken before the value."""

    def every(self) -> int:
        if self.pauses_per_segment is not None:
            return self.pauses_per_segment
        return 1 if self.engine == "pocketsphinx" else 8


def stamp(seconds: float) -> str:
    """``[hh:mm:ss]``."""
    s = int(seconds)
    return f"[{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}]"


class AsrTranscriber:
    """A ``Transcriber`` of audio parts with a content-addressed transcript cache."""

    def __init__(self, options: TranscriberOptions, cache_dir: Path,
                 recognizer: _recognizers.Recognizer) -> None:
        self.options = options
        self.cache_dir = cache_dir
        self.recognizer = recognizer
        self._lock = threading.Lock()  # one recognition at a time per transcriber
        self.recognized = 0
        """Segments sent to the recognizer (not answered from the cache)."""
        self.cached = 0

    async def transcribe(self, parts: Sequence[MediaPart]) -> str:
        lines: list[str] = []
        for part in parts:
            if part.kind != "audio":
                raise ConfigError("model.id", f"an asr+ cascade reads audio, not {part.kind}")
            lines += await asyncio.to_thread(self._part_lines, part)
        return "\n".join(lines)

    def _part_lines(self, part: MediaPart) -> list[str]:
        path = Path(part.path)
        rate = _pcm.native_rate(path, "media")
        o = self.options
        lines = []
        for start, pcm in _segments.segments(
            _pcm.decode_blocks(path, rate, "media"), rate, min_pause_s=o.min_pause_s,
            silence=o.silence, pauses_per_segment=o.every(), max_segment_s=o.max_segment_s,
        ):
            text = self._segment_text(pcm, rate)
            if text:
                lines.append(f"{stamp(part.start_s + start / rate)} {text}")
        return lines

    def _segment_text(self, pcm: np.ndarray, rate: int) -> str:
        if len(pcm) == 0 or int(np.abs(pcm.astype(np.int32)).max()) <= self.options.silence:
            return ""
        samples = hashlib.sha256(np.ascontiguousarray(pcm).tobytes()).hexdigest()
        digest = _store.key(ASR_VERSION, self.recognizer.identity, rate, samples)
        path = _store.entry(self.cache_dir, "asr", digest, ".json")
        if path.exists():
            self.cached += 1
            return str(json.loads(path.read_text())["text"])
        with self._lock:
            text = " ".join(self.recognizer.recognize(pcm, rate).split())
        self.recognized += 1
        _store.put(path, json.dumps({"text": text}).encode())
        return text


def make_transcriber(
    options: dict[str, Any], cache_dir: Path, *, client: Any = None
) -> AsrTranscriber:
    """The transcriber of ``options`` (errors name ``model.options.transcriber.<field>``).

    ``client``: an ``httpx.Client`` for the endpoint engine (tests inject a transport).
    """
    try:
        opts = TranscriberOptions.model_validate(options)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"model.options.transcriber.{field}", err["msg"]) from None
    if opts.engine == "pocketsphinx":
        recognizer: _recognizers.Recognizer = _recognizers.Pocketsphinx(
            opts.keywords or (), opts.carrier)
    else:
        recognizer = _recognizers.Endpoint(
            opts.base_url, opts.model, opts.api_key_env, opts.language, opts.timeout_s, client
        )
    return AsrTranscriber(opts, cache_dir, recognizer)
