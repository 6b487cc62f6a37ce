"""RivaSpeechSynthesis through riva.client (and SynthesizeOnline as newer clients send it: a stream of requests)
against the endpoint before a real Triton of the trained defaults: audio at the asked rate and encoding that the
served ASR hears as the text, streamed chunks as tts_streaming makes them."""

from __future__ import annotations

import io
import time

import grpc
import jiwer
import numpy as np
import pytest
import soundfile
from riva.client import AudioEncoding, SpeechSynthesisService
from riva.client.proto import riva_tts_pb2 as rtts

from tests.riva.test_asr import MAX_WER, expect_invalid
from tests.support.speech import words_of
from tests.support.triton import inference_stats
from triton_speech.client import TTSClient
from triton_speech.corpus.templates import DEMO_TTS_TEXT

pytestmark = pytest.mark.server
TWO_SENTENCES = "The train leaves at seven. Call me when you arrive."


@pytest.fixture(scope="module")
def tts(riva_auth):
    return SpeechSynthesisService(riva_auth)


@pytest.fixture(scope="module")
def speech(riva_endpoint):
    """The tts ensemble's own answer for DEMO_TTS_TEXT (default seed), at 22050 Hz."""
    return TTSClient(riva_endpoint.triton.grpc_url).synthesize(DEMO_TTS_TEXT)


def pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def heard(riva_endpoint, audio: np.ndarray, rate: int) -> str:
    """What the served asr hears in ``audio``, sent back through the endpoint's Recognize (raw PCM at ``rate``)."""
    from riva.client import ASRService, Auth, RecognitionConfig

    asr = ASRService(Auth(uri=riva_endpoint.address))
    data = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    response = asr.offline_recognize(data, RecognitionConfig(encoding=AudioEncoding.LINEAR_PCM,
                                                             sample_rate_hertz=rate))
    return response.results[0].alternatives[0].transcript


@pytest.mark.parametrize("rate", [16000, 44100])
def test_synthesize_returns_audio_of_the_asked_rate_that_the_asr_recognizes(tts, riva_endpoint, speech, rate):
    response = tts.synthesize(DEMO_TTS_TEXT, sample_rate_hz=rate)
    audio = pcm(response.audio)
    # the same speech as the tts ensemble's, as long at the asked rate as at 22050 Hz
    assert audio.size / rate == pytest.approx(speech.audio.size / speech.sample_rate, abs=0.002)
    text = heard(riva_endpoint, audio, rate)
    assert jiwer.wer(" ".join(words_of(DEMO_TTS_TEXT)), " ".join(words_of(text))) <= MAX_WER, text
    assert response.meta.text == DEMO_TTS_TEXT


def test_synthesize_at_the_models_rate_is_the_tts_audio(tts, speech):
    audio = pcm(tts.synthesize(DEMO_TTS_TEXT, sample_rate_hz=22050).audio)
    assert audio.size == speech.audio.size
    assert np.abs(audio - speech.audio).max() <= 1.0 / 32768 + 1e-6  # 16-bit rounding only


@pytest.mark.parametrize("encoding, container, rate", [(AudioEncoding.FLAC, "FLAC", 44100),
                                                       (AudioEncoding.OGGOPUS, "OGG", 48000)])
def test_synthesize_in_flac_and_ogg_opus(tts, riva_endpoint, speech, encoding, container, rate):
    data = tts.synthesize(DEMO_TTS_TEXT, sample_rate_hz=rate, encoding=encoding).audio
    info = soundfile.info(io.BytesIO(data))
    assert (info.format, info.samplerate) == (container, rate)
    audio, _ = soundfile.read(io.BytesIO(data), dtype="float32")
    assert audio.size / rate == pytest.approx(speech.audio.size / speech.sample_rate, abs=0.03)
    text = heard(riva_endpoint, audio, rate)
    assert jiwer.wer(" ".join(words_of(DEMO_TTS_TEXT)), " ".join(words_of(text))) <= MAX_WER, text


def test_synthesize_in_mulaw(tts, speech):
    data = tts.synthesize(DEMO_TTS_TEXT, sample_rate_hz=22050, encoding=AudioEncoding.MULAW).audio
    assert len(data) == speech.audio.size  # one byte a sample
    audio, _ = soundfile.read(io.BytesIO(data), format="RAW", subtype="ULAW", samplerate=22050, channels=1)
    assert np.abs(audio - speech.audio).max() < 0.02  # G.711's companding error at speech levels


