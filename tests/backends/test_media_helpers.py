"""niah.backends._media: where media parts go in the last user message."""

from __future__ import annotations

import pytest

from niah.backends._body import Text
from niah.backends._media import Label, audio_format, check_kinds, last_user, segments
from niah.backends.base import Message, Request
from niah.errors import PermanentModelError
from niah.media.base import MediaPart

A = MediaPart("image", "/a.png", "image/png", "a" * 64, 1, 0.0, label="[00:00:00]")
B = MediaPart("image", "/b.png", "image/png", "b" * 64, 1, 1.0)


def shown(message: Message, request: Request) -> list[object]:
    return [str(s) if isinstance(s, Text) else s for s in segments(message, request)]


def test_text_before_then_labels_and_parts_then_the_rest() -> None:
    user = Message(role="user", content="before|after")
    request = Request(messages=[user], media=(A, B), media_at=7)
    assert shown(user, request) == ["before|", Label("[00:00:00]"), A, B, "after"]


@pytest.mark.parametrize(("at", "expected"), [
    (0, [A, "text"]), (4, ["text", A]), (None, ["text", A]), (99, ["text", A]), (-3, [A, "text"]),
])
def test_ends_and_out_of_range_offsets_leave_no_empty_text(at: int | None,
                                                           expected: list[object]) -> None:
    user = Message(role="user", content="text")
    part = MediaPart("image", "/a.png", "image/png", "a" * 64, 1, 0.0)
    expected = [part if e is A else e for e in expected]
    assert shown(user, Request(messages=[user], media=(part,), media_at=at)) == expected


def test_the_last_user_message_carries_the_media() -> None:
    messages = [Message(role="system", content="s"), Message(role="user", content="u1"),
                Message(role="assistant", content="a"), Message(role="user", content="u2"),
                Message(role="assistant", content="prefill")]
    assert last_user(messages) == 3
    assert last_user(messages[:1]) is None


def test_kinds_and_audio_formats_a_backend_cannot_send_are_permanent_errors() -> None:
    clip = MediaPart("audio", "/a.flac", "audio/flac", "c" * 64, 1, 0.0, duration_s=1.0)
    with pytest.raises(PermanentModelError, match="cannot send audio") as caught:
        check_kinds("anthropic", frozenset({"image"}), [A, clip])
    assert caught.value.kind == "unsupported_media"
    check_kinds("openai", frozenset({"image", "audio"}), [A, clip])
    with pytest.raises(PermanentModelError, match="wav or mp3"):
        audio_format("openai", clip)
    assert audio_format("openai", MediaPart("audio", "/x", "audio/mpeg", "d" * 64, 1, 0.0)) == "mp3"
