"""Configs generated from the descriptions, validated against Triton's ModelConfig protobuf."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as pb

from tests.support.paths import DEFAULTS
from triton_speech.ensembles import asr
from triton_speech.ensembles.builder import Exports, build
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import Batching, ConfigError, Ensemble, PythonModel, Step, Tensor, validate_repository


def parse(path) -> pb.ModelConfig:
    return text_format.Parse(path.read_text(), pb.ModelConfig())


def test_built_repository_has_every_model_with_its_files(tmp_path, quartznet_export):
    names = build(tmp_path, Exports(asr=quartznet_export), RepositorySettings())
    assert names == ["feature_extractor", "quartznet", "ctc_decoder", "asr", "asr_long", "asr_streaming"]
    for name in names:
        config = parse(tmp_path / name / "config.pbtxt")
        assert config.name == name
    assert (tmp_path / "quartznet" / "1" / "model.onnx").exists()
    assert (tmp_path / "feature_extractor" / "1" / "frontend.npz").exists()
    assert (tmp_path / "ctc_decoder" / "1" / "labels.json").exists()
    assert all((tmp_path / n / "1" / "model.py").exists() for n in names[:3])


def test_settings_reach_the_configs(tmp_path, quartznet_export):
    settings = RepositorySettings(max_batch_size=4, max_queue_delay_us=777, preferred_batch_sizes=(2, 4),
                                  instances={"quartznet": 3}, max_audio_seconds=12.5)
    build(tmp_path, Exports(asr=quartznet_export), settings)
    quartznet = parse(tmp_path / "quartznet" / "config.pbtxt")
    assert quartznet.max_batch_size == 4
    assert quartznet.dynamic_batching.max_queue_delay_microseconds == 777
    assert list(quartznet.dynamic_batching.preferred_batch_size) == [2, 4]
    assert quartznet.instance_group[0].count == 3
    assert parse(tmp_path / "ctc_decoder" / "config.pbtxt").instance_group[0].count == 1
    assert parse(tmp_path / "feature_extractor" / "config.pbtxt").parameters["max_audio_seconds"].string_value == "12.5"
    ensemble = parse(tmp_path / "asr" / "config.pbtxt")
    assert ensemble.platform == "ensemble" and ensemble.max_batch_size == 4


def test_lexicon_decoding_is_a_setting(tmp_path, quartznet_export):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("hello\nworld\n")
    build(tmp_path / "repo", Exports(asr=quartznet_export), RepositorySettings(lexicon=str(lexicon), ctc_beam_size=8))
    decoder = parse(tmp_path / "repo" / "ctc_decoder" / "config.pbtxt")
    assert decoder.parameters["lexicon"].string_value == "lexicon.txt"
    assert decoder.parameters["beam_size"].string_value == "8"
    assert (tmp_path / "repo" / "ctc_decoder" / "1" / "lexicon.txt").read_text() == "hello\nworld\n"
    build(tmp_path / "greedy", Exports(asr=quartznet_export), RepositorySettings())
    greedy = parse(tmp_path / "greedy" / "ctc_decoder" / "config.pbtxt")
    assert greedy.parameters["lexicon"].string_value == "" and greedy.parameters["lm"].string_value == ""
    assert not (tmp_path / "greedy" / "ctc_decoder" / "1" / "lexicon.txt").exists()


def test_language_model_decoding_is_a_setting(tmp_path, quartznet_export):
    lm = DEFAULTS / "lm_general.arpa"
    build(tmp_path / "repo", Exports(asr=quartznet_export), RepositorySettings(lm=str(lm), lm_alpha=0.7))
    decoder = parse(tmp_path / "repo" / "ctc_decoder" / "config.pbtxt")
    assert (decoder.parameters["lm"].string_value, decoder.parameters["lm_alpha"].string_value) == ("lm.arpa", "0.7")
    assert (tmp_path / "repo" / "ctc_decoder" / "1" / "lm.arpa").stat().st_size == lm.stat().st_size
    with pytest.raises(ConfigError, match="a lexicon or with a language model, not both"):
        build(tmp_path / "both", Exports(asr=quartznet_export),
              RepositorySettings(lm=str(lm), lexicon=str(DEFAULTS / "quartznet_small.lexicon.txt")))


def test_a_lexicon_the_model_cannot_spell_is_rejected_before_anything_is_written(tmp_path, quartznet_export):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("hello\nWorld\n")  # the model's labels are lower case
    with pytest.raises(ConfigError, match=r"ctc_decoder: lexicon .*'World'"):
        build(tmp_path / "repo", Exports(asr=quartznet_export), RepositorySettings(lexicon=str(lexicon)))
    lexicon.write_text("hello\n")
    with pytest.raises(ConfigError, match="beam size must be at least 1"):
        build(tmp_path / "repo", Exports(asr=quartznet_export),
              RepositorySettings(lexicon=str(lexicon), ctc_beam_size=0))
    with pytest.raises(ConfigError, match="No such file"):
        build(tmp_path / "repo", Exports(asr=quartznet_export), RepositorySettings(lexicon=str(tmp_path / "none")))
    assert not (tmp_path / "repo").exists()


def test_griffin_lim_vocoder_needs_no_waveglow_and_takes_no_sigma(tmp_path, tacotron2_export):
    names = build(tmp_path, Exports(tacotron2=tacotron2_export[0]), RepositorySettings(vocoder="griffin_lim"))
    assert names == ["text_normalizer", "tacotron2", "griffin_lim", "tts", "tts_streaming"]
    tts = parse(tmp_path / "tts" / "config.pbtxt")
    assert [t.name for t in tts.input] == ["TEXT", "SEED"]
    assert [t.name for t in parse(tmp_path / "tts_streaming" / "config.pbtxt").input] == ["TEXT", "SEED"]
    assert [s.model_name for s in tts.ensemble_scheduling.step] == ["text_normalizer", "tacotron2", "griffin_lim"]
    with pytest.raises(ConfigError, match="unknown vocoder 'hifigan'"):
        build(tmp_path / "other", Exports(tacotron2=tacotron2_export[0]), RepositorySettings(vocoder="hifigan"))
    with pytest.raises(ConfigError, match="needs a waveglow export"):
        build(tmp_path / "other", Exports(tacotron2=tacotron2_export[0]), RepositorySettings())


def test_a_rebuild_removes_the_models_it_leaves_out(tmp_path, tacotron2_export, waveglow_export):
    from triton_speech.server import TritonServer

    exports = Exports(tacotron2=tacotron2_export[0], waveglow=waveglow_export[0])
    build(tmp_path, exports, RepositorySettings())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.pbtxt").write_text('name: "mine"\n')  # not ours: left alone
    assert "waveglow" in TritonServer(tmp_path).models()
    build(tmp_path, exports, RepositorySettings(vocoder="griffin_lim"))
    assert not (tmp_path / "waveglow").exists()
    assert TritonServer(tmp_path).models() == ["griffin_lim", "mine", "tacotron2", "text_normalizer", "tts",
                                               "tts_streaming"]
    assert not (tmp_path / "tts_streaming" / "1" / "waveglow.onnx").exists()
    assert parse(tmp_path / "tts" / "config.pbtxt").ensemble_scheduling.step[2].model_name == "griffin_lim"
    assert (tmp_path / "tts" / "config.pbtxt").read_text().startswith("# Generated by `python -m ensembles`")


def test_tts_streaming_is_decoupled_and_hosts_the_pipeline(tmp_path, tacotron2_export, waveglow_export):
    settings = RepositorySettings(stream_block_frames=12, sigma=0.5)
    build(tmp_path, Exports(tacotron2=tacotron2_export[0], waveglow=waveglow_export[0]), settings)
    config = parse(tmp_path / "tts_streaming" / "config.pbtxt")
    assert config.model_transaction_policy.decoupled
    assert not parse(tmp_path / "tts" / "config.pbtxt").model_transaction_policy.decoupled
    assert [t.name for t in config.input] == ["TEXT", "SEED", "SIGMA", "DENOISER_STRENGTH"]
    assert [t.name for t in config.output] == ["AUDIO", "AUDIO_OFFSET", "FINAL", "STEP_LIMIT_REACHED"]
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    assert (parameters["vocoder"], parameters["stream_block_frames"], parameters["sigma"]) == ("waveglow", "12", "0.5")
    files = {path.name for path in (tmp_path / "tts_streaming" / "1").iterdir()}
    assert files == {"model.py", "encoder.onnx", "decoder_step.onnx", "postnet.onnx", "export.json", "waveglow.onnx"}


# asr_streaming warms itself in initialize (a warm-up request would need a sequence's control inputs); asr_long only
# forwards windows to asr (BLS), which Triton may not have loaded while asr_long warms.
SELF_WARMING = {"asr_streaming", "asr_long"}


def test_every_model_warms_up_on_real_values_written_where_triton_reads_them(tmp_path, quartznet_export,
                                                                             punctuator_export, tacotron2_export):
    import numpy as np

    names = build(tmp_path, Exports(asr=quartznet_export, punctuator=punctuator_export,
                                    tacotron2=tacotron2_export[0]), RepositorySettings(vocoder="griffin_lim"))
    for name in names:
        config = parse(tmp_path / name / "config.pbtxt")
        if config.platform == "ensemble" or name in SELF_WARMING:
            assert not config.model_warmup
            continue
        (sample,) = config.model_warmup
        assert sample.batch_size == 1 and set(sample.inputs) >= {t.name for t in config.input if not t.optional}
        for value in sample.inputs.values():
            data = (tmp_path / name / "warmup" / value.input_data_file).read_bytes()
            if value.data_type == pb.TYPE_STRING:  # 4-byte little-endian length, then the text
                assert int.from_bytes(data[:4], "little") == len(data) - 4 and data[4:].decode().strip()
            else:
                dtype = {pb.TYPE_FP32: np.float32, pb.TYPE_INT64: np.int64}[value.data_type]
                values = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"))
                assert values.size == np.prod(value.dims) and np.isfinite(values).all()
    features = np.frombuffer((tmp_path / "quartznet" / "warmup" / "quartznet.warmup.FEATURES").read_bytes(),
                             "<f4").reshape(64, -1)
    assert features.std() > 0.1  # the features of audio, not zeros
    assert parse(tmp_path / "tts_streaming" / "config.pbtxt").model_warmup[0].inputs["TEXT"].dims == [1]
    build(tmp_path, Exports(tacotron2=tacotron2_export[0]), RepositorySettings(vocoder="griffin_lim", warmup=False))
    assert not parse(tmp_path / "tacotron2" / "config.pbtxt").model_warmup
    assert not (tmp_path / "tacotron2" / "warmup").exists() and not (tmp_path / "quartznet" / "warmup").exists()


@pytest.mark.parametrize("vocoder", ["griffin_lim", "waveglow"])
def test_a_warmup_length_is_the_length_of_its_tensor(vocoder, quartznet_export, punctuator_export, tacotron2_export,
                                                      waveglow_export):
    """A warm-up sample's ``X_LENGTH`` says how much of ``X`` is real, as a client's would: the size of X's
    variable axis (a length taken from another axis, say the mel bands, would warm up on a cut input unnoticed)."""
    from triton_speech.ensembles.builder import describe

    exports = Exports(asr=quartznet_export, punctuator=punctuator_export, tacotron2=tacotron2_export[0],
                      waveglow=waveglow_export[0])
    checked = []
    for model in describe(exports, RepositorySettings(vocoder=vocoder)):
        if not isinstance(model, PythonModel):
            continue
        dims = {tensor.name: tensor.dims for tensor in model.inputs}
        for sample in model.warmup:
            for name, value in sample.inputs.items():
                if name.endswith("_LENGTH") and name[: -len("_LENGTH")] in sample.inputs:
                    tensor = name[: -len("_LENGTH")]
                    axis = dims[tensor].index(-1)
                    assert value.tolist() == [sample.inputs[tensor].shape[axis]], f"{model.name}.{name}"
                    checked.append(f"{model.name}.{name}")
    assert {"quartznet.FEATURES_LENGTH", "ctc_decoder.LOGPROBS_LENGTH", f"{vocoder}.MEL_LENGTH"} <= set(checked)


@pytest.mark.parametrize("target, device, vocoder", [("pip", "cpu", "griffin_lim"), ("pip", "gpu", "waveglow"),
                                                     ("ngc", "cpu", "waveglow")])
def test_every_python_model_reads_back_the_settings_the_builder_wrote(tmp_path, target, device, vocoder,
                                                                      quartznet_export, punctuator_export,
                                                                      tacotron2_export, waveglow_export):
    """One typed definition per model's settings: the builder writes a runtime.model_settings dataclass into the
    config, the model's model.py reads that class back from it, and gets the same values."""
    from triton_speech.ensembles.builder import SOURCE_REPOSITORY, describe

    exports = Exports(asr=quartznet_export, punctuator=punctuator_export, tacotron2=tacotron2_export[0],
                      waveglow=waveglow_export[0])
    described = describe(exports, RepositorySettings(target=target, device=device, vocoder=vocoder))
    build(tmp_path, exports, RepositorySettings(target=target, device=device, vocoder=vocoder))
    python_models = [model for model in described if isinstance(model, PythonModel)]
    assert python_models and all(model.settings is not None for model in python_models)
    for model in python_models:
        kind = type(model.settings)
        config = parse(tmp_path / model.name / "config.pbtxt")
        written = {key: value.string_value for key, value in config.parameters.items()}
        assert kind.from_parameters(written, model.name) == model.settings, model.name
        source = (SOURCE_REPOSITORY / model.name / "1" / "model.py").read_text()
        assert f"settings({kind.__name__})" in source, f"{model.name}/1/model.py does not read {kind.__name__}"


