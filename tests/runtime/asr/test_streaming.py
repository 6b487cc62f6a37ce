"""Streaming recognition in-process, on the tone model (words whose times are known): partials after every
chunk, the final transcript as offline, streams kept apart, each chunk's error its own, idle streams freed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import tone_clip
from triton_speech.runtime.asr.streaming import Chunk, StreamingRecognizer, StreamSettings
from triton_speech.runtime.errors import InputError

SETTINGS = StreamSettings(buffer_seconds=2.0, max_stream_seconds=40.0, idle_seconds=5.0, max_audio_seconds=8.0,
                          window_seconds=4.0, overlap_seconds=1.0)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def recognizer(tone_pipeline, clock):
    return StreamingRecognizer(tone_pipeline, SETTINGS, clock)


def clip(words: int, seed: int) -> np.ndarray:
    return tone_clip(words, seed)[0]


def chunks_of(audio: np.ndarray, chunk_ms: float, sequence: int = 7) -> list[Chunk]:
    size = int(chunk_ms * 16)
    pieces = [audio[start : start + size] for start in range(0, len(audio), size)]
    return [Chunk(sequence, k == 0, k == len(pieces) - 1, piece[None]) for k, piece in enumerate(pieces)]


def run(recognizer, chunks) -> list:
    return [recognizer.step([chunk])[0] for chunk in chunks]


@pytest.mark.parametrize("chunk_ms", [160, 640])
# shorter than the buffer, longer, longer than one 8 s pass (in windows)
@pytest.mark.parametrize("words", [3, 12, 40])
def test_the_final_transcript_is_the_offline_one(recognizer, tone_pipeline, chunk_ms, words):
    audio, truth = tone_clip(words, words)
    answers = run(recognizer, chunks_of(audio, chunk_ms))
    final = answers[-1]
    # Against what was said, at the times it was said (the tone model emits each letter where it sounds): a
    # recording longer than one pass goes through the long-audio windows, whose merge must neither lose, double
    # nor shift a word.
    assert [w.text for w in final.words] == [text for text, _, _ in truth]
    assert all(abs(w.start_s - start) <= 0.05 and abs(w.end_s - end) <= 0.05
               for w, (_, start, end) in zip(final.words, truth))
    if len(audio) <= 8 * 16000:  # one pass: exactly the offline recognizer's answer
        offline = tone_pipeline.recognize([audio], words=True)[0]
        assert final.raw == offline.raw and final.words == offline.words
    assert recognizer.streams == {}  # END freed the stream


def test_partials_follow_the_audio_and_equal_offline_while_the_stream_fits_the_buffer(recognizer, tone_pipeline):
    audio = clip(30, 3)
    chunks = chunks_of(audio, 320)
    received = 0
    for chunk, answer in zip(chunks[:-1], run(recognizer, chunks)):
        received += chunk.audio.shape[1]
        if received <= 2 * 16000:
            assert answer.words == tone_pipeline.recognize([audio[:received]], words=True)[0].words
        else:  # the buffer's words merged into what earlier buffers heard: every word said so far is there
            said = tone_pipeline.recognize([audio[:received]], words=True)[0].raw.split()
            heard = answer.raw.split()
            assert heard[: len(said) - 1] == said[:-1]  # the newest word may still be cut by the chunk's end


def test_interleaved_streams_do_not_mix(recognizer, tone_pipeline):
    clips = [clip(6 + k, 10 + k) for k in range(4)]
    streams = [chunks_of(audio, 320, sequence=100 + k) for k, audio in enumerate(clips)]
    finals = {}
    for step in range(max(len(s) for s in streams)):
        batch = [s[step] for s in streams if step < len(s)]
        for chunk, answer in zip(batch, recognizer.step(batch)):
            if chunk.end:
                finals[chunk.sequence] = answer.raw
    assert finals == {100 + k: tone_pipeline.recognize([audio])[0].raw for k, audio in enumerate(clips)}


def test_a_chunk_of_an_unknown_or_ended_stream_is_refused_alone(recognizer):
    audio = clip(3, 1)
    run(recognizer, chunks_of(audio, 500, sequence=5))  # started and ended
    answers = recognizer.step([Chunk(5, False, False, audio[None, :800]), Chunk(6, True, False, audio[None, :800]),
                               Chunk(9, False, True, audio[None, :800])])
    assert isinstance(answers[0], InputError) and "sequence 5 is not an open stream" in str(answers[0])
    assert isinstance(answers[2], InputError) and "sequence 9 is not an open stream" in str(answers[2])
    assert not isinstance(answers[1], Exception) and 6 in recognizer.streams


def test_bad_audio_fails_its_chunk_and_the_stream_goes_on(recognizer, tone_pipeline):
    audio = clip(4, 2)
    first, *rest = chunks_of(audio, 400, sequence=3)
    recognizer.step([first])
    bad = audio[None, :400].copy()
    bad[0, 17] = np.nan
    (answer,) = recognizer.step([Chunk(3, False, False, bad)])
    assert isinstance(answer, InputError) and "AUDIO of sequence 3 contains 1 NaN or Inf samples" in str(answer)
    assert run(recognizer, rest)[-1].raw == tone_pipeline.recognize([audio])[0].raw  # as if never sent


def test_a_failed_end_chunk_still_ends_its_stream(recognizer):
    audio = clip(2, 4)
    recognizer.step([Chunk(8, True, False, audio[None, :1600])])
    (answer,) = recognizer.step([Chunk(8, False, True, np.full((1, 10), np.inf, np.float32))])
    assert isinstance(answer, InputError) and recognizer.streams == {}


def test_a_stream_cannot_grow_beyond_its_limit_nor_send_several_rows(recognizer):
    recognizer.step([Chunk(1, True, False, np.zeros((1, 39 * 16000), np.float32))])
    (answer,) = recognizer.step([Chunk(1, False, False, np.zeros((1, 2 * 16000), np.float32))])
    assert "the stream would be 41.00 s long; the limit is 40 s" in str(answer)
    (answer,) = recognizer.step([Chunk(1, False, False, np.zeros((2, 160), np.float32))])
    assert "must be one row [1, samples] per request, got [2, 160]" in str(answer)


def test_idle_streams_are_freed(recognizer, clock):
    audio = clip(2, 5)
    recognizer.step([Chunk(1, True, False, audio[None, :1600]), Chunk(2, True, False, audio[None, :1600])])
    clock.now = 4.0
    recognizer.step([Chunk(2, False, False, audio[None, 1600:3200])])  # stream 2 speaks, stream 1 does not
    clock.now = 5.5
    assert recognizer.expire() == [1] and set(recognizer.streams) == {2}
    (answer,) = recognizer.step([Chunk(1, False, False, audio[None, 1600:3200])])
    assert "idle for more than 5 s and freed" in str(answer)


def test_a_stream_too_short_for_one_frame_ends_with_an_empty_transcript(recognizer):
    (answer,) = recognizer.step([Chunk(4, True, True, np.zeros((1, 100), np.float32))])
    assert answer.raw == "" and answer.words == []
