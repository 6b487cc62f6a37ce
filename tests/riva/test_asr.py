"""RivaSpeechRecognition through riva.client against the endpoint before a real Triton of the trained defaults:
what Riva's clients send (whole WAV files, header included; 3200-byte chunks) gives what the Triton models give.

Expectations come from the models called directly (ASRClient, the asr / asr_long / punctuator ensembles) on audio
read with soundfile, and from the sentence espeak-ng was told to say."""

from __future__ import annotations

import io
import threading

import grpc
import jiwer
import numpy as np
import pytest
import soundfile
import soxr
from riva.client import ASRService, AudioEncoding, RecognitionConfig, StreamingRecognitionConfig
from riva.client.proto import riva_asr_pb2 as rasr

from tests.support.speech import spoken_wav, words_of
from triton_speech.client import ASRClient
from triton_speech.client.audio import load_audio
from triton_speech.client.connection import TritonConnection
from triton_speech.corpus.templates import DEMO_ASR_TEXT

pytestmark = pytest.mark.server
MAX_WER = 0.15  # as the gateway's tests: the default models hear espeak-ng's template sentences nearly perfectly
CHUNK_BYTES = 3200  # what the official transcribe_file.py sends (1600 frames of 16-bit mono)


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("riva_asr") / "demo.wav"
    spoken_wav(DEMO_ASR_TEXT, path)
    return path


@pytest.fixture(scope="module")
def asr(riva_auth):
    return ASRService(riva_auth)


@pytest.fixture(scope="module")
def direct(riva_endpoint):
    return ASRClient(riva_endpoint.triton.grpc_url)


def test_offline_recognize_of_a_wav_file_equals_the_asr_ensemble(asr, direct, wav):
    expected = direct.recognize(load_audio(wav, 16000), timestamps=True)
    assert jiwer.wer(DEMO_ASR_TEXT, " ".join(words_of(expected.text))) <= MAX_WER  # a transcript worth comparing
    data = wav.read_bytes()  # header included, encoding unset, rate 0, language '': as the official scripts send it
    raw = asr.offline_recognize(data, RecognitionConfig())
    punctuated = asr.offline_recognize(data, RecognitionConfig(language_code="en-US",
                                                               enable_automatic_punctuation=True))
    (result,) = raw.results
    (alternative,) = result.alternatives
    assert alternative.transcript == expected.raw and not alternative.words
    assert punctuated.results[0].alternatives[0].transcript == expected.text != expected.raw
    assert result.audio_processed == pytest.approx(soundfile.info(str(wav)).duration, abs=1e-3)


def test_word_time_offsets_are_the_asr_words_in_milliseconds(asr, direct, wav):
    expected = direct.recognize(load_audio(wav, 16000), timestamps=True).words
    response = asr.offline_recognize(wav.read_bytes(), RecognitionConfig(enable_word_time_offsets=True,
                                                                         enable_automatic_punctuation=True))
    words = response.results[0].alternatives[0].words
    assert [w.word for w in words] == [w.text for w in expected] and len(words) >= 5
    for info, word in zip(words, expected):
        assert abs(info.start_time - word.start_s * 1000) <= 0.5 and abs(info.end_time - word.end_s * 1000) <= 0.5
        assert info.confidence == pytest.approx(word.confidence, abs=1e-6)
    assert [w.start_time for w in words] == sorted(w.start_time for w in words)


def test_streaming_like_the_official_script_gives_interim_results_then_the_offline_transcript(asr, wav):
    data = wav.read_bytes()
    chunks = [data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES)]
    interim_seen = threading.Event()
    held_back = []

    def audio():  # the last chunk goes only once an interim result has come back (or after a generous wait)
        yield from chunks[:-1]
        held_back.append(interim_seen.wait(timeout=300))
        yield chunks[-1]

    config = StreamingRecognitionConfig(config=RecognitionConfig(enable_automatic_punctuation=True,
                                                                 enable_word_time_offsets=True),
                                        interim_results=True)
    results = []
    for response in asr.streaming_response_generator(audio(), config):
        for result in response.results:
            results.append(result)
            if not result.is_final and result.alternatives[0].transcript:
                interim_seen.set()
    assert held_back == [True], "no interim result before the last chunk"
    interim = [r for r in results if not r.is_final]
    finals = [r for r in results if r.is_final]
    assert len(interim) >= 2 and len(finals) == 1 and results[-1].is_final
    offline = asr.offline_recognize(data, RecognitionConfig(enable_automatic_punctuation=True,
                                                            enable_word_time_offsets=True)).results[0].alternatives[0]
    assert finals[0].alternatives[0].transcript == offline.transcript
    assert list(finals[0].alternatives[0].words) == list(offline.words)
    assert [r.audio_processed for r in results] == sorted(r.audio_processed for r in results)
    assert finals[0].audio_processed == pytest.approx(soundfile.info(str(wav)).duration, abs=1e-3)