def test_synthesize_online_sends_the_tts_streaming_chunks_as_they_come(tts, riva_endpoint):
    expected = list(TTSClient(riva_endpoint.triton.grpc_url).stream(TWO_SENTENCES))
    started, arrivals, chunks = time.perf_counter(), [], []
    for response in tts.synthesize_online(TWO_SENTENCES, sample_rate_hz=22050):
        arrivals.append(time.perf_counter() - started)
        chunks.append(pcm(response.audio))
    assert len(chunks) == len(expected) >= 2
    for chunk, reference in zip(chunks, expected):
        assert chunk.size == reference.audio.size
        assert np.abs(chunk - reference.audio).max() <= 1.0 / 32768 + 1e-6
    assert arrivals[0] < arrivals[-1]  # the first chunk came before the whole


def test_synthesize_online_at_another_rate_joins_into_the_resampled_speech(tts, riva_endpoint):
    whole = pcm(tts.synthesize(TWO_SENTENCES, sample_rate_hz=44100).audio)
    streamed = np.concatenate([pcm(r.audio) for r in tts.synthesize_online(TWO_SENTENCES, sample_rate_hz=44100)])
    # one resampler over the stream: the joined chunks are the whole speech resampled (streamed Griffin-Lim differs
    # from whole by its windows' context: docs/streaming.md, 35 dB at least)
    assert streamed.size == pytest.approx(whole.size, abs=2)
    n = min(streamed.size, whole.size)
    noise = np.sum((streamed[:n] - whole[:n]) ** 2)
    assert 10 * np.log10(np.sum(whole[:n] ** 2) / noise) >= 30


def test_synthesize_online_as_a_stream_of_requests_like_newer_clients(riva_endpoint):
    """riva.client 2.17+ declares SynthesizeOnline bidirectional and sends one request per text: on the same
    method path, each text is said in turn."""
    texts = ["Hello there.", "How are you today?"]
    with grpc.insecure_channel(riva_endpoint.address) as channel:
        call = channel.stream_stream("/nvidia.riva.tts.RivaSpeechSynthesis/SynthesizeOnline",
                                     request_serializer=rtts.SynthesizeSpeechRequest.SerializeToString,
                                     response_deserializer=rtts.SynthesizeSpeechResponse.FromString)
        requests = (rtts.SynthesizeSpeechRequest(text=t, language_code="en-US", sample_rate_hz=22050,
                                                 encoding=AudioEncoding.LINEAR_PCM) for t in texts)
        audio = np.concatenate([pcm(response.audio) for response in call(requests, timeout=300)])
    client = TTSClient(riva_endpoint.triton.grpc_url)
    expected = np.concatenate([np.concatenate([c.audio for c in client.stream(t)]) for t in texts])
    assert audio.size == expected.size
    assert np.abs(audio - expected).max() <= 1.0 / 32768 + 1e-6


def test_the_config_lists_the_voice_as_talk_py_reads_it(tts):
    response = tts.stub.GetRivaSynthesisConfig(rtts.RivaSynthesisConfigRequest())
    voices = {}
    for config in response.model_config:  # talk.py --list-voices
        names = [config.parameters["voice_name"] + "." + s.split(":")[0]
                 for s in config.parameters["subvoices"].split(",")]
        voices.setdefault(config.parameters["language_code"], []).extend(names)
    assert voices == {"en-US": ["English-US.Default"]}
    # that voice, and the voice name alone, are accepted; the empty name means it
    reference = tts.synthesize("Hi there.", sample_rate_hz=16000).audio
    for name in ("English-US.Default", "English-US", "english-us.default"):
        assert tts.synthesize("Hi there.", voice_name=name, sample_rate_hz=16000).audio == reference


def test_bad_requests_are_invalid_argument_and_no_huge_text_reaches_triton(tts, riva_endpoint):
    synthesize = tts.synthesize
    expect_invalid(lambda: synthesize("Hello.", language_code="de-DE"), "'de-DE' is not served", "en-US")
    expect_invalid(lambda: synthesize("Hello.", voice_name="English-US.Female-1"), "not served",
                   "English-US.Default")
    expect_invalid(lambda: synthesize("Hello.", encoding=AudioEncoding.OGGOPUS, sample_rate_hz=44100),
                   "OGGOPUS", "48000")
    expect_invalid(lambda: list(tts.synthesize_online("Hello.", encoding=AudioEncoding.FLAC)), "ask Synthesize")
    expect_invalid(lambda: synthesize("!!!"), "no speakable characters")  # Triton's refusal, passed through
    expect_invalid(lambda: list(tts.synthesize_online("")), "text is empty")
    before = [inference_stats(riva_endpoint.triton, model)[0] for model in ("tts", "tts_streaming")]
    huge = "word " * 2_000_000  # 10 MB
    expect_invalid(lambda: synthesize(huge), "10000000 characters", "at most")
    expect_invalid(lambda: list(tts.synthesize_online(huge)), "10000000 characters")
    assert [inference_stats(riva_endpoint.triton, model)[0] for model in ("tts", "tts_streaming")] == before
    assert len(synthesize("Still here.", sample_rate_hz=16000).audio) > 16000  # and serving
