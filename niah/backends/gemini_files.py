"""Gemini's Files API: a media part too large to send inline is uploaded once per sweep.

The protocol, from the Gemini API's Files guide (checked 2026-12):

1. ``POST {origin}/upload/v1beta/files`` with ``X-Goog-Upload-Protocol: resumable``,
   ``X-Goog-Upload-Command: start``, ``X-Goog-Upload-Header-Content-Length`` and
   ``-Content-Type``, and ``{"file": {"display_name": ...}}``; the reply's
   ``X-Goog-Upload-URL`` header says where the bytes go.
2. ``POST`` the bytes there with ``X-Goog-Upload-Offset: 0`` and
   ``X-Goog-Upload-Command: upload, finalize``; the reply is ``{"file": File}`` with its
   ``name`` (``files/abc``), ``uri`` and ``state``.
3. Videos are processed first: ``GET {base}/files/abc`` until ``state`` is ``ACTIVE``
   (``FAILED``: give up). Only then may ``file_data`` refer to the ``uri``.

Files last 48 hours (2 GB each, 20 GB per project). Uploads are keyed by the part's
sha256, so a sweep uploads each distinct clip once, even when trials ask concurrently;
a failed upload is forgotten, so the runner's retry uploads again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from niah.backends._http import bad_response, json_object
from niah.errors import PermanentModelError, TransientModelError
from niah.media.base import MediaPart

Send = Callable[[str, str, Mapping[str, str], Any], Awaitable[httpx.Response]]
LIFETIME_S = 47 * 3600
"""Re-upload a file an hour before the API's 48 hours run out."""
CHUNK = 1 << 20
PARALLEL = 4
"""Uploads in flight at once per backend (frames of a long video can be thousands)."""


@dataclass(frozen=True)
class UploadedFile:
    name: str
    """``files/abc``: recorded in the result row, to find the upload again."""
    uri: str
    mime: str
    uploaded_at: float


class FileStore:
    """Uploads of one backend, keyed by content hash."""

    poll_s = 2.0
    """Seconds between ``files.get`` polls while a file is PROCESSING."""
    max_wait_s = 900.0
    """Processing longer than this is a transient error (the runner retries)."""

    def __init__(self, provider: str, base_url: str, send: Send,
                 headers: Callable[[], dict[str, str]], secrets: list[str]) -> None:
        self.provider = provider
        self.base_url = base_url
        parts = urlsplit(base_url)
        self.upload_url = f"{parts.scheme}://{parts.netloc}/upload{parts.path}/files"
        self._send = send
        self._headers = headers
        self._secrets = secrets
        self._uploads: dict[str, asyncio.Task[UploadedFile]] = {}
        self._slots: asyncio.Semaphore | None = None
        self.uploaded = 0
        """Files actually uploaded (not found in the store), for tests and the manifest."""

    async def get(self, part: MediaPart) -> UploadedFile:
        """The uploaded file for ``part``, uploading it unless this store already did."""
        task = self._uploads.get(part.sha256)
        if task is not None and task.done() and (
            task.cancelled() or task.exception() is not None
            or time.time() - task.result().uploaded_at > LIFETIME_S
        ):
            task = None
        if task is None:
            task = asyncio.ensure_future(self._upload(part))
            self._uploads[part.sha256] = task
        try:
            return await asyncio.shield(task)
        except BaseException:
            if self._uploads.get(part.sha256) is task and task.done():
                del self._uploads[part.sha256]
            raise

    async def _upload(self, part: MediaPart) -> UploadedFile:
        if self._slots is None:  # made in the running loop
            self._slots = asyncio.Semaphore(PARALLEL)
        async with self._slots:
            return await self._upload_now(part)

    async def _upload_now(self, part: MediaPart) -> UploadedFile:
        headers = {**self._headers(), "Content-Type": "application/json",
                   "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
                   "X-Goog-Upload-Header-Content-Length": str(part.nbytes),
                   "X-Goog-Upload-Header-Content-Type": part.mime}
        start = await self._send("POST", self.upload_url, headers,
                                 b'{"file":{"display_name":"niah-' + part.sha256[:32].encode()
                                 + b'"}}')
        json_object(self.provider, start, self._secrets)
        session = start.headers.get("x-goog-upload-url")
        if not session:
            raise bad_response(self.provider, "upload start gave no X-Goog-Upload-URL")
        headers = {**self._headers(), "Content-Length": str(part.nbytes),
                   "X-Goog-Upload-Offset": "0", "X-Goog-Upload-Command": "upload, finalize"}
        done = await self._send("POST", session, headers, _read(part.path))
        found = json_object(self.provider, done, self._secrets).get("file")
        self.uploaded += 1
        deadline = time.monotonic() + self.max_wait_s
        while True:
            info = _file(self.provider, found)
            state = info.get("state")
            if state in (None, "ACTIVE", "STATE_UNSPECIFIED"):
                break
            if state == "FAILED":
                raise PermanentModelError(f"{self.provider}: the Files API could not process "
                                          f"{info['name']} ({part.mime})", kind="upload_failed")
            if time.monotonic() > deadline:
                raise TransientModelError(f"{self.provider}: {info['name']} still {state} after "
                                          f"{self.max_wait_s:g} s", kind="upload_processing")
            await asyncio.sleep(self.poll_s)
            polled = await self._send("GET", f"{self.base_url}/{info['name']}", self._headers(),
                                      None)
            found = json_object(self.provider, polled, self._secrets)
        return UploadedFile(info["name"], info["uri"], info.get("mimeType") or part.mime,
                            time.time())


def _file(provider: str, data: Any) -> dict[str, Any]:
    if (not isinstance(data, dict) or not isinstance(data.get("name"), str)
            or not isinstance(data.get("uri"), str)):
        raise bad_response(provider, "Files API reply has no file name and uri")
    return data


async def _read(path: str) -> AsyncIterator[bytes]:
    """The file a MiB at a time: a multi-GB clip is never in memory whole."""
    with open(path, "rb") as f:
        while block := await asyncio.to_thread(f.read, CHUNK):
            yield block