def test_a_parameter_beside_the_settings_may_not_repeat_one():
    from triton_speech.runtime.model_settings import GriffinLimSettings

    with pytest.raises(ConfigError, match=r"parameters \['iterations'\] are settings of the model already"):
        PythonModel("m", (Tensor("A", "FP32", (-1,)),), (Tensor("B", "FP32", (-1,)),), Batching(),
                    settings=GriffinLimSettings(iterations=4, max_mel_frames=10), parameters={"iterations": "8"})


@pytest.mark.parametrize("inputs, message", [
    ({}, r"lacks required inputs \['A'\]"),
    ({"A": [1.0], "Z": [1.0]}, "the model has no input Z"),
    ({"A": [[1.0]]}, r"A has shape \[1, 1\], the input dims are \[-1\]"),
    ({"A": [float("nan")]}, "A must be finite and not empty"),
])
def test_warmup_samples_are_checked_against_the_inputs(inputs, message):
    import numpy as np

    from triton_speech.ensembles.spec import WarmupSample

    arrays = {name: np.asarray(value, dtype=np.float32) for name, value in inputs.items()}
    with pytest.raises(ConfigError, match=message):
        PythonModel("m", (A,), (B,), Batching(), warmup=(WarmupSample("w", arrays),))
    with pytest.raises(ConfigError, match="A is int64, the input is FP32"):
        PythonModel("m", (A,), (B,), Batching(), warmup=(WarmupSample("w", {"A": np.array([1])}),))


