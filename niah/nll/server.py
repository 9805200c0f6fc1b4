"""Prompt log-probabilities from an OpenAI-compatible completions endpoint.

Two request shapes return them (``max_tokens: 1``, temperature 0):

- ``prompt_logprobs`` (vLLM's extension): ``"prompt_logprobs": 0`` with the prompt as
  token ids; ``choices[0].prompt_logprobs`` has one entry per prompt token, ``None``
  first, then ``{"<token id>": {"logprob": ...}}`` holding at least the prompt's own
  token, so every value is checked against the id it belongs to.
- ``echo`` (OpenAI's legacy completions, llama-cpp-python's server, vLLM):
  ``"echo": true, "logprobs": 0``; ``choices[0].logprobs.token_logprobs`` starts with
  the prompt's tokens, ``None`` first, and may go on with the generated token.

Before any document, a probe checks that the values belong to the tokens they are
reported for: ten words repeated eight times. An aligned model copies the repeats,
so their NLL falls far below the first pass's; a server that pairs each token with
the distribution of the *next* position (llama-cpp-python's server 0.3.36 does, for
models that add no BOS token, because it reads ``scores[i]`` for token ``i``) scores
every repeat as a surprise. Such a server is refused with the figures: the values
cannot be corrected, since the right distribution's value for the token is not sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from niah.backends._http import (
    DEFAULT_TIMEOUT,
    check_base_url,
    json_object,
    resolve_api_key,
    transport_error,
)
from niah.config import ModelSpec
from niah.errors import ConfigError, ModelError, PermanentModelError, UserError
from niah.nll.source import LogprobSource, parse_options
from niah.tokenizers import Tokenizer

PROBE_WORDS = "apple river stone cloud seven garden yellow music table window"
PROBE_REPEATS = 8
MAX_REPEAT_RATIO = 0.5
"""Aligned: the last three repeats' mean NLL is below this share of the first pass's."""

Mode = Literal["prompt_logprobs", "echo"]


class ServerNllOptions(BaseModel):
    """``model.options`` of ``openai-compatible/...`` in an NLL config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["auto", "prompt_logprobs", "echo"] = "auto"
    """How to ask for prompt log-probabilities; ``auto`` tries ``prompt_logprobs``
    (exact: checked per token id) before ``echo``."""
    prompt: Literal["auto", "tokens", "text"] = "auto"
    """Send token ids (windows exactly as niah cut them) or text (servers that take
    only text; the server's token count must then match niah's)."""
    check_alignment: bool = True
    """Run the alignment probe; turning it off is recorded in the manifest."""
    timeout_s: float = Field(default=600.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=100)
    """Attempts after a transient failure (rate limit, 5xx, dropped connection)."""


class Unsupported(Exception):
    """The response holds no prompt log-probabilities of this shape."""


class Misaligned(Exception):
    """The response's log-probabilities do not belong to the prompt's tokens."""


def parse_prompt_logprobs(data: dict[str, Any], ids: Sequence[int]) -> np.ndarray:
    """NLL per token from vLLM's ``prompt_logprobs``, checked against each token id."""
    choices = data.get("choices") or [{}]
    entries = choices[0].get("prompt_logprobs", data.get("prompt_logprobs"))
    if not isinstance(entries, list):
        raise Unsupported("the response has no prompt_logprobs")
    if len(entries) != len(ids):
        raise Misaligned(f"{len(entries)} prompt log-probabilities for {len(ids)} prompt tokens")
    out = np.full(len(ids), np.nan, dtype=np.float32)
    for i in range(1, len(ids)):
        entry = entries[i]
        found = entry.get(str(ids[i])) if isinstance(entry, dict) else None
        value = found.get("logprob") if isinstance(found, dict) else found
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Misaligned(f"position {i + 1} has no log-probability for its token id {ids[i]}")
        out[i] = -float(value)
    return out


def parse_echo(data: dict[str, Any], n: int) -> np.ndarray:
    """NLL per token from an echoed prompt's ``token_logprobs`` (the first ``n``)."""
    choices = data.get("choices") or [{}]
    logprobs = choices[0].get("logprobs")
    values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
    if not isinstance(values, list):
        raise Unsupported("the response has no logprobs.token_logprobs")
    generated = (data.get("usage") or {}).get("completion_tokens")
    allowed = {n} | ({n + generated} if isinstance(generated, int) else set())
    if len(values) not in allowed:
        raise Misaligned(f"the server echoed {len(values)} token log-probabilities for "
                         f"{n} prompt tokens in niah's tokenizer")
    out = np.full(n, np.nan, dtype=np.float32)
    for i in range(1, n):
        value = values[i]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Misaligned(f"position {i + 1} of the echoed prompt has no log-probability")
        out[i] = -float(value)
    return out


def probe_verdict(nll: np.ndarray, per_repeat: int) -> tuple[bool, dict[str, float]]:
    """Whether the probe's repeats were predicted (aligned) and the figures that say so."""
    first = float(np.nanmean(nll[1:per_repeat]))
    tail = float(np.nanmean(nll[-3 * per_repeat:]))
    ratio = tail / first if first > 0 else math.inf
    facts = {"first_pass_nll": round(first, 3), "repeats_nll": round(tail, 3),
             "ratio": round(ratio, 3)}
    return ratio < MAX_REPEAT_RATIO, facts


