"""Word times and confidences through the real server: asr's optional WORDS, WORD_START_S, WORD_END_S and
WORD_CONFIDENCE outputs, on words said one by one with known silences between them."""

from __future__ import annotations

import difflib
import shutil
import subprocess

import numpy as np
import pytest

from tests.support.speech import heldout_audio
from tests.support.tones import TONE_TIME_BOUND_S, tone_speech, tone_words
from triton_speech.client import ASRClient, TritonConnection
from triton_speech.client.audio import load_audio
from triton_speech.runtime.asr.words import WORD_OUTPUTS, unpack_words

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def said():
    """Twelve words of tones, each alone, with silences of 0.1-0.5 s between them (within asr's 10 s): their times
    are known."""
    rng = np.random.default_rng(16)
    audio, truth = tone_speech(tone_words(12, 16), list(rng.uniform(0.1, 0.5, 13)))
    assert audio.shape[0] <= 10 * 16000
    return audio, truth


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_every_word_starts_and_ends_where_it_was_said(tone_triton, said, protocol):
    audio, truth = said
    transcript = ASRClient(tone_triton.grpc_url if protocol == "grpc" else tone_triton.http_url,
                           protocol).recognize(audio)
    assert [w.text for w in transcript.words] == [word for word, _, _ in truth]
    assert transcript.raw == " ".join(word for word, _, _ in truth)
    for word, (_, start, end) in zip(transcript.words, truth):
        assert abs(word.start_s - start) <= TONE_TIME_BOUND_S and abs(word.end_s - end) <= TONE_TIME_BOUND_S, word
        assert word.confidence > 0.99  # every letter's tone is clear


def test_a_client_asks_for_the_words_or_not(tone_triton, said):
    audio = said[0][None]
    connection = TritonConnection(tone_triton.grpc_url)
    everything = connection.infer("asr", {"AUDIO": audio}, ["TRANSCRIPT", *WORD_OUTPUTS])
    text_only = connection.infer("asr", {"AUDIO": audio}, ["TRANSCRIPT"])
    words_only = connection.infer("asr", {"AUDIO": audio}, list(WORD_OUTPUTS))
    assert set(text_only) == {"TRANSCRIPT"} and np.array_equal(text_only["TRANSCRIPT"], everything["TRANSCRIPT"])
    assert unpack_words(words_only) == unpack_words(everything)
    assert " ".join(w.text for w in unpack_words(everything)[0]) == everything["TRANSCRIPT"][0, 0].decode()


def test_the_decoder_called_directly_times_words_by_the_exports_stride(tone_triton, said, tone_pipeline):
    """ctc_decoder alone: the tone model's log-prob frames are 40 ms apart, QuartzNet's 20 ms; frame k starts
    at 0.04 k s (times from a hard-coded 20 ms stride would be half the truth)."""
    logprobs = tone_pipeline.acoustic(tone_pipeline.frontend([said[0]]))[0]
    served = TritonConnection(tone_triton.grpc_url).infer("ctc_decoder", {
        "LOGPROBS": logprobs[None], "LOGPROBS_LENGTH": np.array([[len(logprobs)]], np.int64)}, list(WORD_OUTPUTS))
    first = int(np.flatnonzero(logprobs.argmax(axis=1) != 0)[0])  # the first frame that is not a space
    assert unpack_words(served)[0][0].start_s == pytest.approx(first * 0.04, abs=1e-6)


def test_padded_rows_of_one_request_get_their_own_words(tone_triton, said):
    audio, truth = said
    short = audio[: int((truth[2][2] + 0.1) * 16000)]  # the first three words
    batch = np.zeros((2, audio.shape[0]), np.float32)
    batch[0], batch[1, : short.shape[0]] = audio, short
    lengths = np.array([[audio.shape[0]], [short.shape[0]]], np.int32)
    result = TritonConnection(tone_triton.grpc_url).infer("asr", {"AUDIO": batch, "AUDIO_LENGTH": lengths},
                                                          ["TRANSCRIPT", *WORD_OUTPUTS])
    rows = unpack_words(result)
    assert [len(rows[0]), len(rows[1])] == [12, 3] and rows[1] == rows[0][:3]
    assert result["WORDS"].shape == (2, 12) and result["WORDS"][1, 3] == b""  # padded with empty words


def test_confidence_is_lower_for_noise_than_for_clean_speech(default_asr_server):
    """The default model on 20 held-out utterances and on white noise as long: measured mean word confidence 0.96
    clean, 0.35 in noise (where it still says words)."""
    client = ASRClient(default_asr_server.grpc_url)
    clean = heldout_audio(20)
    rng = np.random.default_rng(0)
    noise = [(0.1 * rng.standard_normal(audio.shape[0])).astype(np.float32) for audio in clean]
    confidence = {name: [w.confidence for audio in audios for w in client.recognize(audio).words]
                  for name, audios in (("clean", clean), ("noise", noise))}
    assert len(confidence["noise"]) >= 20  # it does hear words in noise: their confidence tells
    assert np.mean(confidence["clean"]) >= 0.9 and np.mean(confidence["noise"]) <= 0.5


def espeak_words_one_by_one(text: str, gap_s: float) -> tuple[np.ndarray, list]:
    import tempfile

    pieces, truth, position = [np.zeros(int(gap_s * 16000), np.float32)], [], gap_s
    for word in text.split():
        with tempfile.NamedTemporaryFile(suffix=".wav") as spoken:
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", spoken.name, word], check=True)
            audio = load_audio(spoken.name, 16000)
        loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
        audio = audio[loud[0] : loud[-1] + 1]
        truth.append((word, position, position + audio.shape[0] / 16000))
        position += audio.shape[0] / 16000 + gap_s
        pieces += [audio, np.zeros(int(gap_s * 16000), np.float32)]
    return np.concatenate(pieces), truth


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is installed by make setup")
@pytest.mark.xfail(strict=True, reason="the shipped default QuartzNet emits letters up to 2.5 s before their audio "
                   "and hears isolated words poorly (measured: 1-8 of 12 words recognized, 2-6 s off): its word times "
                   "are its frames', not the speech's; a model with aligned emissions passes (the tone model above)")
def test_default_model_places_espeak_words_within_a_tenth_of_a_second(default_asr_server):
    audio, truth = espeak_words_one_by_one("michael will meet emma on friday at ten thirty in the morning", 0.1)
    heard = ASRClient(default_asr_server.grpc_url).recognize(audio).words
    matcher = difflib.SequenceMatcher(None, [w for w, _, _ in truth], [w.text for w in heard], autojunk=False)
    pairs = [(heard[b + k], truth[a + k]) for a, b, size in matcher.get_matching_blocks() for k in range(size)]
    assert len(pairs) >= len(truth) // 2
    assert all(abs(w.start_s - start) <= 0.1 and abs(w.end_s - end) <= 0.1 for w, (_, start, end) in pairs)