def test_a_step_after_a_decoupled_one_must_have_one_instance():
    first = PythonModel("first", (A,), (B,), Batching(), decoupled=True)
    second = PythonModel("second", (Tensor("X", "INT64", (1,)),), (Tensor("Y", "FP32", (1,)),),
                         Batching(instance_count=2))
    ensemble = Ensemble("e", (A,), (Tensor("Y", "FP32", (1,)),), (
        Step("first", {"A": "A"}, {"B": "b"}), Step("second", {"X": "b"}, {"Y": "Y"})), max_batch_size=4)
    with pytest.raises(ConfigError, match="second follows decoupled first and must have one instance"):
        validate_repository([first.config(), second.config(), ensemble.config()])
    single = PythonModel("second", second.inputs, second.outputs, Batching())
    validate_repository([first.config(), single.config(), ensemble.config()])


def test_boolean_settings_are_flags(tmp_path, tacotron2_export):
    from triton_speech.ensembles.builder import main

    assert main(["--output", str(tmp_path), "--without", "asr", "punctuation", "--tacotron2-export",
                 str(tacotron2_export[0]), "--vocoder", "griffin_lim", "--no-warmup"]) == 0
    assert not parse(tmp_path / "tacotron2" / "config.pbtxt").model_warmup
    assert main(["--output", str(tmp_path), "--without", "asr", "punctuation", "--tacotron2-export",
                 str(tacotron2_export[0]), "--vocoder", "griffin_lim"]) == 0
    assert parse(tmp_path / "tacotron2" / "config.pbtxt").model_warmup