class ServerSource(LogprobSource):
    """``openai-compatible/<model>`` with ``base_url``; one window per request."""

    kind = "openai-compatible"
    reserved = 1  # completions endpoints generate at least one token after the prompt

    def __init__(
        self, spec: ModelSpec, where: str = "model", client: httpx.Client | None = None
    ) -> None:
        super().__init__(spec, where)
        self.options: ServerNllOptions = parse_options(ServerNllOptions, spec, where)
        if not spec.base_url:
            raise ConfigError(f"{where}.base_url", f"{spec.id} needs base_url (e.g. "
                              "http://127.0.0.1:8000/v1)")
        self.base_url = check_base_url(spec.base_url)
        self.max_retries = self.options.max_retries
        key = resolve_api_key(spec, (), required=False)
        self._secrets = [key] if key else []
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(self.options.timeout_s, connect=DEFAULT_TIMEOUT.connect)
        )
        self._owns_client = client is None
        self.mode: Mode | None = None if self.options.mode == "auto" else self.options.mode
        self.prompt_form: str | None = None if self.options.prompt == "auto" else \
            self.options.prompt
        self._decode: Callable[[Sequence[int]], str] | None = None

    def check(self, tokenizer: Tokenizer) -> dict[str, Any]:
        """Find a request shape that returns prompt log-probabilities, then probe them."""
        self._decode = tokenizer.decode
        per_repeat = len(tokenizer.encode(PROBE_WORDS))
        ids = tokenizer.encode(" ".join([PROBE_WORDS] * PROBE_REPEATS))
        tried: list[str] = []
        for mode, form in self._candidates():
            self.mode, self.prompt_form = mode, form
            try:
                nll = self._score(ids)
            except (Unsupported, PermanentModelError) as exc:
                tried.append(f"{mode} with {form}: {_short(exc)}")
                continue
            except ModelError as exc:
                if exc.status is None:  # nothing answered: the server is down, not unfit
                    raise
                tried.append(f"{mode} with {form}: {_short(exc)}")
                continue
            except Misaligned as exc:
                raise UserError(f"{self.where}: {self.spec.id}: {mode} log-probabilities are "
                                f"misaligned ({exc}); refusing them") from None
            facts: dict[str, Any] = {"mode": mode, "prompt": form}
            if not self.options.check_alignment:
                return {**facts, "alignment": "not checked (check_alignment: false)"}
            aligned, figures = probe_verdict(nll, per_repeat)
            if not aligned:
                raise UserError(
                    f"{self.where}: {self.spec.id}: {mode} log-probabilities are misaligned: "
                    f"a repeated probe scores {figures['repeats_nll']} nats on its repeats vs "
                    f"{figures['first_pass_nll']} on its first pass (aligned scoring predicts "
                    "repeats), as when each token is scored with the next position's "
                    "distribution (llama-cpp-python's server 0.3.36 for models without a BOS "
                    "token); refusing them"
                )
            return {**facts, "alignment": "probe passed", **figures}
        raise UserError(f"{self.where}: {self.spec.id} returned no prompt log-probabilities ("
                        + "; ".join(tried) + ")")

    def _candidates(self) -> list[tuple[Mode, str]]:
        modes: list[Mode] = [self.mode] if self.mode else ["prompt_logprobs", "echo"]
        out: list[tuple[Mode, str]] = []
        for mode in modes:
            forms = [self.prompt_form] if self.prompt_form else ["tokens", "text"]
            out += [(mode, f) for f in forms if not (mode == "prompt_logprobs" and f == "text")]
        if not out:
            raise ConfigError(f"{self.where}.options.prompt",
                              "prompt_logprobs needs token ids: use prompt: tokens or auto")
        return out

    def score(self, ids: Sequence[int]) -> np.ndarray:
        try:
            return self._score(ids)
        except (Unsupported, Misaligned) as exc:
            raise PermanentModelError(f"{self.spec.id}: {exc}", kind="misaligned") from None

    def _score(self, ids: Sequence[int]) -> np.ndarray:
        if self.mode is None or self.prompt_form is None:
            raise UserError(f"{self.where}: {self.spec.id}: call check() before score()")
        prompt: Any = list(ids)
        if self.prompt_form == "text":
            if self._decode is None:
                raise UserError(f"{self.where}: text prompts need the tokenizer (check())")
            prompt = self._decode(ids)
        body: dict[str, Any] = {"model": self.spec.name, "prompt": prompt, "max_tokens": 1,
                                "temperature": 0}
        if self.mode == "prompt_logprobs":
            body["prompt_logprobs"] = 0
        else:
            body |= {"echo": True, "logprobs": 0}
        data = self._post(body)
        if self.mode == "prompt_logprobs":
            return parse_prompt_logprobs(data, ids)
        return parse_echo(data, len(ids))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        provider = self.spec.provider
        try:
            response = self._client.post(f"{self.base_url}/completions", json=body,
                                         headers=self._headers)
        except httpx.RequestError as exc:
            raise transport_error(provider, exc, self._secrets) from exc
        return json_object(provider, response, self._secrets)

    def describe(self) -> dict[str, Any]:
        return {"id": self.spec.id, "source": self.kind, "base_url": self.base_url,
                "mode": self.mode, "prompt": self.prompt_form}

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 120 else text[:117] + "..."
