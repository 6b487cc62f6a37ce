"""Served models' settings: to config.pbtxt parameters and back, typed; a missing one named."""

import pytest

from triton_speech.runtime.model_settings import (
    AsrLongSettings,
    CTCDecoderSettings,
    FeatureExtractorSettings,
    ModelSettings,
    settings,
)


@settings
class Example(ModelSettings):
    count: int
    seconds: float
    name: str = "x"
    flag: bool = False
    names: tuple[str, ...] = ()


def test_parameters_are_strings_that_come_back_as_the_same_values():
    value = Example(count=3, seconds=0.1 + 0.2, name="model.onnx", flag=True, names=("A", "B"))
    written = value.parameters()
    assert written == {"count": "3", "seconds": "0.30000000000000004", "name": "model.onnx", "flag": "1",
                       "names": "A,B"}
    assert Example.from_parameters(written) == value  # floats exactly (repr), tuples, booleans


def test_defaults_fill_what_a_config_leaves_out_and_a_required_one_is_named():
    assert Example.from_parameters({"count": "1", "seconds": "2"}) == Example(count=1, seconds=2.0)
    with pytest.raises(KeyError, match="model quartznet: parameter seconds missing from config.pbtxt"):
        Example.from_parameters({"count": "1"}, "quartznet")


def test_settings_that_combine_others_carry_all_their_fields():
    extractor = FeatureExtractorSettings(sample_rate=16000, min_samples=160, max_audio_seconds=60.0,
                                         intra_op_threads=2)
    assert extractor.max_samples == 960_000
    assert set(extractor.parameters()) == {"sample_rate", "min_samples", "max_audio_seconds", "intra_op_threads"}
    decoder = CTCDecoderSettings(max_frames=3001, frame_seconds=0.02)
    assert decoder.decoder_arguments("/models/ctc_decoder/1")["lexicon"] is None  # greedy unless a file is named
    long = AsrLongSettings(sample_rate=16000, min_samples=160, max_long_audio_seconds=3600.0, window_seconds=30.0,
                           overlap_seconds=5.0, windows_in_flight=8, asr_outputs=("TRANSCRIPT", "WORDS"))
    assert AsrLongSettings.from_parameters(long.parameters()).asr_outputs == ("TRANSCRIPT", "WORDS")