def _normalization(repository, model: str) -> str:
    return parse(repository / model / "config.pbtxt").parameters["text_normalization"].string_value


def test_tts_normalizes_text_as_the_export_records_unless_told(tmp_path, tacotron2_export):
    """The test checkpoint records none (as NVIDIA's): DLE's front-end; an export recording another gets that one;
    --text-normalization overrides both."""
    import json
    import shutil

    from triton_speech.ensembles.builder import main

    assert tacotron2_export[1]["text_normalization"] == "dle"
    griffin_lim = RepositorySettings(vocoder="griffin_lim", warmup=False)
    build(tmp_path / "dle", Exports(tacotron2=tacotron2_export[0]), griffin_lim)
    assert _normalization(tmp_path / "dle", "text_normalizer") == _normalization(tmp_path / "dle", "tts_streaming") \
        == "dle"
    extended = tmp_path / "extended_export"
    shutil.copytree(tacotron2_export[0], extended)
    info = json.loads((extended / "export.json").read_text())
    (extended / "export.json").write_text(json.dumps({**info, "text_normalization": "extended"}))
    build(tmp_path / "extended", Exports(tacotron2=extended), griffin_lim)
    assert _normalization(tmp_path / "extended", "text_normalizer") == "extended"
    assert main(["--output", str(tmp_path / "told"), "--without", "asr", "punctuation", "--tacotron2-export",
                 str(extended), "--vocoder", "griffin_lim", "--no-warmup", "--text-normalization", "dle"]) == 0
    assert _normalization(tmp_path / "told", "text_normalizer") == _normalization(tmp_path / "told", "tts_streaming") \
        == "dle"
    with pytest.raises(ConfigError, match="text-normalization must be one of"):
        RepositorySettings(text_normalization="fancy")


