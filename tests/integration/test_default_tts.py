"""The shipped default Tacotron2 through the real server, judged by an independent recognizer.

Text -> served ``tts`` (text_normalizer, tacotron2, griffin_lim) -> Whisper base (the judge extra), on sentences
the TTS was not trained on: the ASR held-out set's template sentences (``python -m export.train_tts data``
excludes them) and everyday English (tests/data/general_heldout). Our own ASR was trained on the very espeak-ng
voice the TTS imitates: its opinion is printed beside the judge's, never instead. The vocoder is Griffin-Lim, what
`make repository` serves while no trained WaveGlow ships (docs/default-models.md).
"""

from __future__ import annotations

import jiwer
import numpy as np
import pytest
import soxr

from tests.support.audio import GRIFFIN_LIM_STREAM_MIN_SNR_DB, assert_chunks_in_order, snr_db
from tests.support.paths import DATA
from tests.support.ports import free_ports
from triton_speech.client import ASRClient, InferenceError, TTSClient

pytestmark = pytest.mark.server
SENTENCES = 12
# Whisper base's character error rate on what the default TTS says: measured 17.1% on these 12 held-out template
# sentences with mixed endings served, 12.0% on 20 ending in "." in-process (espeak-ng itself, whose voice the
# TTS learned: 7.0% on those 20); the bound is a margin of a few characters per sentence above.
MAX_JUDGED_CER = 0.22
# Issue 19's target for everyday English (measured 71.5% on 20: the default knows only its templates).
TARGET_EVERYDAY_CER = 0.10
ENDINGS = ["", ".", "?", "!"]


@pytest.fixture(scope="module")
def default_tts_server(tmp_path_factory, default_quartznet_export, default_tacotron2_export):
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.server import TritonServer

    repository = tmp_path_factory.mktemp("default_tts_repository")
    # The judge ASR decodes greedily: over its lexicon it would mend misspoken words and flatter the TTS.
    build(repository, Exports(asr=default_quartznet_export, tacotron2=default_tacotron2_export),
          RepositorySettings(vocoder="griffin_lim"))
    with TritonServer(repository, ports=free_ports()) as server:
        yield server


def test_the_default_tts_hears_the_readings_it_was_trained_on(default_tts_server):
    """The shipped Tacotron2 learned from the extended readings (its checkpoint records them): served, numbers lose
    DLE's hyphens and "%" is said, as in its training."""
    import json

    from tests.support.paths import DATA
    from triton_speech.client import TritonConnection

    symbols = json.loads((DATA / "tacotron2_text.json").read_text())["symbols"]
    connection = TritonConnection(default_tts_server.grpc_url)
    for text, heard in (("In 1984, he was 42.", "in nineteen eighty four, he was forty two."),
                        ("It is 50% off.", "it is fifty percent off.")):
        served = connection.infer("text_normalizer", {"TEXT": np.array([[text.encode()]], dtype=object)},
                                  ["SYMBOL_IDS"])
        assert served["SYMBOL_IDS"][0].tolist() == [symbols.index(c) for c in heard]


def synthesized(server, texts: list[str]) -> list[np.ndarray]:
    speaker = TTSClient(server.grpc_url)
    audio = []
    for seed, text in enumerate(texts):
        # Users end sentences with punctuation, after which the model must stop.
        said = text + ENDINGS[seed % len(ENDINGS)]
        speech = speaker.synthesize(said, seed=seed)
        assert not speech.step_limit_reached, said
        audio.append(soxr.resample(speech.audio, speech.sample_rate, 16000))
    return audio


def test_what_the_default_tts_says_judged_by_whisper(default_tts_server, judge):
    from triton_speech.corpus.manifest import read_manifest
    from triton_speech.training.judge import score

    texts = [item["text"] for item in read_manifest(DATA / "asr_heldout" / "manifest.json")][:SENTENCES]
    audio = synthesized(default_tts_server, texts)
    heard = [judge.transcribe(a) for a in audio]
    judged = score(texts, heard)
    ours = jiwer.cer(texts, ASRClient(default_tts_server.grpc_url).transcribe_many(audio, concurrency=4))
    print(f"CER on {len(texts)} held-out template sentences: Whisper base {judged['cer']:.1%} "
          f"(bound {MAX_JUDGED_CER:.0%}); our own ASR {ours:.1%}")
    for text, got in zip(texts, heard):
        print(f"  {text!r} -> {got!r}")
    assert judged["cer"] <= MAX_JUDGED_CER


@pytest.mark.xfail(strict=True, reason="issue 19: the default Tacotron2 knows only its template sentences")
def test_everyday_english_meets_the_target(default_tts_server, judge):
    from triton_speech.training.judge import score

    texts = (DATA / "general_heldout" / "sentences.txt").read_text().splitlines()[:SENTENCES]
    heard = [judge.transcribe(a) for a in synthesized(default_tts_server, texts)]
    assert score(texts, heard)["cer"] <= TARGET_EVERYDAY_CER


def test_griffin_lim_takes_no_waveglow_parameters(default_tts_server):
    speaker = TTSClient(default_tts_server.grpc_url)
    with pytest.raises(InferenceError, match="SIGMA"):
        speaker.synthesize("hello there", sigma=0.5)
    with pytest.raises(InferenceError, match="SEED must be non-negative"):
        speaker.synthesize("hello there", seed=-1)
    assert speaker.synthesize("hello there", seed=3).audio.size > 0  # and it keeps serving


