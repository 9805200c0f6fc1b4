"""The recognizers of the cascade: one segment of mono int16 speech in, its text out.

Both are synchronous and called from the transcriber's worker thread.
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Sequence
from typing import Any, Protocol

import httpx
import numpy as np

from niah.backends import _http
from niah.errors import ConfigError, MissingDependency
from niah.media import _pcm

PS_RATE = 16_000


class Recognizer(Protocol):
    identity: str
    """Part of every cache key: which engine and model produced a transcript."""

    def recognize(self, pcm: np.ndarray, rate: int) -> str: ...


CUES = frozenset({"secret", "key", "keyword"})
"""First-pass words that make a segment a needle candidate (keywords mode)."""


class Pocketsphinx:
    """Embedded CMU pocketsphinx with its bundled US English acoustic and language model.

    With ``keywords``, a segment whose first pass hears a cue word is decoded again with a
    grammar: ``carrier`` followed by one of the keywords; its result (if any) replaces
    the first pass. That tells the recognizer the candidate values, as a prompt would.
    """

    def __init__(
        self, keywords: Sequence[str] = (), carrier: str = "the secret key word is"
    ) -> None:
        try:
            import pocketsphinx
        except ImportError:
            raise MissingDependency("pocketsphinx", "audio") from None
        self.decoder: Any = pocketsphinx.Decoder(samprate=PS_RATE, loglevel="FATAL")
        version = getattr(pocketsphinx, "__version__", "5")
        self.identity = f"pocketsphinx-{version}-en-us"
        self.keywords = [w.lower() for w in keywords]
        if self.keywords:
            words = [*carrier.lower().split(), *self.keywords]
            unknown = sorted({w for w in words if self.decoder.lookup_word(w) is None})
            if unknown:
                raise ConfigError("model.options.transcriber.keywords",
                                  f"not in pocketsphinx's dictionary: {', '.join(unknown[:5])}")
            grammar = (f"#JSGF V1.0;\ngrammar needle;\npublic <s> = {carrier.lower()} <w>;\n"
                       f"<w> = {' | '.join(self.keywords)};\n")
            self.decoder.add_jsgf_string("needle", grammar)
            self.identity += f" keywords {carrier.lower()} {' '.join(self.keywords)}"

    def _decode(self, audio: np.ndarray, search: str) -> str:
        self.decoder.activate_search(search)
        self.decoder.start_utt()
        self.decoder.process_raw(audio.tobytes(), False, True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return str(hyp.hypstr) if hyp is not None else ""

    def recognize(self, pcm: np.ndarray, rate: int) -> str:
        audio = _pcm.resample(pcm, rate, PS_RATE)
        text = self._decode(audio, "_default")
        if self.keywords and CUES.intersection(text.split()):
            constrained = self._decode(audio, "needle")
            if constrained.split()[-1:] and constrained.split()[-1] in self.keywords:
                text = constrained
        return text


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    """Mono 16-bit WAV of ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
    return out.getvalue()


class Endpoint:
    """An OpenAI-compatible ``POST {base_url}/audio/transcriptions`` (multipart upload)."""

    def __init__(self, base_url: str, model: str, api_key_env: str | None,
                 language: str | None, timeout_s: float, client: httpx.Client | None) -> None:
        try:
            self.url = _http.check_base_url(base_url) + "/audio/transcriptions"
        except ConfigError:
            raise ConfigError("model.options.transcriber.base_url",
                              f"must start with http:// or https://, got {base_url!r}") from None
        self.key: str | None = None
        if api_key_env is not None:
            self.key = os.environ.get(api_key_env)
            if not self.key:
                raise ConfigError("model.options.transcriber.api_key_env",
                                  f"environment variable {api_key_env} is not set")
        self.model = model
        self.language = language
        self.client = client or httpx.Client(timeout=timeout_s)
        self.identity = f"openai-transcriptions {self.url} {model} {language}"

    def recognize(self, pcm: np.ndarray, rate: int) -> str:
        data = {"model": self.model, "response_format": "json"}
        if self.language:
            data["language"] = self.language
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        secrets = [self.key] if self.key else []
        files = {"file": ("segment.wav", wav_bytes(pcm, rate), "audio/wav")}
        try:
            response = self.client.post(self.url, data=data, files=files, headers=headers)
        except httpx.RequestError as exc:
            raise _http.transport_error("transcriptions", exc, secrets) from None
        body = _http.json_object("transcriptions", response, secrets)
        text = body.get("text")
        if not isinstance(text, str):
            raise _http.bad_response("transcriptions", "no text in the reply")
        return text
