"""The TTS models and the ``tts`` ensemble: text -> symbol ids -> Tacotron2 mel -> vocoder audio (22050 Hz).

The vocoder is WaveGlow, or (``vocoder="griffin_lim"``) Griffin-Lim phase recovery, which needs no weights:
a Tacotron2 speaks intelligibly before a WaveGlow for its voice is trained. With Griffin-Lim the ensemble
takes no SIGMA or DENOISER_STRENGTH (WaveGlow's), so a request that sends them is refused by name.
"""

from __future__ import annotations

from pathlib import Path

from triton_speech.ensembles import gpu, warmup
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import ConfigError, Ensemble, PythonModel, Step, Tensor, read_export
from triton_speech.export.precision import DERIVED_GRAPHS, derived_graph
from triton_speech.runtime.model_settings import (
    GriffinLimSettings,
    Tacotron2Settings,
    TextNormalizerSettings,
    TTSStreamingSettings,
    WaveGlowSettings,
)
from triton_speech.runtime.profiles import OPTIMUM_SECONDS, waveglow_profile
from triton_speech.runtime.tts.sentences import pack_sentences, sentence_sequences
from triton_speech.runtime.tts.stft import HOP, SAMPLE_RATE
from triton_speech.runtime.tts.text import export_normalization

TEXT = Tensor("TEXT", "BYTES", (1,))
# Optional per request: the seed of the prenet dropout and WaveGlow noise (same seed, same audio),
# WaveGlow's sigma and the denoiser strength (defaults are builder settings).
SEED = Tensor("SEED", "INT64", (1,), optional=True)
SIGMA = Tensor("SIGMA", "FP32", (1,), optional=True)
DENOISER_STRENGTH = Tensor("DENOISER_STRENGTH", "FP32", (1,), optional=True)
AUDIO = Tensor("AUDIO", "FP32", (-1,))
AUDIO_LENGTH = Tensor("AUDIO_LENGTH", "INT64", (1,))
STEP_LIMIT_REACHED = Tensor("STEP_LIMIT_REACHED", "BOOL", (1,))
SYMBOL_IDS = Tensor("SYMBOL_IDS", "INT64", (-1,))
SENTENCE_LENGTHS = Tensor("SENTENCE_LENGTHS", "INT64", (-1,))
MEL_LENGTH = Tensor("MEL_LENGTH", "INT64", (1,))
# tts_streaming's responses: a chunk of AUDIO, the samples before it, and on the last one FINAL and the step limit.
AUDIO_OFFSET = Tensor("AUDIO_OFFSET", "INT64", (1,))
FINAL = Tensor("FINAL", "BOOL", (1,))


VOCODERS = ("waveglow", "griffin_lim")
# english_cleaners spells numbers out ("123456789" is 85 symbols): a request's symbols are bounded by this many
# per character of its text, so tacotron2 can refuse more when called directly.
SYMBOLS_PER_CHAR = 12


def max_mel_frames(settings: RepositorySettings) -> int:
    return int(settings.max_speech_seconds * SAMPLE_RATE / HOP)


