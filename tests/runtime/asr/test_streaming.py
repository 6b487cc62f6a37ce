"""Streaming recognition in-process, on the tone model (words whose times are known): partials after every
chunk (computed incrementally: for the tone model, whose outputs depend on their own frames only, each partial is
the offline transcript of the stream so far), the final transcript as offline, streams kept apart, each chunk's
error its own, idle streams freed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.support.tones import tone_clip, tone_speech
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


# A partial's word confidences against offline's: its features are the numpy front-end's (frontend.onnx's within
# 4e-5, tests/models/test_frontend.py), so probabilities agree to float rounding
CONFIDENCE_TOLERANCE = 1e-4


def same_words(streamed, offline) -> bool:
    """The same words at the same times, their confidences within the tolerance."""
    return [(w.text, w.start_s, w.end_s) for w in streamed] == [(w.text, w.start_s, w.end_s) for w in offline] and \
        all(abs(a.confidence - b.confidence) <= CONFIDENCE_TOLERANCE for a, b in zip(streamed, offline))


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
            assert same_words(answer.words, tone_pipeline.recognize([audio[:received]], words=True)[0].words)
        else:  # the buffer's words merged into what earlier buffers heard: every word said so far is there
            said = tone_pipeline.recognize([audio[:received]], words=True)[0].raw.split()
            heard = answer.raw.split()
            assert heard[: len(said) - 1] == said[:-1]  # the newest word may still be cut by the chunk's end


@pytest.mark.parametrize("chunk_ms", [250, 320, 1000])
@pytest.mark.parametrize("lookahead_s", [0.0, 0.3])
def test_every_partial_is_the_offline_transcript_of_the_stream_so_far(tone_pipeline, clock, chunk_ms, lookahead_s):
    """Far longer than the buffer, chunks that do not end on a log-prob frame (250 ms: 25 feature frames, 4 per
    log-prob frame): words, times and confidences as offline, the tone model's features and log-probs being local."""
    recognizer = StreamingRecognizer(tone_pipeline, replace(SETTINGS, lookahead_seconds=lookahead_s), clock)
    audio = clip(25, 6)
    received = 0
    for chunk in chunks_of(audio, chunk_ms)[:-1]:
        (answer,) = recognizer.step([chunk])
        received += chunk.audio.shape[1]
        offline = tone_pipeline.recognize([audio[:received]], words=True)[0]
        assert answer.raw == offline.raw and same_words(answer.words, offline.words)


def test_lexicon_partials_are_offline_lexicon_decoding_of_the_stream_so_far(tone_export, clock):
    """Beam search over a word list, resumed chunk by chunk, at the final's beam width: as offline."""
    from tests.support.tones import tone_words
    from triton_speech.runtime.asr.pipeline import ASRPipeline

    words = tone_words(40, 9)
    lexicon = tone_export.parent / "tone_lexicon.txt"
    lexicon.write_text("\n".join(words[::2] + ["ab", "cd"]))  # half the words said, and two others
    pipeline = ASRPipeline.from_export(tone_export, lexicon=lexicon, beam_size=8)
    recognizer = StreamingRecognizer(pipeline, replace(SETTINGS, partial_beam_size=0), clock)
    audio = tone_speech(words[:14], [0.3] * 15)[0]
    received = 0
    for chunk in chunks_of(audio, 320)[:-1]:
        (answer,) = recognizer.step([chunk])
        received += chunk.audio.shape[1]
        assert same_words(answer.words, pipeline.recognize([audio[:received]], words=True)[0].words)


def test_a_chunk_that_asks_no_words_gets_the_text_alone(recognizer):
    audio = clip(4, 12)
    first, second, *_ = chunks_of(audio, 640)
    timed = recognizer.step([first])[0]
    (plain,) = recognizer.step([Chunk(7, False, False, second.audio, words=False)])
    assert plain.words is None and timed.words is not None and plain.raw.startswith(timed.raw.split(" ")[0])


def test_buffered_partials_rerun_the_buffer_and_merge(tone_pipeline, clock):
    """The previous method (--stream-partials buffered): offline while the stream fits the buffer, every word said
    so far after it."""
    recognizer = StreamingRecognizer(tone_pipeline, replace(SETTINGS, partials="buffered"), clock)
    audio = clip(30, 3)
    chunks = chunks_of(audio, 320)
    received = 0
    for chunk, answer in zip(chunks[:-1], run(recognizer, chunks)):
        received += chunk.audio.shape[1]
        offline = tone_pipeline.recognize([audio[:received]], words=True)[0]
        if received <= 2 * 16000:
            assert answer.words == offline.words
        else:
            assert answer.raw.split()[: len(offline.raw.split()) - 1] == offline.raw.split()[:-1]
    assert recognizer.streams == {}


def test_an_unknown_partials_mode_is_refused():
    settings = dict(buffer_seconds=2.0, max_stream_seconds=600, idle_seconds=10, max_audio_seconds=60,
                    window_seconds=30, overlap_seconds=5, lookahead_seconds=1.0, partial_beam_size=8)
    assert StreamSettings(**settings, partials="buffered").partials == "buffered"
    with pytest.raises(ValueError, match="partials must be one of incremental, buffered"):
        StreamSettings(**settings, partials="sometimes")


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
