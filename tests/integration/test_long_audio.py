"""Recordings longer than asr takes, through the real server: the client's windows and the served asr_long (plain
HTTP too) lose and double no word at a window edge, with times relative to the whole recording."""

from __future__ import annotations

import subprocess
import sys

import jiwer
import numpy as np
import pytest
import soundfile

from tests.support.speech import heldout_items
from tests.support.tones import TONE_SETTINGS, TONE_TIME_BOUND_S, tone_speech, tone_words
from triton_speech.client import ASRClient, InferenceError, TritonConnection
from triton_speech.client.audio import load_audio
from triton_speech.runtime.asr.words import WORD_OUTPUTS, unpack_words

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def utterances():
    """Twenty utterances of 2-6 tone words each, said apart; each is (audio, [(word, start, end)])."""
    rng = np.random.default_rng(5)
    utterances = []
    for k in range(20):
        words = tone_words(int(rng.integers(2, 7)), 100 + k)
        utterances.append(tone_speech(words, list(rng.uniform(0.1, 0.4, len(words) + 1))))
    return utterances


@pytest.fixture(scope="module")
def recording(utterances):
    """The twenty utterances one after the other (about 50 s; the tone server's asr takes 10 s): the audio, every
    word with its time in the recording, and the words of each utterance transcribed alone."""
    audio = np.concatenate([u[0] for u in utterances])
    truth, offset = [], 0.0
    for clip, words in utterances:
        truth += [(word, start + offset, end + offset) for word, start, end in words]
        offset += clip.shape[0] / 16000
    return audio, truth


def alone(client: ASRClient, utterances) -> str:
    return " ".join(client.recognize(clip, timestamps=False).raw for clip, _ in utterances)


def check(words, truth) -> None:
    assert [w.text for w in words] == [word for word, _, _ in truth]
    for word, (_, start, end) in zip(words, truth):
        assert abs(word.start_s - start) <= TONE_TIME_BOUND_S and abs(word.end_s - end) <= TONE_TIME_BOUND_S, word


@pytest.mark.parametrize("window_seconds, overlap_seconds", [(3.0, 1.0), (5.0, 1.5), (10.0, 3.0)])
def test_client_windows_give_the_words_of_the_utterances_alone(tone_triton, utterances, recording, window_seconds,
                                                               overlap_seconds):
    client = ASRClient(tone_triton.grpc_url, window_seconds=window_seconds, overlap_seconds=overlap_seconds)
    audio, truth = recording
    assert len(client.windows(audio.shape[0])) >= 5
    transcript = client.recognize(audio)
    assert transcript.raw == alone(client, utterances)  # the same words as alone: none lost or doubled
    check(transcript.words, truth)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_asr_long_serves_a_plain_request_for_the_whole_recording(tone_triton, utterances, recording, protocol):
    audio, truth = recording
    connection = TritonConnection(tone_triton.grpc_url if protocol == "grpc" else tone_triton.http_url, protocol)
    result = connection.infer("asr_long", {"AUDIO": audio[None]}, ["TRANSCRIPT", *WORD_OUTPUTS])
    assert result["TRANSCRIPT"][0, 0].decode() == alone(ASRClient(tone_triton.grpc_url), utterances)
    check(unpack_words(result)[0], truth)


def test_asr_keeps_its_limit_and_asr_long_takes_longer_audio(tone_triton, recording):
    connection = TritonConnection(tone_triton.grpc_url)
    eleven = recording[0][None, : 11 * 16000]
    with pytest.raises(InferenceError, match=r"AUDIO row 0 is 11.00 s long; the limit is 10 s \(max_audio_seconds\)"):
        connection.infer("asr", {"AUDIO": eleven}, ["TRANSCRIPT"])
    assert connection.infer("asr_long", {"AUDIO": eleven}, ["TRANSCRIPT"])["TRANSCRIPT"][0, 0]
    too_long = np.zeros((1, int(TONE_SETTINGS["max_long_audio_seconds"] * 16000) + 16000), np.float32)
    with pytest.raises(InferenceError, match=r"is 121.00 s long; the limit is 120 s \(max_long_audio_seconds\)"):
        connection.infer("asr_long", {"AUDIO": too_long}, ["TRANSCRIPT"])


def test_asr_long_rows_of_one_request_and_a_bad_row(tone_triton, recording):
    audio = recording[0][: 25 * 16000]
    batch = np.stack([audio, audio[::-1].copy()])
    connection = TritonConnection(tone_triton.http_url, "http")
    result = connection.infer("asr_long", {"AUDIO": batch}, ["TRANSCRIPT"])
    expected = [connection.infer("asr_long", {"AUDIO": row[None]}, ["TRANSCRIPT"])["TRANSCRIPT"][0, 0]
                for row in batch]
    assert list(result["TRANSCRIPT"].reshape(-1)) == expected
    batch[1, 100] = np.nan
    with pytest.raises(InferenceError, match="AUDIO row 1 contains 1 NaN or Inf samples") as raised:
        connection.infer("asr_long", {"AUDIO": batch}, ["TRANSCRIPT"])
    assert raised.value.bad_input


def test_cli_transcribes_a_long_file_with_a_progress_bar(tone_triton, recording, utterances, tmp_path):
    path = tmp_path / "meeting.wav"
    soundfile.write(path, recording[0], 16000)
    result = subprocess.run([sys.executable, "-m", "client", "asr", str(path), "--url", tone_triton.grpc_url,
                             "--timestamps"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == alone(ASRClient(tone_triton.grpc_url), utterances)
    assert len(lines) == 1 + len(recording[1]) and lines[1].split()[-1] == recording[1][0][0]
    assert "transcribing" in result.stderr and "request" in result.stderr  # tqdm's bar over the windows


@pytest.mark.xfail(strict=True, reason="the shipped default QuartzNet hears one sentence at a time (trained on single "
                   "sentences): a window of several gives garbage (measured 167-173 of 182 words wrong at 8-30 s "
                   "windows, 6 alone), which no merge can mend; the tone model passes (tests above)")
def test_default_model_on_twenty_utterances_in_a_row_makes_the_errors_it_makes_alone(default_asr_server):
    items = heldout_items(20)
    clips = [load_audio(item["audio_filepath"], 16000) for item in items]
    reference = " ".join(item["text"] for item in items)
    client = ASRClient(default_asr_server.grpc_url, window_seconds=20.0, overlap_seconds=4.0)
    errors = [jiwer.process_words(reference, hypothesis) for hypothesis in (
        " ".join(client.recognize(clip, timestamps=False).raw for clip in clips),
        client.recognize(np.concatenate(clips), timestamps=False).raw)]
    assert [e.substitutions + e.deletions + e.insertions for e in errors[1:]] == \
        [errors[0].substitutions + errors[0].deletions + errors[0].insertions]