@pytest.mark.parametrize("protocol, status", [("grpc", "StatusCode.INVALID_ARGUMENT"), ("http", "400")])
@pytest.mark.parametrize("mel, message", [
    (np.full((1, 80, 20), np.nan, np.float32), r"MEL row 0 contains 1600 NaN or Inf values"),
    # 150 s (max_speech_seconds) of frames is the most a tts request yields; one more is refused before any work.
    (np.zeros((1, 80, 12920), np.float32), r"MEL row 0 has length 12920; the limit is 12919"),
])
def test_griffin_lim_refuses_mels_that_are_not_finite_or_too_long(default_tts_server, protocol, status, mel, message):
    from triton_speech.client.connection import TritonConnection

    url = default_tts_server.grpc_url if protocol == "grpc" else default_tts_server.http_url
    with pytest.raises(InferenceError, match=message) as raised:
        TritonConnection(url, protocol).infer("griffin_lim", {
            "MEL": mel, "MEL_LENGTH": np.array([[mel.shape[2]]], dtype=np.int64)}, ["AUDIO"])
    assert raised.value.status == status


def test_griffin_lim_audio_is_the_same_batched_or_alone(default_tts_server):
    """The griffin_lim model computes each request's rows alone: batched, its audio is bit for bit the same."""
    from concurrent.futures import ThreadPoolExecutor

    from triton_speech.client.connection import TritonConnection

    connection = TritonConnection(default_tts_server.grpc_url)
    rng = np.random.default_rng(0)
    mels = [rng.normal(-5.0, 1.5, size=(80, frames)).astype(np.float32) for frames in (40, 90, 65, 120)]

    def vocode(index: int) -> np.ndarray:
        outputs = connection.infer("griffin_lim", {
            "MEL": mels[index][None], "MEL_LENGTH": np.array([[mels[index].shape[1]]], dtype=np.int64),
            "SEED": np.array([[index]], dtype=np.int64)}, ["AUDIO", "AUDIO_LENGTH"])
        return outputs["AUDIO"][0, : int(outputs["AUDIO_LENGTH"].reshape(-1)[0])]

    alone = [vocode(i) for i in range(len(mels))]
    with ThreadPoolExecutor(len(mels)) as pool:
        together = list(pool.map(vocode, range(len(mels))))
    for index, (one, other) in enumerate(zip(alone, together)):
        assert one.shape == (mels[index].shape[1] * 256,)
        np.testing.assert_array_equal(other, one)


def test_tts_speech_is_the_same_batched_or_alone(default_tts_server):
    """Through the whole ensemble: batched Tacotron2 decoding differs from alone by float rounding, which
    Griffin-Lim's iterations amplify in places (measured max 2.5e-3); the speech stays the same to >= 40 dB."""
    from concurrent.futures import ThreadPoolExecutor

    texts = ["the train to paris leaves at nine.", "call me on monday", "it costs five dollars!", "good morning"]
    speaker = TTSClient(default_tts_server.grpc_url)
    alone = [speaker.synthesize(text, seed=seed).audio for seed, text in enumerate(texts)]
    with ThreadPoolExecutor(len(texts)) as pool:
        together = list(pool.map(lambda item: speaker.synthesize(item[1], seed=item[0]).audio, enumerate(texts)))
    for one, other in zip(alone, together):
        assert other.shape == one.shape
        assert snr_db(one, other) >= 40.0


def test_streamed_speech_is_the_tts_speech_within_the_griffin_lim_bound(default_tts_server):
    """tts_streaming with Griffin-Lim against the tts ensemble, for several texts and seeds: in order, within the
    stated bound (the windows' edges, and the postnet's float rounding on windows that Griffin-Lim amplifies)."""
    speaker = TTSClient(default_tts_server.grpc_url)
    texts = ["Good morning.", "The train to Paris leaves at nine. Call me on Monday!", "It costs five dollars?",
             "emma flew to berlin in may"]
    for seed, text in enumerate(texts):
        whole = speaker.synthesize(text, seed=seed)
        chunks = list(speaker.stream(text, seed=seed))
        assert_chunks_in_order(chunks)
        assert len(chunks) >= 2 and chunks[-1].step_limit_reached == whole.step_limit_reached
        audio = np.concatenate([chunk.audio for chunk in chunks])
        assert audio.shape == whole.audio.shape
        assert snr_db(whole.audio, audio) >= GRIFFIN_LIM_STREAM_MIN_SNR_DB, text


def test_served_tts_is_the_in_process_pipeline(default_tts_server, default_tacotron2_export):
    """``TTSPipeline`` with Griffin-Lim (what ``python -m export.train_tts evaluate`` measures) says what the
    served ensemble says, sample for sample (a request alone: no batching)."""
    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.runtime.tts.pipeline import TTSPipeline
    from triton_speech.runtime.tts.tacotron2 import Tacotron2Engine

    settings = RepositorySettings(vocoder="griffin_lim")
    pipeline = TTSPipeline(Tacotron2Engine.load(default_tacotron2_export), None, settings.max_sentence_chars,
                           settings.griffin_lim_iterations)
    text = "Emma flew to Berlin in May. It rained!"
    served = TTSClient(default_tts_server.grpc_url).synthesize(text, seed=5)
    local = pipeline(text, seed=5)
    assert served.sample_rate == pipeline.sample_rate
    assert served.audio.shape == local.audio.shape
    np.testing.assert_array_equal(served.audio, local.audio)  # the same code on the same runtime
    with pytest.raises(ValueError, match="sigma"):
        pipeline(text, sigma=0.5)
