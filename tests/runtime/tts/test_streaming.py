"""Streaming synthesis in-process: the chunk plan, sentences joining a running decoder batch, the vocoders on windows
(reach recorded by the exports, Griffin-Lim's bound), the synthesizer against the whole-text pipeline, and the
scheduler's isolation of a failing request."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.audio import GRIFFIN_LIM_STREAM_MIN_SNR_DB, assert_chunks_in_order, snr_db
from tests.support.decoding import SEEDS, TEXTS
from tests.support.models import tiny_tacotron2, tiny_waveglow
from triton_speech.defaults import GRIFFIN_LIM_CONTEXT_FRAMES, GRIFFIN_LIM_ITERATIONS
from triton_speech.runtime.tts.griffin_lim import (
    BINS,
    GriffinLimStream,
    draw_phases,
    griffin_lim,
    magnitudes,
    phase_recovery,
)
from triton_speech.runtime.tts.pipeline import TTSPipeline
from triton_speech.runtime.tts.sentences import sentence_sequences
from triton_speech.runtime.tts.stft import HOP
from triton_speech.runtime.tts.streaming import StreamingSynthesizer, StreamJob, StreamScheduler, plan_chunks
from triton_speech.runtime.tts.tacotron2 import DecoderBatch, Tacotron2Engine, request_mels
from triton_speech.runtime.tts.waveglow import WaveGlowEngine, WaveGlowStream

MULTI_SENTENCE = "Hi. Hello there, how are you? The 3rd test costs $3.50 today."


# --- the chunk plan ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("emitted, ready, ends, total, expected", [
    (0, 8, [], None, []),  # 8 ready, 4 of them the lookahead: 4 frames are less than a block of 5
    (0, 10, [], None, [(0, 6)]),  # 6 frames with their lookahead: a block
    (0, 20, [7], None, [(0, 7), (7, 16)]),  # never across a sentence end; the end goes out at once
    (0, 8, [7], None, []),  # the end needs 4 final frames after it (has 1), and 4 frames are no block
    (16, 40, [30, 38], 38, [(16, 30), (30, 38)]),  # all known: the rest, sentence by sentence
    (16, 50, [30, 60], 50, [(16, 30), (30, 50)]),  # cut at 50 inside the second sentence
    (38, 38, [30, 38], 38, []),  # all sent
])
def test_chunk_plan_by_hand(emitted, ready, ends, total, expected):
    assert plan_chunks(emitted, ready, ends, total, context=4, block=5) == expected


@given(st.lists(st.integers(1, 30), min_size=1, max_size=5), st.integers(0, 8), st.integers(1, 10),
       st.lists(st.integers(0, 7), min_size=1, max_size=40))
def test_chunk_plan_covers_the_mel_in_order_within_sentences(lengths, context, block, growth):
    """However the final frames grow, the chunks tile [0, total) in order, each within one sentence, and a chunk
    that goes out before the end has ``context`` final frames after it."""
    ends = list(np.cumsum(lengths))
    total, ready, emitted, chunks = ends[-1], 0, 0, []
    for grow in [*growth, total]:
        ready = min(total, ready + grow)
        known = total if ready == total else None
        new = plan_chunks(emitted, ready, [e for e in ends if e <= ready], known, context, block)
        for start, end in new:
            assert start == emitted and end > start
            assert not any(start < e < end for e in ends)
            assert known is not None or end + context <= ready
            emitted = end
        chunks += new
    assert chunks[0][0] == 0 and chunks[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))


# --- the decoder batch: sentences joining and leaving ------------------------------------------------------------

def test_sentences_joining_a_running_batch_get_their_alone_mels(tacotron2_export, decoding_case):
    """Items joining at different steps (the text axis padded) and leaving (cut) decode what they decode alone."""
    _, sequences, seeds, settings, _ = decoding_case
    engine = Tacotron2Engine.load(tacotron2_export[0], settings)
    alone = [engine([ids], [seed])[0] for ids, seed in zip(sequences, seeds)]
    batch = DecoderBatch(engine)
    frames: dict[int, list] = {}
    joins = {0: [0], 3: [2], 7: [1]}  # step -> items joining: a shorter text first, then longer ones
    owner, step = {}, 0
    while step in joins or batch.running or step < max(joins):
        for index in joins.get(step, []):
            (item,) = batch.add([sequences[index]], [seeds[index]])
            owner[item] = index
            frames[index] = []
        if batch.running:
            made = batch.step()
            for row, item in enumerate(made.items):
                frames[owner[item]].append(made.frames[row])
        step += 1
    for index, spectrogram in enumerate(alone):
        mel = engine.postnet_mels([np.stack(frames[index], axis=1)])[0]
        assert mel.shape == spectrogram.mel.shape
        np.testing.assert_allclose(mel, spectrogram.mel, atol=1e-5, rtol=0)


# --- reach of the networks, as the exports record it -----------------------------------------------------------

def changed_span(reference: np.ndarray, other: np.ndarray, axis: int) -> tuple[int, int]:
    changed = np.flatnonzero(np.abs(other - reference).max(axis=tuple(a for a in range(reference.ndim) if a != axis))
                             > 0)
    return int(changed.min()), int(changed.max())


def test_postnet_context_is_how_far_a_frame_reaches(tacotron2_export):
    """Perturbing decoder frame 30 of 60 changes postnet frames exactly within the recorded context."""
    engine = Tacotron2Engine.load(tacotron2_export[0])
    mel = np.random.default_rng(0).normal(0, 1, (16, 60)).astype(np.float32)
    bumped = mel.copy()
    bumped[:, 30] += 1.0
    first, last = changed_span(*engine.postnet_mels([mel, bumped]), axis=1)
    context = engine.postnet_context_frames
    assert context == tiny_tacotron2().postnet.context_frames == 6  # 3 convolutions of kernel 5
    assert (first, last) == (30 - context, 30 + context)


def test_waveglow_context_covers_how_far_noise_and_mel_reach(waveglow_export):
    """Perturbing the noise of one group of samples changes audio only within the recorded reach, and further than
    the reach of one flow (the flows' reaches add up)."""
    engine = WaveGlowEngine.load(waveglow_export[0])
    model = tiny_waveglow()
    frames = 60
    mel = np.random.default_rng(0).normal(-5, 2, (16, frames)).astype(np.float32)
    z = engine.noise(frames, 0)
    bumped = z.copy()
    centre = z.shape[1] // 2
    bumped[:, centre] += 1.0
    first, last = changed_span(*engine([mel, mel], noise=[z, bumped]), axis=0)
    reach = model.context_samples - 1024  # the dilated convolutions' part
    assert reach == 4 * (1 + 2 + 4) * 8  # 4 flows of 3 layers (dilations 1, 2, 4), groups of 8 samples
    assert centre * 8 - reach <= first < centre * 8 - 7 * 8 and centre * 8 + 7 * 8 < last < centre * 8 + 8 + reach
    assert engine.context_frames == -(-model.context_samples // 256) + 4


def test_noise_and_initial_phases_of_a_frame_do_not_depend_on_what_follows(waveglow_export):
    engine = WaveGlowEngine.load(waveglow_export[0])
    np.testing.assert_array_equal(engine.noise(20, 5)[:, : 7 * 32], engine.noise(7, 5))
    generator = np.random.default_rng(3)
    pieces = np.concatenate([engine.draw_noise(generator, 3), engine.draw_noise(generator, 4)], axis=1)
    np.testing.assert_array_equal(pieces, engine.noise(7, 3))
    np.testing.assert_array_equal(draw_phases(np.random.default_rng(3), 20)[:, :7],
                                  draw_phases(np.random.default_rng(3), 7))
    assert griffin_lim(np.full((16, 20), -5.0, np.float32), 3).shape == (20 * HOP,)


def test_phase_recovery_is_librosas_fast_griffin_lim():
    """Given librosa's own initial phases (drawn bin by bin), the loop gives librosa.griffinlim's audio."""
    import librosa

    mel = np.random.default_rng(1).normal(-5, 1.5, (80, 30)).astype(np.float32)
    magnitude = magnitudes(mel)
    phases = np.exp(2j * np.pi * np.random.default_rng(4).random(magnitude.shape)).astype(np.complex64)
    ours = phase_recovery(magnitude, phases, 8)
    theirs = librosa.griffinlim(magnitude, n_iter=8, hop_length=HOP, n_fft=1024, random_state=np.random.default_rng(4))
    np.testing.assert_allclose(ours[: theirs.shape[0]], theirs, atol=1e-5 * np.abs(theirs).max())
    assert magnitude.shape == (BINS, 30)


# --- the synthesizer against the whole text ---------------------------------------------------------------------

def stream_alone(engine: Tacotron2Engine, text: str, seed: int, vocoder, block: int = 8, max_frames: int = 10**6):
    synthesizer = StreamingSynthesizer(engine, block, max_frames)
    synthesizer.add(sentence_sequences(text, 60), seed, vocoder)
    chunks = []
    while synthesizer.running:
        chunks += [chunk for _, chunk in synthesizer.step()]
    return chunks


@pytest.mark.parametrize("denoiser_strength", [0.0, 0.05])
def test_streamed_waveglow_audio_is_the_whole_texts_audio(tacotron2_export, waveglow_export, decoding_case,
                                                           denoiser_strength):
    settings = decoding_case[3]
    tacotron2 = Tacotron2Engine.load(tacotron2_export[0], settings)
    waveglow = WaveGlowEngine.load(waveglow_export[0])
    pipeline = TTSPipeline(tacotron2, waveglow, max_sentence_chars=60)
    chunk_counts = []
    for text, seed in [*zip(TEXTS, SEEDS), (MULTI_SENTENCE, 4)]:
        expected = pipeline(text, seed, sigma=0.5, denoiser_strength=denoiser_strength)
        chunks = stream_alone(tacotron2, text, seed, WaveGlowStream(waveglow, seed, 0.5, denoiser_strength))
        assert_chunks_in_order(chunks)
        assert chunks[-1].step_limit_reached == expected.hit_step_limit
        audio = np.concatenate([c.audio for c in chunks])
        assert audio.shape == expected.audio.shape
        np.testing.assert_allclose(audio, expected.audio, atol=1e-4 * np.abs(expected.audio).max(), rtol=0)
        chunk_counts.append(len(chunks))
    assert max(chunk_counts) >= 3  # long sentences went out in blocks


@pytest.mark.parametrize("short_by", [0, 2, 10])
def test_streamed_audio_is_cut_at_max_frames(tacotron2_export, waveglow_export, decoding_case, short_by):
    """The limit at the length (no cut), inside the last sentence, inside the first: as the tts ensemble cuts."""
    tacotron2 = Tacotron2Engine.load(tacotron2_export[0], decoding_case[3])
    waveglow = WaveGlowEngine.load(waveglow_export[0])
    sentences = sentence_sequences(MULTI_SENTENCE, 60)
    (whole,) = request_mels(tacotron2, [(sentences, 4)])
    assert not whole.hit_step_limit and whole.mel.shape[1] > 10  # 3 sentences of 4 frames or so
    limit = whole.mel.shape[1] - short_by
    (cut,) = request_mels(tacotron2, [(sentences, 4)], max_frames=limit)
    expected = waveglow([cut.mel], seeds=[4])[0]
    chunks = stream_alone(tacotron2, MULTI_SENTENCE, 4, WaveGlowStream(waveglow, 4, waveglow.sigma, 0.0),
                          max_frames=limit)
    assert_chunks_in_order(chunks)
    assert cut.hit_step_limit == chunks[-1].step_limit_reached == (short_by > 0)
    assert expected.shape == (limit * HOP,)
    np.testing.assert_allclose(np.concatenate([c.audio for c in chunks]), expected,
                               atol=1e-4 * np.abs(expected).max(), rtol=0)


def test_streamed_griffin_lim_is_within_its_bound(default_tacotron2_export):
    """The default Tacotron2's speech: joined chunks against the whole mel through Griffin-Lim at once."""
    tacotron2 = Tacotron2Engine.load(default_tacotron2_export)
    pipeline = TTSPipeline(tacotron2, None, max_sentence_chars=250)
    texts = ["Good morning.", "The train to Paris leaves at nine. Call me on Monday!", "It costs five dollars?"]
    for seed, text in enumerate(texts):
        expected = pipeline(text, seed).audio
        chunks = stream_alone(tacotron2, text, seed, GriffinLimStream(seed, GRIFFIN_LIM_ITERATIONS,
                                                                      GRIFFIN_LIM_CONTEXT_FRAMES), block=32)
        assert_chunks_in_order(chunks)
        audio = np.concatenate([c.audio for c in chunks])
        assert audio.shape == expected.shape and len(chunks) >= 2
        assert snr_db(expected, audio) >= GRIFFIN_LIM_STREAM_MIN_SNR_DB, text
    # And the bound is not free: without context, windows are far from the whole.
    chunks = stream_alone(tacotron2, texts[1], 1, GriffinLimStream(1, GRIFFIN_LIM_ITERATIONS, 0), block=32)
    assert snr_db(pipeline(texts[1], 1).audio, np.concatenate([c.audio for c in chunks])) < 20.0


# --- the scheduler ----------------------------------------------------------------------------------------------

class Collector:
    def __init__(self):
        self.chunks, self.errors, self.done = [], [], threading.Event()

    def send(self, chunk):
        self.chunks.append(chunk)
        if chunk.final:
            self.done.set()

    def fail(self, error):
        self.errors.append(error)
        self.done.set()

    @property
    def audio(self):
        return np.concatenate([c.audio for c in self.chunks])


class FailingVocoder:
    context_frames = 2

    def __call__(self, mel, start):
        raise RuntimeError("vocoder broke")


def test_scheduler_gives_a_failing_request_its_error_and_the_others_their_audio(tacotron2_export, waveglow_export,
                                                                               decoding_case):
    tacotron2 = Tacotron2Engine.load(tacotron2_export[0], decoding_case[3])
    waveglow = WaveGlowEngine.load(waveglow_export[0])
    scheduler = StreamScheduler(lambda: StreamingSynthesizer(tacotron2, 8, 10**6))
    good, bad, late = Collector(), Collector(), Collector()
    jobs = [(good, TEXTS[0], SEEDS[0], lambda: WaveGlowStream(waveglow, SEEDS[0], 0.5, 0.0)),
            (bad, TEXTS[2], SEEDS[2], FailingVocoder),
            (late, MULTI_SENTENCE, 4, lambda: WaveGlowStream(waveglow, 4, 0.5, 0.0))]
    for collector, text, seed, vocoder in jobs[:2]:  # queued before the thread starts: one batch
        scheduler.submit(StreamJob(sentence_sequences(text, 60), seed, vocoder, collector.send, collector.fail))
    scheduler.start()
    collector, text, seed, vocoder = jobs[2]  # joins while the others run
    scheduler.submit(StreamJob(sentence_sequences(text, 60), seed, vocoder, collector.send, collector.fail))
    try:
        assert all(c.done.wait(60) for c, *_ in jobs)
    finally:
        scheduler.stop()
    assert [str(e) for e in bad.errors] == ["vocoder broke"] and not bad.chunks
    pipeline = TTSPipeline(tacotron2, waveglow, max_sentence_chars=60)
    for collector, text, seed, _ in (jobs[0], jobs[2]):
        assert not collector.errors
        assert_chunks_in_order(collector.chunks)
        expected = pipeline(text, seed, sigma=0.5).audio
        np.testing.assert_allclose(collector.audio, expected, atol=1e-4 * np.abs(expected).max(), rtol=0)


def test_scheduler_stops_a_cancelled_request(tacotron2_export, waveglow_export, decoding_case):
    tacotron2 = Tacotron2Engine.load(tacotron2_export[0], decoding_case[3])
    waveglow = WaveGlowEngine.load(waveglow_export[0])
    scheduler = StreamScheduler(lambda: StreamingSynthesizer(tacotron2, 4, 10**6))
    cancelled, other = Collector(), Collector()
    # The text that never stops (40 frames): a chunk every step after the first; cancelled after the first one.
    scheduler.submit(StreamJob(sentence_sequences(TEXTS[0], 60), SEEDS[0],
                               lambda: WaveGlowStream(waveglow, SEEDS[0], 0.5, 0.0), cancelled.send, cancelled.fail,
                               cancelled=lambda: len(cancelled.chunks) >= 1))
    scheduler.submit(StreamJob(sentence_sequences(TEXTS[0], 60), SEEDS[0],
                               lambda: WaveGlowStream(waveglow, SEEDS[0], 0.5, 0.0), other.send, other.fail))
    scheduler.start()
    try:
        assert other.done.wait(60)
    finally:
        scheduler.stop()
    assert len(cancelled.chunks) == 1 and not cancelled.done.is_set()
    assert len(other.chunks) > 3 and scheduler.groups[0].running == 0
