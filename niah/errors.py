"""The niah exception tree.

Only the CLI turns these into exit codes (2 for ``UserError``, 1 for the rest).

    NiahError
    ├── UserError                 bad input: config, arguments, files (exit 2)
    │   ├── ConfigError           a config field is invalid (``path: message``)
    │   ├── HaystackError         a haystack source cannot be read or is too small
    │   ├── TokenizerError        a tokenizer cannot be loaded
    │   ├── MissingDependency     an optional package is missing (says which pip install)
    │   ├── LockedError           a results directory is in use by another run
    │   └── ResultsError          a results file or manifest is damaged (names file and line)
    ├── ModelError                a backend call failed
    │   ├── TransientModelError   worth retrying: 429, 5xx, timeouts, dropped connections
    │   └── PermanentModelError   retrying cannot help: 400, 401, 403, 404, too long, filtered
    ├── RunAborted                a run stopped itself (error rate too high)
    └── StoreError                results cannot be written or read
"""

from __future__ import annotations


class NiahError(Exception):
    """Base of every error niah raises on purpose."""


class UserError(NiahError):
    """Bad input; the CLI prints one line and exits 2."""


class ConfigError(UserError):
    """An invalid config field; ``str()`` is ``path.to.field: what is wrong``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class HaystackError(UserError):
    """A haystack source is unreadable, empty or too small."""


class TokenizerError(UserError):
    """A tokenizer cannot be loaded or used."""


class MissingDependency(UserError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: pip install 'niah[{extra}]' (or pip install {package})"
        )


class LockedError(UserError):
    """Another live run holds the lock of a results directory."""


class ResultsError(UserError):
    """A stored results file or manifest cannot be read as one (names the file and line)."""


class ModelError(NiahError):
    """A backend call failed. ``kind`` is stored in the result row's ``error``."""

    kind = "model_error"

    def __init__(
        self, message: str, *, kind: str | None = None, status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.status = status
        self.retry_after = retry_after


class TransientModelError(ModelError):
    """Retrying may help (rate limits, server errors, timeouts, connection drops)."""

    kind = "transient"


class PermanentModelError(ModelError):
    """Retrying cannot help (bad request, auth, unknown model, context too long)."""

    kind = "permanent"


class RunAborted(NiahError):
    """The runner stopped a run on purpose, e.g. ``max_error_rate`` was exceeded."""


class StoreError(NiahError):
    """Results or the manifest cannot be written or read."""