def test_streaming_without_interim_results_sends_the_final_only(asr, wav):
    data = wav.read_bytes()
    responses = list(asr.streaming_response_generator(
        [data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES)],
        StreamingRecognitionConfig(config=RecognitionConfig(), interim_results=False)))
    assert [r.is_final for response in responses for r in response.results] == [True]
    offline = asr.offline_recognize(data, RecognitionConfig()).results[0].alternatives[0].transcript
    assert responses[0].results[0].alternatives[0].transcript == offline


def test_raw_pcm_at_other_rates_and_channels_is_resampled_to_the_models_rate(asr, direct, wav):
    samples, rate = soundfile.read(str(wav), dtype="float32")
    stereo = np.stack([soxr.resample(samples, rate, 44100)] * 2, axis=1)
    pcm = np.round(stereo * 32767).astype("<i2").tobytes()
    response = asr.offline_recognize(pcm, RecognitionConfig(encoding=AudioEncoding.LINEAR_PCM,
                                                            sample_rate_hertz=44100, audio_channel_count=2))
    heard = response.results[0].alternatives[0].transcript
    assert jiwer.wer(DEMO_ASR_TEXT, " ".join(words_of(heard))) <= MAX_WER, heard
    expected = direct.recognize(soxr.resample(stereo[:, 0], 44100, 16000, quality="HQ")).raw
    assert jiwer.wer(expected, heard) <= 0.1  # the same audio resampled outside the endpoint


@pytest.mark.parametrize("container, encoding", [("FLAC", AudioEncoding.FLAC), ("OGG", AudioEncoding.OGGOPUS),
                                                 ("FLAC", AudioEncoding.ENCODING_UNSPECIFIED)])
def test_flac_and_ogg_opus_files_are_decoded(asr, direct, wav, container, encoding):
    samples, rate = soundfile.read(str(wav), dtype="float32")
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=container, subtype="OPUS" if container == "OGG" else "PCM_16")
    heard = asr.offline_recognize(buffer.getvalue(), RecognitionConfig(encoding=encoding)).results[0] \
        .alternatives[0].transcript
    decoded, decoded_rate = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")
    assert decoded_rate == 16000
    assert heard == direct.recognize(decoded).raw


def test_mulaw_is_decoded(asr, direct, wav):
    samples, rate = soundfile.read(str(wav), dtype="float32")
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="RAW", subtype="ULAW")
    heard = asr.offline_recognize(buffer.getvalue(), RecognitionConfig(encoding=AudioEncoding.MULAW,
                                                                       sample_rate_hertz=rate))
    decoded, _ = soundfile.read(io.BytesIO(buffer.getvalue()), format="RAW", subtype="ULAW", samplerate=rate,
                                channels=1, dtype="float32")
    assert heard.results[0].alternatives[0].transcript == direct.recognize(decoded).raw


def test_recordings_longer_than_asrs_limit_go_to_asr_long(asr, riva_endpoint, wav):
    limit = float(ASRClient(riva_endpoint.triton.grpc_url).max_audio_seconds)
    utterance, _ = soundfile.read(str(wav), dtype="float32")
    pause = np.zeros(8000, dtype=np.float32)
    recording = np.concatenate([utterance, pause] * int((limit + 2) * 16000 / (utterance.size + pause.size) + 1))
    buffer = io.BytesIO()
    soundfile.write(buffer, recording, 16000, format="WAV", subtype="PCM_16")
    response = asr.offline_recognize(buffer.getvalue(), RecognitionConfig())
    decoded, _ = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")
    expected = TritonConnection(riva_endpoint.triton.grpc_url).infer("asr_long", {"AUDIO": decoded.reshape(1, -1)},
                                                                     ["RAW_TRANSCRIPT"])
    result = response.results[0]
    assert result.alternatives[0].transcript == expected["RAW_TRANSCRIPT"].reshape(-1)[0].decode("utf-8")
    assert result.audio_processed > limit