def models(tacotron2_export: Path, waveglow_export: Path | None,
           settings: RepositorySettings) -> list[PythonModel | Ensemble]:
    """text_normalizer, tacotron2, the vocoder and the tts ensemble; ``waveglow_export`` only for WaveGlow."""
    if settings.vocoder not in VOCODERS:
        raise ConfigError(f"unknown vocoder {settings.vocoder!r}: choose one of {', '.join(VOCODERS)}")
    if settings.vocoder == "waveglow" and waveglow_export is None:
        raise ConfigError("the tts pipeline with vocoder waveglow needs a waveglow export")
    tacotron2_export = Path(tacotron2_export)
    tacotron2_info = read_export(tacotron2_export, "tacotron2")
    mel = Tensor("MEL", "FP32", (int(tacotron2_info["n_mel_channels"]), -1))
    # The text front-end the checkpoint was trained with, unless the settings ask for another.
    normalization = settings.text_normalization or export_normalization(tacotron2_info)

    loop = dict(gate_threshold=settings.gate_threshold, max_decoder_steps=settings.max_decoder_steps,
                intra_op_threads=settings.onnx_threads, max_mel_frames=max_mel_frames(settings))
    text = dict(max_text_chars=settings.max_text_chars, max_sentence_chars=settings.max_sentence_chars,
                text_normalization=normalization)
    tacotron2_files = {name: tacotron2_export / name
                       for name in ("encoder.onnx", "decoder_step.onnx", "postnet.onnx", "export.json")}
    # CUDA alone, FP32 (ensembles.gpu says why)
    tacotron2_graphs = {name: gpu.cuda_only(path) for name, path in tacotron2_files.items() if name.endswith(".onnx")}
    warmup_ids, warmup_lengths = pack_sentences([sentence_sequences(warmup.WARMUP_TEXT, settings.max_sentence_chars,
                                                                    normalization=normalization)])
    mel_warmup = warmup.samples(settings, MEL=warmup.log_mel(mel.dims[0]), MEL_LENGTH=warmup.length(
        warmup.WARMUP_MEL_FRAMES))
    text_normalizer = PythonModel(
        name="text_normalizer",
        inputs=(TEXT,),
        outputs=(SYMBOL_IDS, SENTENCE_LENGTHS),
        batching=settings.batching("text_normalizer"),
        settings=TextNormalizerSettings(**text),
        warmup=warmup.samples(settings, TEXT=warmup.text()),
    )
    tacotron2 = PythonModel(
        name="tacotron2",
        inputs=(SYMBOL_IDS, SENTENCE_LENGTHS, SEED),
        outputs=(mel, MEL_LENGTH, STEP_LIMIT_REACHED),
        batching=settings.batching("tacotron2"),
        settings=Tacotron2Settings(**loop, max_symbols=SYMBOLS_PER_CHAR * settings.max_text_chars),
        parameters=gpu.python_parameters(settings, "tacotron2", tacotron2_graphs),
        artifacts=tacotron2_files,
        warmup=warmup.samples(settings, SYMBOL_IDS=warmup_ids[0], SENTENCE_LENGTHS=warmup_lengths[0]),
        # The autoregressive loop has no native form: its graphs run in this python model, on the GPU when asked.
        device=settings.network_device,
    )
    if settings.vocoder == "griffin_lim":
        vocoder = PythonModel(
            name="griffin_lim",
            inputs=(mel, MEL_LENGTH, SEED),
            outputs=(AUDIO, AUDIO_LENGTH),
            batching=settings.batching("griffin_lim"),
            settings=GriffinLimSettings(iterations=settings.griffin_lim_iterations,
                                        max_mel_frames=max_mel_frames(settings)),
            warmup=mel_warmup,
        )
        vocoder_inputs = (SEED,)
        vocoder_settings = dict(iterations=settings.griffin_lim_iterations,
                                griffin_lim_context_frames=settings.griffin_lim_context_frames)
        vocoder_graphs = {}
    else:
        vocoder_graphs = {"waveglow.onnx": waveglow_graph(Path(waveglow_export), mel.dims[0], settings)}
        vocoder = waveglow(Path(waveglow_export), mel, settings, mel_warmup, vocoder_graphs["waveglow.onnx"])
        vocoder_inputs = (SEED, SIGMA, DENOISER_STRENGTH)
        vocoder_settings = {key: getattr(vocoder.settings, key) for key in ("onnx_model", "sigma", "denoiser_strength")}
    streaming = PythonModel(
        name="tts_streaming",
        inputs=(TEXT, *vocoder_inputs),
        outputs=(AUDIO, AUDIO_OFFSET, FINAL, STEP_LIMIT_REACHED),
        batching=settings.batching("tts_streaming"),
        settings=TTSStreamingSettings(**loop, **text, **vocoder_settings, vocoder=settings.vocoder,
                                      stream_block_frames=settings.stream_block_frames),
        parameters=gpu.python_parameters(settings, "tts_streaming", {**tacotron2_graphs, **vocoder_graphs}),
        artifacts={**tacotron2_files, **{name: path for name, path in vocoder.artifacts.items()
                                         if name != "export.json"}},
        decoupled=True,
        warmup=warmup.samples(settings, TEXT=warmup.text()),
        device=settings.network_device,
    )
    tts = Ensemble(
        name="tts",
        inputs=(TEXT, *vocoder_inputs),
        outputs=(AUDIO, AUDIO_LENGTH, STEP_LIMIT_REACHED),
        max_batch_size=settings.max_batch_size,
        steps=(
            Step("text_normalizer", inputs={"TEXT": "TEXT"},
                 outputs={"SYMBOL_IDS": "symbol_ids", "SENTENCE_LENGTHS": "sentence_lengths"}),
            Step("tacotron2",
                 inputs={"SYMBOL_IDS": "symbol_ids", "SENTENCE_LENGTHS": "sentence_lengths", "SEED": "SEED"},
                 outputs={"MEL": "mel", "MEL_LENGTH": "mel_length", "STEP_LIMIT_REACHED": "STEP_LIMIT_REACHED"}),
            Step(vocoder.name,
                 inputs={"MEL": "mel", "MEL_LENGTH": "mel_length", **{t.name: t.name for t in vocoder_inputs}},
                 outputs={"AUDIO": "AUDIO", "AUDIO_LENGTH": "AUDIO_LENGTH"}),
        ),
    )
    return [text_normalizer, tacotron2, vocoder, tts, streaming]