def test_shapes_come_from_the_export(quartznet_export):
    configs = {m.name: m.config() for m in asr.models(quartznet_export, RepositorySettings())}
    assert list(configs["quartznet"].output[0].dims) == [-1, 29]
    assert list(configs["feature_extractor"].output[0].dims) == [64, -1]
    assert configs["quartznet"].input[0].allow_ragged_batch


def _model(name, inputs, outputs):
    return PythonModel(name, tuple(inputs), tuple(outputs), Batching())


A = Tensor("A", "FP32", (-1,))
B = Tensor("B", "INT64", (1,))


@pytest.mark.parametrize(
    "step, outputs, message",
    [
        (Step("missing", {"A": "A"}, {"B": "B"}), (B,), "unknown model missing"),
        (Step("m", {"Z": "A"}, {"B": "B"}), (B,), "has no input Z"),
        (Step("m", {"A": "nowhere"}, {"B": "B"}), (B,), "which no earlier step makes"),
        (Step("m", {"A": "A"}, {"Q": "B"}), (B,), "has no output Q"),
        (Step("m", {"A": "A"}, {"B": "C"}), (B,), "output B is produced by no step"),
        (Step("m", {"A": "A"}, {"B": "B"}), (Tensor("B", "FP32", (1,)),), "wrong data type"),
    ],
)
def test_ensemble_wiring_errors_are_caught(step, outputs, message):
    model = _model("m", [A], [B])
    ensemble = Ensemble("e", (A,), outputs, (step,), max_batch_size=4)
    with pytest.raises(ConfigError, match=message):
        validate_repository([model.config(), ensemble.config()])