def test_the_config_lists_the_models_as_the_official_scripts_read_them(asr):
    response = asr.stub.GetRivaSpeechRecognitionConfig(rasr.RivaSpeechRecognitionConfigRequest())
    listed = {c.model_name: dict(c.parameters) for c in response.model_config}
    assert {name: (p["type"], p["language_code"]) for name, p in listed.items()} == {
        "asr": ("offline", "en-US"), "asr_long": ("offline", "en-US"), "asr_streaming": ("online", "en-US")}
    one = asr.stub.GetRivaSpeechRecognitionConfig(rasr.RivaSpeechRecognitionConfigRequest(model_name="asr_streaming"))
    assert [c.model_name for c in one.model_config] == ["asr_streaming"]


def expect_invalid(call, *fragments: str) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    for fragment in fragments:
        assert fragment in caught.value.details()
    return caught.value.details()


def test_bad_requests_are_invalid_argument_with_a_message_and_the_server_keeps_serving(asr, wav):
    data = wav.read_bytes()
    recognize = asr.offline_recognize
    expect_invalid(lambda: recognize(data, RecognitionConfig(language_code="de-DE")), "'de-DE' is not served", "en-US")
    expect_invalid(lambda: recognize(data, RecognitionConfig(encoding=AudioEncoding.FLAC)), "FLAC", "a WAV file")
    expect_invalid(lambda: recognize(data[44:], RecognitionConfig()), "ENCODING_UNSPECIFIED", "no header")
    expect_invalid(lambda: recognize(data[44:], RecognitionConfig(encoding=AudioEncoding.LINEAR_PCM)),
                   "needs sample_rate_hertz")
    expect_invalid(lambda: recognize(data[44:-1], RecognitionConfig(encoding=AudioEncoding.LINEAR_PCM,
                                                                    sample_rate_hertz=16000)), "not a whole number")
    expect_invalid(lambda: recognize(data, RecognitionConfig(sample_rate_hertz=8000)), "8000", "16000 Hz")
    expect_invalid(lambda: recognize(b"", RecognitionConfig()), "the audio is empty")
    expect_invalid(lambda: recognize(b"RIFF\x00\x00\x00\x00WAVEjunk", RecognitionConfig()), "cannot be read")
    expect_invalid(lambda: recognize(data, RecognitionConfig(model="conformer-en-US-asr-offline")), "use asr")
    diarization = RecognitionConfig()
    diarization.diarization_config.enable_speaker_diarization = True
    expect_invalid(lambda: recognize(data, diarization), "speaker diarization is not supported")
    # Triton's own refusal passes through: a recording too short for one feature frame
    expect_invalid(lambda: recognize(b"\x00\x00" * 10, RecognitionConfig(encoding=AudioEncoding.LINEAR_PCM,
                                                                         sample_rate_hertz=16000)), "AUDIO")
    streaming = asr.streaming_response_generator
    expect_invalid(lambda: list(streaming([], StreamingRecognitionConfig(config=RecognitionConfig()))),
                   "the stream held no audio")
    expect_invalid(lambda: list(streaming([data[44:3244]], StreamingRecognitionConfig(config=RecognitionConfig()))),
                   "does not start with a WAV header")
    expect_invalid(lambda: list(streaming([data], StreamingRecognitionConfig(
        config=RecognitionConfig(encoding=AudioEncoding.OGGOPUS)))), "send OGGOPUS audio whole to Recognize")
    expect_invalid(lambda: list(streaming([data], StreamingRecognitionConfig(
        config=RecognitionConfig(language_code="fr-FR")))), "'fr-FR' is not served")
    assert jiwer.wer(DEMO_ASR_TEXT, recognize(data, RecognitionConfig()).results[0].alternatives[0].transcript) \
        <= MAX_WER