def waveglow_graph(export: Path, n_mels: int, settings: RepositorySettings):
    """WaveGlow under TensorRT: a batch of up to max_batch_size mels of one frame to max_mel_frames (what the
    vocoders accept), its noise z to match; FP16 only at --precision fp16."""
    import onnx

    model = onnx.load(str(export / "waveglow.onnx"), load_external_data=False)
    hop = int({entry.key: entry.value for entry in model.metadata_props}["hop_length"])
    n_group = next(value.type.tensor_type.shape.dim[1].dim_value for value in model.graph.input if value.name == "z")
    profile = waveglow_profile(n_mels, n_group, hop, settings.max_batch_size, max_mel_frames(settings),
                               int(OPTIMUM_SECONDS * SAMPLE_RATE / HOP))
    return gpu.tensorrt(profile, half=gpu.fp16(settings, "waveglow"))


def waveglow(export: Path, mel: Tensor, settings: RepositorySettings, warmup_samples=(),
             graph_options=None) -> PythonModel:
    read_export(export, "waveglow")
    graph = (derived_graph(export / "waveglow.onnx", settings.precision)
             if "waveglow" in DERIVED_GRAPHS.get(settings.precision, {}) else export / "waveglow.onnx")
    graph_options = graph_options or waveglow_graph(export, mel.dims[0], settings)
    return PythonModel(
        name="waveglow",
        inputs=(mel, MEL_LENGTH, SEED, SIGMA, DENOISER_STRENGTH),
        outputs=(AUDIO, AUDIO_LENGTH),
        batching=settings.batching("waveglow"),
        settings=WaveGlowSettings(onnx_model="waveglow.onnx", sigma=settings.sigma,
                                  denoiser_strength=settings.denoiser_strength, intra_op_threads=settings.onnx_threads,
                                  max_mel_frames=max_mel_frames(settings)),
        parameters=gpu.python_parameters(settings, "waveglow", {"waveglow.onnx": graph_options}),
        artifacts={"waveglow.onnx": graph, "export.json": export / "export.json"},
        warmup=warmup_samples,
        # Hosted here on both targets: its graph takes one sigma per batch and per-request noise the model draws.
        device=settings.network_device,
    )