def test_type_mismatch_between_steps_is_caught():
    first = _model("first", [A], [B])
    second = _model("second", [Tensor("X", "FP32", (1,))], [Tensor("Y", "FP32", (1,))])
    ensemble = Ensemble("e", (A,), (Tensor("Y", "FP32", (1,)),), (
        Step("first", {"A": "A"}, {"B": "b"}), Step("second", {"X": "b"}, {"Y": "Y"})), max_batch_size=4)
    with pytest.raises(ConfigError, match="different data types"):
        validate_repository([first.config(), second.config(), ensemble.config()])


def test_a_step_may_not_read_an_ensemble_output():
    first = _model("first", [A], [B])
    second = _model("second", [Tensor("X", "INT64", (1,))], [Tensor("Y", "FP32", (1,))])
    ensemble = Ensemble("e", (A,), (B, Tensor("Y", "FP32", (1,))), (
        Step("first", {"A": "A"}, {"B": "B"}), Step("second", {"X": "B"}, {"Y": "Y"})), max_batch_size=4)
    with pytest.raises(ConfigError, match="second reads ensemble output B"):
        validate_repository([first.config(), second.config(), ensemble.config()])


def test_optional_ensemble_input_cannot_feed_a_required_input():
    model = _model("m", [A], [B])
    ensemble = Ensemble("e", (Tensor("A", "FP32", (-1,), optional=True),), (B,),
                        (Step("m", {"A": "A"}, {"B": "B"}),), max_batch_size=4)
    with pytest.raises(ConfigError, match="optional A feeds required input"):
        validate_repository([model.config(), ensemble.config()])


def test_invalid_settings_are_rejected():
    with pytest.raises(ConfigError, match="preferred batch sizes"):
        Batching(max_batch_size=4, preferred_batch_sizes=(8,))
    with pytest.raises(ConfigError, match="unknown data type"):
        Tensor("X", "FLOAT", (1,))


def test_nothing_is_written_when_validation_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        build(tmp_path / "repo", Exports(asr=tmp_path / "no-export"), RepositorySettings())
    assert not (tmp_path / "repo").exists()


def test_the_decoder_times_words_with_quartznets_stride(tmp_path, quartznet_export):
    """QuartzNet's prologue has stride 2 over 10 ms feature frames: 20 ms per log-prob frame, read from the export."""
    build(tmp_path, Exports(asr=quartznet_export), RepositorySettings())
    assert parse(tmp_path / "ctc_decoder" / "config.pbtxt").parameters["frame_seconds"].string_value == "0.02"
    # asr_streaming reads it from the export it holds, as ASRPipeline.from_export does
    assert (tmp_path / "asr_streaming" / "1" / "export.json").samefile(quartznet_export / "export.json")


