"""The API's schemas: OpenAI's verbose_json, and the limits on what a request may carry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.gateway.test_inference import OUTPUTS
from triton_speech.gateway.inference import Recognition, words_of
from triton_speech.gateway.protocol import SpeechIn, plain_name, verbose_json
from triton_speech.runtime.asr.words import Transcript


def test_verbose_json_has_words_only_when_the_model_gives_them():
    with_words = verbose_json(Recognition(Transcript("Hello there.", "hello there"), words_of(OUTPUTS), 0.01), 1.5)
    assert with_words["words"][1] == {"word": "there", "start": 0.61, "end": 1.04, "confidence": 0.7}
    assert with_words["segments"] == [{"id": 0, "seek": 0, "start": 0.0, "end": 1.5, "text": "Hello there."}]
    without = verbose_json(Recognition(Transcript("Hello there.", "hello there"), None, 0.01), 1.5)
    assert "words" not in without and without["text"] == "Hello there." and without["duration"] == 1.5



@pytest.mark.parametrize("body, problem", [
    ({"text": "a\0b"}, "must not contain NUL characters"),
    ({"text": "hello", "seed": 2**31}, "less than or equal to 2147483647"),
    ({"text": "hello", "seed": -1}, "greater than or equal to 0"),
    ({"text": ""}, "at least 1 character"),
])
def test_speech_requests_the_database_could_not_hold_are_refused(body, problem):
    with pytest.raises(ValidationError, match=problem):
        SpeechIn.model_validate(body)
    assert SpeechIn.model_validate({"text": "line one\nline two", "seed": 2**31 - 1}).seed == 2**31 - 1


def test_a_file_name_is_shown_without_control_characters():
    assert plain_name("my\0 clip\t.wav") == "my clip.wav"
    assert plain_name("é" * 300) == "é" * 255
