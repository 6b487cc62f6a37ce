"""Helpers shared by the tests: ports, test audio, the test repository's settings, tiny random Tacotron2 and
WaveGlow models saved as DeepLearningExamples checkpoints, and the table of bad inputs to every served model."""

from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path

import numpy as np

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = REPOSITORY_ROOT / "defaults"
# The words of the default QuartzNet's training transcripts (python -m export.lexicon): `make repository` decodes
# the default model over them.
DEFAULT_LEXICON = DEFAULTS / "quartznet_small.lexicon.txt"
DATA = Path(__file__).parent / "data"
# Audio limit of the test repository: small, so the over-limit request stays cheap.
TEST_MAX_AUDIO_SECONDS = 20.0
TEST_MAX_PUNCTUATION_CHARS = 2000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports():
    from triton_speech.server import Ports

    return Ports(http=free_port(), grpc=free_port(), metrics=free_port())


def speechlike(seconds: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """Harmonic bursts plus noise: audio with varied spectra (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = rng.uniform(90, 260)
    voiced = sum(np.sin(2 * np.pi * k * pitch * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    envelope = np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2
    return (0.3 * envelope * voiced + 0.03 * rng.standard_normal(t.shape)).astype(np.float32)


# Settings of the test repository: a long queue delay makes the dynamic batcher merge the concurrent
# requests of the batching tests; small limits keep the over-limit requests cheap; small stream blocks make the tiny
# Tacotron2's sentences (at most 40 frames) stream in several chunks.
TEST_STREAM_BLOCK_FRAMES = 8
TEST_MAX_LONG_AUDIO_SECONDS = 40.0
TEST_SETTINGS = dict(
    max_batch_size=8, max_queue_delay_us=20000, max_audio_seconds=TEST_MAX_AUDIO_SECONDS,
    max_long_audio_seconds=TEST_MAX_LONG_AUDIO_SECONDS,
    max_text_chars=400, max_sentence_chars=60, max_punctuation_chars=TEST_MAX_PUNCTUATION_CHARS,
    stream_block_frames=TEST_STREAM_BLOCK_FRAMES,
)


# Streamed Griffin-Lim speech against the tts ensemble's (docs/streaming.md, Streamed speech): measured 38-99 dB,
# median 69 dB.
GRIFFIN_LIM_STREAM_MIN_SNR_DB = 35.0


def assert_chunks_in_order(chunks) -> None:
    """Streamed chunks: each starts where the ones before it end; only the last is final and reports the step limit."""
    assert [c.offset for c in chunks] == list(np.cumsum([0] + [c.audio.size for c in chunks[:-1]]))
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert not any(c.step_limit_reached for c in chunks[:-1])


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """Signal-to-noise ratio (dB) of ``other`` against ``reference``; infinite when equal."""
    reference, other = reference.astype(np.float64), other.astype(np.float64)
    noise = np.sum((other - reference) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))


def inference_stats(triton, model: str) -> tuple[int, int]:
    """(inference count, execution count) of ``model``: fewer executions than inferences means batching."""
    from triton_speech.client import TritonConnection

    stats = TritonConnection(triton.grpc_url).client.get_inference_statistics(
        model, headers=triton.admin_headers("grpc"), as_json=True)
    entry = stats["model_stats"][0]
    return int(entry.get("inference_count", 0)), int(entry.get("execution_count", 0))


# --- tiny random Tacotron2 and WaveGlow ----------------------------------------------------------------------

TINY_TACOTRON2 = dict(
    n_mel_channels=16, symbols_embedding_dim=32, encoder_embedding_dim=32, attention_rnn_dim=24, attention_dim=16,
    attention_location_n_filters=4, attention_location_kernel_size=7, decoder_rnn_dim=24, prenet_dim=16,
    postnet_embedding_dim=24, postnet_n_convolutions=3,
)
TINY_WAVEGLOW = dict(n_mel_channels=16, n_flows=4, n_group=8, n_early_every=2, n_early_size=2,
                     WN_config=dict(n_layers=3, n_channels=16, kernel_size=3))
# Random decoder weights this much larger than PyTorch's init make the gate logits move from step to
# step (at init they are nearly constant), so that items stop at different steps.
DECODER_WEIGHT_SCALE = 3.0


def layout(model) -> dict:
    return {name: list(tensor.shape) for name, tensor in model.state_dict().items()}


def dle_wrapped(model, config: dict, prefix: str = "module.", dtype=None) -> dict:
    """A checkpoint as DLE's train.py saves it from a DDP model."""
    state_dict = {prefix + name: (t.to(dtype) if dtype and t.is_floating_point() else t)
                  for name, t in model.state_dict().items()}
    return {"epoch": 3, "config": config, "state_dict": state_dict, "optimizer": {"state": {}, "param_groups": []}}


def tiny_tacotron2(seed: int = 0):
    import torch

    from triton_speech.models.tacotron2 import Tacotron2

    torch.manual_seed(seed)
    model = Tacotron2(**TINY_TACOTRON2)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(DECODER_WEIGHT_SCALE)
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            norm.running_mean.normal_(0, 0.1)
            norm.running_var.uniform_(0.5, 2.0)
    return model.eval()


def tiny_waveglow(seed: int = 0):
    """Weight-normed, with weight_g unlike |weight_v| (so folding matters) and non-zero coupling outputs."""
    import torch

    from triton_speech.models.waveglow import WaveGlow

    torch.manual_seed(seed)
    model = WaveGlow(**TINY_WAVEGLOW)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("weight_g"):
                parameter.mul_(torch.empty_like(parameter).uniform_(0.5, 1.5))
        for wn in model.WN:
            wn.end.weight.normal_(0, 0.1)
            wn.end.bias.normal_(0, 0.1)
    return model.eval()

# Texts and seeds of the decoding tests: under the gate threshold ``decoding_case`` picks, the tiny model
# stops them at different steps and one never stops.
TEXTS = ["Hello there, how are you?", "Hi.", "The 3rd test costs $3.50 today."]
SEEDS = [11, 12, 13]
MAX_STEPS = 40


def gate_logits(model, sequence, seed: int, steps: int) -> np.ndarray:
    import torch

    from triton_speech.runtime.tts.tacotron2 import DecoderSettings, PrenetDropout

    settings = DecoderSettings(gate_threshold=1.0, max_decoder_steps=steps)
    text = torch.tensor([sequence])
    stream = PrenetDropout(seed, model.prenet_shape, settings.prenet_dropout)
    memory, processed, mask = model.encode(text, torch.tensor([len(sequence)]))
    state = model.decoder.initial_state(memory)
    frame = torch.zeros(1, model.n_mel_channels)
    logits = []
    with torch.no_grad():
        for _ in range(steps):
            frame, logit, *state = model.decoder.step(frame, torch.from_numpy(stream.next()[None]), *state,
                                                      memory, processed, mask)
            logits.append(float(logit[0]))
    return np.array(logits)


def stop_steps(logits: np.ndarray, threshold: float) -> list[int | None]:
    """1-based step at which each item's gate first exceeds ``threshold`` (None: never)."""
    return [int(np.argmax(row > threshold)) + 1 if (row > threshold).any() else None for row in logits]


def decoding_case():
    """Texts, seeds and a gate threshold under which the items stop at different steps and one never stops.

    The threshold is the midpoint of the widest gap between gate logits that gives such outcomes, so that
    float rounding cannot flip a decision.
    """
    from triton_speech.runtime.tts.tacotron2 import DecoderSettings
    from triton_speech.runtime.tts.text import text_to_sequence

    model = tiny_tacotron2()
    sequences = [text_to_sequence(t) for t in TEXTS]
    seeds = SEEDS
    logits = np.stack([gate_logits(model, s, seed, MAX_STEPS) for s, seed in zip(sequences, seeds)])
    values = np.unique(logits)
    best = None
    for low, high in zip(values[:-1], values[1:]):
        steps = stop_steps(logits, (low + high) / 2)
        stopped = [s for s in steps if s is not None]
        varied = None in steps and len(set(stopped)) == len(stopped) >= 2 and min(stopped) > 1
        if varied and (best is None or high - low > best[1] - best[0]):
            best = (low, high)
    assert best is not None and best[1] - best[0] > 1e-4, "no gate threshold separates the test items"
    threshold_logit = (best[0] + best[1]) / 2
    settings = DecoderSettings(gate_threshold=float(1 / (1 + np.exp(-threshold_logit))), max_decoder_steps=MAX_STEPS)
    return model, sequences, seeds, settings, stop_steps(logits, threshold_logit)


# --- bad inputs to every served model ----------------------------------------------------------------------

# The test repository's frame limit for quartznet and ctc_decoder: the frames of TEST_MAX_AUDIO_SECONDS.
MAX_FRAMES = int(TEST_MAX_AUDIO_SECONDS * 100)


def f32(*shape, fill=0.1):
    return np.full(shape, fill, dtype=np.float32)


def i64(values):
    return np.array(values, dtype=np.int64)


def text(*rows):
    return np.array([[r] for r in rows], dtype=np.object_)


def with_nan(array, index=(0, 0, 1)):
    array = array.copy()
    array[index] = np.nan
    return array


def tiny_mel(frames, fill=0.1):
    return f32(1, 16, frames, fill=fill)


# model -> case -> (inputs, outputs asked for, message). Inputs any client can send, also to an ensemble's steps.
BAD_INPUTS = {
    "feature_extractor": {
        "zero length": ({"AUDIO": f32(1, 1600), "AUDIO_LENGTH": np.array([[0]], dtype=np.int32)},
                        r"AUDIO_LENGTH of row 0 is 0: it must be between 1 and the 1600 samples sent"),
        "negative length": ({"AUDIO": f32(2, 1600), "AUDIO_LENGTH": np.array([[1600], [-5]], dtype=np.int32)},
                            r"AUDIO_LENGTH of row 1 is -5"),
    },
    "quartznet": {
        "nan": ({"FEATURES": with_nan(f32(1, 64, 50)), "FEATURES_LENGTH": i64([[50]])},
                r"FEATURES row 0 contains 1 NaN or Inf values"),
        "too long": ({"FEATURES": f32(1, 64, MAX_FRAMES + 1), "FEATURES_LENGTH": i64([[MAX_FRAMES + 1]])},
                     rf"FEATURES row 0 has length {MAX_FRAMES + 1}; the limit is {MAX_FRAMES}"),
        "zero length": ({"FEATURES": f32(1, 64, 50), "FEATURES_LENGTH": i64([[0]])},
                        r"FEATURES: length 0 of row 0 is outside 1..50"),
    },
    "ctc_decoder": {
        "nan": ({"LOGPROBS": with_nan(f32(2, 40, 29)), "LOGPROBS_LENGTH": i64([[40], [40]])},
                r"LOGPROBS row 0 contains 1 NaN or Inf values"),
        "inf in row 1": ({"LOGPROBS": with_nan(f32(2, 40, 29), (1, 3, 3)) * np.float32(np.inf),
                          "LOGPROBS_LENGTH": i64([[40], [40]])}, r"LOGPROBS row 0 contains \d+ NaN or Inf"),
        "too long": ({"LOGPROBS": f32(1, MAX_FRAMES + 1, 29), "LOGPROBS_LENGTH": i64([[MAX_FRAMES + 1]])},
                     rf"LOGPROBS row 0 has length {MAX_FRAMES + 1}; the limit is {MAX_FRAMES}"),
    },
    "asr_long": {
        "nan in row 1": ({"AUDIO": with_nan(f32(2, 1600), (1, 700))}, r"AUDIO row 1 contains 1 NaN or Inf samples"),
        "too long": ({"AUDIO": f32(1, int(TEST_MAX_LONG_AUDIO_SECONDS * 16000) + 1600)},
                     r"AUDIO row 0 is 40.10 s long; the limit is 40 s \(max_long_audio_seconds\)"),
    },
    "punctuator": {
        "not utf-8": ({"TEXT": text(b"fine", b"\xff\xfe")}, r"TEXT row 1 is not valid UTF-8: byte 0xff at offset 0"),
        "too long": ({"TEXT": text(b"a" * (TEST_SETTINGS["max_punctuation_chars"] + 1))},
                     rf"TEXT row 0 is {TEST_SETTINGS['max_punctuation_chars'] + 1} characters long; the limit"),
    },
    "text_normalizer": {
        "nothing to say in row 1": ({"TEXT": text(b"Hello.", b"!!!")}, r"TEXT row 1 has no speakable characters"),
    },
    "tacotron2": {
        "symbol out of range": ({"SYMBOL_IDS": i64([[5, 6, 9999]]), "SENTENCE_LENGTHS": i64([[3]])},
                                r"SYMBOL_IDS row 0 has ids outside 0..147"),
        "lengths beyond ids": ({"SYMBOL_IDS": i64([[5, 6, 7]]), "SENTENCE_LENGTHS": i64([[2, 2]])},
                               r"SENTENCE_LENGTHS row 0 adds up to 4, more than the 3 SYMBOL_IDS sent"),
        "negative length": ({"SYMBOL_IDS": i64([[5, 6, 7]]), "SENTENCE_LENGTHS": i64([[3, -1]])},
                            r"SENTENCE_LENGTHS row 0 must be positive lengths followed by 0 padding"),
        "negative seed": ({"SYMBOL_IDS": i64([[5, 6, 7]]), "SENTENCE_LENGTHS": i64([[3]]), "SEED": i64([[-1]])},
                          r"SEED must be non-negative"),
    },
    "waveglow": {
        "nan mel": ({"MEL": with_nan(tiny_mel(10)), "MEL_LENGTH": i64([[10]])}, r"MEL row 0 contains 1 NaN or Inf"),
        "too long": ({"MEL": tiny_mel(12920), "MEL_LENGTH": i64([[12920]])},
                     r"MEL row 0 has length 12920; the limit is 12919"),
        "nan sigma": ({"MEL": tiny_mel(10), "MEL_LENGTH": i64([[10]]), "SIGMA": np.array([[np.nan]], np.float32)},
                      r"SIGMA must be finite"),
        "negative denoiser": ({"MEL": tiny_mel(10), "MEL_LENGTH": i64([[10]]),
                               "DENOISER_STRENGTH": np.array([[-1]], np.float32)},
                              r"DENOISER_STRENGTH must be a finite non-negative number"),
    },
    "tts": {
        "empty": ({"TEXT": text(b"")}, r"TEXT row 0: text is empty: send at least one word"),
        "unknown phone in row 1": ({"TEXT": text(b"Hi.", b"{HH AX0 QQ}")}, r"TEXT row 1: unknown ARPAbet phone"),
        "not utf-8 in row 1": ({"TEXT": text(b"Hi.", b"caf\xe9")}, r"TEXT row 1 is not valid UTF-8"),
    },
}
CASES = [(model, case) for model, cases in BAD_INPUTS.items() for case in cases]


def outputs_of(connection, model: str) -> list[str]:
    """The output names of a served model, from its metadata."""
    metadata = connection.client.get_model_metadata(model, **({"as_json": True} if connection.protocol == "grpc"
                                                              else {}))
    return [output["name"] for output in metadata["outputs"]]


# --- punctuator checkpoints ---------------------------------------------------------------------------------

# Punctuation labels that are not NeMo's defaults, so they can only come from the checkpoint.
CUSTOM_PUNCT = ["O", "!", ",", ".", "?"]
CUSTOM_CAPIT = ["O", "U"]


def read_archive(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:*") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def write_archive(path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def edited_checkpoint(members: dict[str, bytes], edit) -> dict[str, bytes]:
    import torch

    state_dict = torch.load(io.BytesIO(members["./model_weights.ckpt"]), weights_only=True)
    edit(state_dict)
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return {**members, "./model_weights.ckpt": buffer.getvalue()}


# --- a tone "acoustic model": emissions aligned with the audio by construction ------------------------------

# Each letter is a sine at the centre of its own mel band; the model says a letter while its band is loud and a
# space in silence, so a word's letters come out exactly where its tones are. Served like a QuartzNet export
# (features -> log-probs with lengths), it gives the ASR models words whose times are known. Its log-prob frames
# are 4 feature frames apart (QuartzNet's are 2): times are right only if the stride comes from the export.
TONE_LETTERS = "abcdefghijklmnopqrstuvwxyz"
TONE_SUBSAMPLING = 4
TONE_LETTER_S = 0.08
TONE_LEVEL = -2.0  # log-mel above which a band counts as sounding: tones reach about +4, silence -16.6
TONE_BANDS = {letter: 8 + 2 * index for index, letter in enumerate(TONE_LETTERS)}
# A word's times are right to one log-prob frame plus one feature hop: the STFT window hears a tone before it starts
TONE_TIME_BOUND_S = TONE_SUBSAMPLING * 0.01 + 0.01
# The tone repository: windows, stream buffer and idle time short, so that tests reach every edge quickly.
TONE_SETTINGS = dict(max_audio_seconds=10.0, max_long_audio_seconds=120.0, long_window_seconds=6.0,
                     long_overlap_seconds=1.5, stream_buffer_seconds=2.0, max_stream_seconds=60.0,
                     stream_idle_seconds=3.0, max_batch_size=8, max_queue_delay_us=5000)


def tone_frequencies() -> dict[str, float]:
    import librosa

    centres = librosa.mel_frequencies(64 + 2, fmin=0.0, fmax=8000.0)[1:-1]
    return {letter: float(centres[band]) for letter, band in TONE_BANDS.items()}


def tone_export(output: Path) -> Path:
    """An export directory (model.onnx, frontend.npz, labels.json, export.json) of the tone model."""
    import json

    import librosa
    import torch

    from triton_speech.export.quartznet import export_frontend
    from triton_speech.runtime.asr.features import MelConfig, MelFrontend

    output.mkdir(parents=True, exist_ok=True)
    config = MelConfig(normalize=None)  # raw log-mel: a tone's level does not depend on the rest of the audio
    filterbank = librosa.filters.mel(sr=16000, n_fft=config.n_fft, n_mels=config.n_mels, fmin=0.0, fmax=8000.0)
    frontend = MelFrontend(config, np.hanning(config.win_length), filterbank)
    frontend.save(output / "frontend.npz")
    export_frontend(frontend, output / "frontend.onnx")
    labels = [" ", *TONE_LETTERS, "'"]
    gain = 10.0
    weight = torch.zeros(len(labels) + 1, config.n_mels)
    bias = torch.full((len(labels) + 1,), -1000.0)  # the apostrophe and the blank are never said
    bias[0] = 0.0  # space: what silence says
    for letter, band in TONE_BANDS.items():
        weight[labels.index(letter), band] = gain
        bias[labels.index(letter)] = -gain * TONE_LEVEL
    floor = float(np.log(config.log_zero_guard_value))

    class ToneModel(torch.nn.Module):
        def forward(self, features, features_length):
            frames = torch.arange(features.shape[2]).unsqueeze(0) < features_length.unsqueeze(1)
            features = torch.where(frames.unsqueeze(1), features, torch.full_like(features, floor))
            # three frames of silence appended: the last log-prob frame of an item is the same alone or padded;
            # the loudest of a log-prob frame's feature frames, so two letters in a row leave no gap between them
            silence = torch.full_like(features[:, :, :3], floor)
            pooled = torch.nn.functional.max_pool1d(torch.cat([features, silence], 2), TONE_SUBSAMPLING)
            logits = torch.einsum("bft,cf->btc", pooled, weight) + bias
            return torch.log_softmax(logits, -1), (features_length + TONE_SUBSAMPLING - 1) // TONE_SUBSAMPLING

    example = (torch.randn(2, config.n_mels, 40), torch.tensor([40, 23]))
    torch.onnx.export(ToneModel(), example, str(output / "model.onnx"), input_names=["features", "features_length"],
                      output_names=["logprobs", "logprobs_length"], opset_version=17, dynamo=False,
                      dynamic_axes={"features": {0: "batch", 2: "frames"}, "features_length": {0: "batch"},
                                    "logprobs": {0: "batch", 1: "encoded"}, "logprobs_length": {0: "batch"}})
    (output / "labels.json").write_text(json.dumps({"labels": labels, "blank_id": len(labels)}))
    (output / "export.json").write_text(json.dumps({
        "model": "quartznet", "source": "tone model (tests/helpers.py)", "random_weights": False,
        "sample_rate": 16000, "n_mels": config.n_mels, "num_classes": len(labels) + 1,
        "subsampling_factor": TONE_SUBSAMPLING}))
    return output


def tone_words(count: int, seed: int) -> list[str]:
    """``count`` random words of 2-5 letters, no letter twice in a row (CTC needs a blank between those)."""
    rng = np.random.default_rng(seed)
    words = []
    for _ in range(count):
        letters = [rng.choice(list(TONE_LETTERS))]
        while len(letters) < rng.integers(2, 6):
            letters.append(rng.choice([c for c in TONE_LETTERS if c != letters[-1]]))
        words.append("".join(letters))
    return words


def tone_speech(words: list[str], gaps_s: list[float], sample_rate: int = 16000) -> tuple[np.ndarray, list]:
    """``words`` said one by one as tones, ``gaps_s[k]`` of silence before word k and ``gaps_s[-1]`` after the
    last; returns the audio and each word's (word, start s, end s)."""
    assert len(gaps_s) == len(words) + 1
    frequencies = tone_frequencies()
    letter = int(TONE_LETTER_S * sample_rate)
    t = np.arange(letter) / sample_rate
    ramp = np.minimum(1.0, np.minimum(np.arange(letter), np.arange(letter)[::-1]) / (0.002 * sample_rate))
    pieces, bounds, position = [], [], 0
    for word, gap in zip(words, gaps_s):
        silence = int(round(gap * sample_rate))
        pieces.append(np.zeros(silence))
        position += silence
        pieces += [0.3 * ramp * np.sin(2 * np.pi * frequencies[c] * t) for c in word]
        bounds.append((word, position / sample_rate, (position + letter * len(word)) / sample_rate))
        position += letter * len(word)
    pieces.append(np.zeros(int(round(gaps_s[-1] * sample_rate))))
    return np.concatenate(pieces).astype(np.float32), bounds


def heldout_items(count: int | None = None) -> list[dict]:
    """The first ``count`` entries of the held-out set (tests/data/asr_heldout: voices and sentences the default
    QuartzNet never heard)."""
    from triton_speech.corpus.manifest import read_manifest

    return read_manifest(DATA / "asr_heldout" / "manifest.json")[:count]


def heldout_audio(count: int | None = None) -> list[np.ndarray]:
    from triton_speech.client.audio import load_audio

    return [load_audio(item["audio_filepath"], 16000) for item in heldout_items(count)]


def tone_clip(words: int, seed: int) -> tuple[np.ndarray, list]:
    """``words`` random tone words said with 0.15-0.5 s of silence around each: (audio, word times)."""
    rng = np.random.default_rng(seed)
    return tone_speech(tone_words(words, seed), list(rng.uniform(0.15, 0.5, words + 1)))
def spoken_wav(text: str, path: Path, voice: str = "en-us") -> bytes:
    """``text`` spoken by espeak-ng (as `make demo` speaks it, 16 kHz WAV); returns the file's bytes."""
    from triton_speech.demo import speak

    speak(text, path) if voice == "en-us" else _speak_voice(text, path, voice)
    return path.read_bytes()


def _speak_voice(text: str, path: Path, voice: str) -> None:
    import subprocess

    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation: what a transcript is compared by."""
    import re

    return re.findall(r"[a-z']+", text.lower())


class FakeGpuRuntime:
    """onnxruntime as a GPU build would look: GPU providers listed, sessions that record what they were asked and
    run on the CPU; ``dropping`` providers are left out of the session, as ONNX Runtime does when one fails."""

    def __init__(self, monkeypatch, dropping=(), missing=()):
        self.sessions = []
        import onnxruntime

        from triton_speech.runtime import onnx as ort

        real = onnxruntime.InferenceSession
        fake = self

        class Session:
            def __init__(self, path, options, providers):
                self.path, self.options, self.providers = Path(path), options, providers
                self.real = real(path, providers=["CPUExecutionProvider"])
                self.fallback_disabled = False
                fake.sessions.append(self)

            def get_providers(self):
                return [name for name, _ in self.providers if name not in dropping] + ["CPUExecutionProvider"]

            def disable_fallback(self):
                self.fallback_disabled = True

            def __getattr__(self, name):
                return getattr(self.real, name)

        listed = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
        monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
        monkeypatch.setattr(ort, "missing_libraries", lambda names, *a, **k: [n for n in names if n in missing])
