"""The media builder: needles drawn as for text, media in the model's form, digests and
token counts that cover the media."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from niah.config import load_experiment
from niah.errors import ConfigError, MissingDependency, UserError
from niah.exchange import make_request
from niah.media import sources
from niah.media.builder import MediaBuilder, media_digest
from niah.plan import plan
from tests.media import fakes

pytestmark = pytest.mark.usefixtures("fake_media")

EYE = {"id": "scripted/eye", "options": {"media_forms": {"video": "frames", "audio": "wav"}}}


def experiment(**extra: Any) -> Any:
    data: dict[str, Any] = {"name": "m", "model": [EYE], "haystack": {"kind": "video"},
                            "grid": {"durations": [10, 20], "depth_percents": [0, 50],
                                     "repeats": 2}}
    data.update(extra)
    return load_experiment(data)


def test_each_trial_gets_its_media_needle_and_digest(tmp_path: Path) -> None:
    e = experiment()
    builder = MediaBuilder(e, out_dir=tmp_path)
    built = [builder.build(t) for t in plan(e)]
    assert len({b.prompt_sha256 for b in built}) == len(built)
    for bp in built:
        (needle,) = bp.needles
        assert needle.text == f'The secret word is "{needle.answer}".'
        assert needle.answer not in " ".join(fakes.CAPTIONS).lower()
        assert len(bp.media) == bp.trial.context_length and bp.media_form == "frames"
        assert bp.media_at == 0 and bp.context == ""  # the template starts with {context}
        assert bp.messages[-1]["content"].startswith("\n\nWhat is the secret word?")
        assert bp.prompt_tokens == builder.overhead_tokens(bp.question) + 258 * len(bp.media)
        assert needle.time_s == needle.index == round(bp.trial.requested_depth / 100
                                                      * (len(bp.media) - 1))
        request = make_request(e, bp, e.model[0])
        assert request.media == bp.media and request.media_at == 0 and request.cache is None
    again = MediaBuilder(e, out_dir=tmp_path).build(plan(e)[3])
    assert again.prompt_sha256 == built[3].prompt_sha256  # deterministic, files reused
    # the same messages with other media are another prompt
    trial = fakes.FakeSource(e.media, tmp_path, tmp_path).build(
        10.0, 0.0, built[0].needles[0].text, built[0].needles[0].answer, 1, "frames", tmp_path)
    assert trial.parts != built[0].media
    assert media_digest(built[0].messages, trial, 0) != built[0].prompt_sha256
    other = MediaBuilder(experiment(haystack={"kind": "video", "fps": 2}), out_dir=tmp_path)
    first = other.build(plan(other.experiment)[0])
    assert len(first.media) == 2 * first.trial.context_length


def test_estimates_need_no_media(tmp_path: Path) -> None:
    e = experiment(haystack={"kind": "audio"})
    builder = MediaBuilder(e, out_dir=tmp_path)
    text, media = builder.estimate_tokens(plan(e)[-1])
    assert media == 20 * 32 and text == builder.overhead_tokens("What is the secret keyword?")
    assert not fakes.BUILT


def test_a_model_that_takes_no_such_media_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"scripted/blind takes no audio input.*asr\+"):
        MediaBuilder(experiment(model="scripted/blind", haystack={"kind": "audio"}))


def test_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sources.OPENERS, "video", "no_such_package_xyz.video:open")
    with pytest.raises(MissingDependency, match=r"pip install 'niah\[video\]'"):
        sources.opener("video")
    monkeypatch.setitem(sources.OPENERS, "video", "niah.media.no_such_module:open")
    with pytest.raises(UserError, match="not in this niah build"):
        sources.opener("video")