def test_asr_streaming_is_a_sequence_model_with_the_asr_weights(tmp_path, quartznet_export):
    build(tmp_path, Exports(asr=quartznet_export), RepositorySettings(stream_idle_seconds=2.5, max_streams=12))
    config = parse(tmp_path / "asr_streaming" / "config.pbtxt")
    assert not config.HasField("dynamic_batching")
    sequence = config.sequence_batching
    assert sequence.max_sequence_idle_microseconds == 2_500_000 and sequence.oldest.max_candidate_sequences == 12
    kinds = {control.name: control.control[0].kind for control in sequence.control_input}
    controls = pb.ModelSequenceBatching.Control
    assert kinds == {"START": controls.CONTROL_SEQUENCE_START, "END": controls.CONTROL_SEQUENCE_END,
                     "READY": controls.CONTROL_SEQUENCE_READY, "CORRID": controls.CONTROL_SEQUENCE_CORRID}
    for name in ("model.onnx", "frontend.npz", "labels.json"):
        assert (tmp_path / "asr_streaming" / "1" / name).samefile(tmp_path / {"model.onnx": "quartznet",
                                                                             "frontend.npz": "feature_extractor",
                                                                             "labels.json": "ctc_decoder"}[name]
                                                                  / "1" / name)


def test_asr_streaming_has_two_instances_unless_told(tmp_path, quartznet_export):
    build(tmp_path / "default", Exports(asr=quartznet_export))
    build(tmp_path / "one", Exports(asr=quartznet_export), RepositorySettings(instances={"asr_streaming": 1}))
    counts = {name: parse(tmp_path / name / "asr_streaming" / "config.pbtxt").instance_group[0].count
              for name in ("default", "one")}
    assert counts == {"default": 2, "one": 1}
    assert parse(tmp_path / "default" / "quartznet" / "config.pbtxt").instance_group[0].count == 1


def test_steps_before_a_sequence_model_in_an_ensemble_have_one_instance():
    from triton_speech.ensembles.spec import SequenceBatching

    audio = Tensor("AUDIO", "FP32", (-1,))
    first = PythonModel("first", (audio,), (audio,), Batching(instance_count=2))
    stream = PythonModel("stream", (audio,), (audio,), Batching(), sequence_batching=SequenceBatching(1000, 4))
    ensemble = Ensemble("e", (audio,), (Tensor("OUT", "FP32", (-1,)),), (
        Step("first", {"AUDIO": "AUDIO"}, {"AUDIO": "a"}), Step("stream", {"AUDIO": "a"}, {"AUDIO": "OUT"})), 16)
    with pytest.raises(ConfigError, match=r"\['first'\] before sequence model stream must have one instance"):
        validate_repository([first.config(), stream.config(), ensemble.config()])


def test_long_windows_fit_within_what_asr_takes(tmp_path, quartznet_export):
    build(tmp_path, Exports(asr=quartznet_export), RepositorySettings(max_audio_seconds=8.0, long_window_seconds=30,
                                                                      long_overlap_seconds=5.0))
    parameters = parse(tmp_path / "asr_long" / "config.pbtxt").parameters
    assert (parameters["window_seconds"].string_value, parameters["overlap_seconds"].string_value) == ("8.0", "4.0")
    with pytest.raises(ConfigError, match="asr_long: max_long_audio_seconds 5 is below asr's max_audio_seconds 8"):
        build(tmp_path, Exports(asr=quartznet_export), RepositorySettings(max_audio_seconds=8.0,
                                                                          max_long_audio_seconds=5.0))


def test_the_build_command_serves_int8_on_cpus_unless_told(monkeypatch, tmp_path):
    """make repository / python -m ensembles: INT8 QuartzNet for the pip target on the CPU, FP32 one flag away; FP32
    on GPUs (the RepositorySettings of code stay FP32 unless given a precision)."""
    from triton_speech.ensembles import builder

    built = []
    monkeypatch.setattr(builder, "build", lambda output, exports, settings: built.append(settings.precision) or [])
    for argv in ([], ["--precision", "fp32"], ["--device", "gpu"], ["--target", "ngc"], ["--precision", "fp16"]):
        assert builder.main(["--output", str(tmp_path), *argv]) == 0
    assert built == ["int8", "fp32", "fp32", "fp32", "fp16"]
    assert RepositorySettings().precision == "fp32"
